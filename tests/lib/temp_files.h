// tests/lib/temp_files.h: what an atomic write (tensor/AtomicFile.h) may leave behind.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ember_test {

// The files beside `path` named "<name of path>.tmp...": empty after every finished write.
inline std::vector<std::string> temp_leftovers(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::string prefix = p.filename().string() + ".tmp";
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
  return out;
}

}  // namespace ember_test

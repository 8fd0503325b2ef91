// fuzz/FuzzFile.h: the parsers that take only a path read the fuzz input from a file in
// /dev/shm (tmpfs, so no disk I/O), one per process and target, rewritten for each input.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace ember_fuzz {

// The file is removed when the process exits normally.
struct InputFile {
  std::string path;
  ~InputFile() { std::remove(path.c_str()); }
};

inline std::string write_input(const char* target, const uint8_t* data, size_t size) {
  static const InputFile file{[&] {
    const char* dir = std::getenv("EMBER_FUZZ_TMP");
    return std::string(dir ? dir : "/dev/shm") + "/ember-" + target + "-" + std::to_string(getpid());
  }()};
  const std::string& path = file.path;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace ember_fuzz

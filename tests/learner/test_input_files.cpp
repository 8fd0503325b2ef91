// tests/learner/test_input_files.cpp: every reader of a user's file refuses what is not a regular
// file (tensor/InputFile.h) before it reads: a named pipe would block the open forever, a device
// such as /dev/zero would be read forever. A reader that forgets the check hangs here, and the
// test's timeout catches it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ember/datasets/Files.h"
#include "ember/datasets/Idx.h"
#include "ember/datasets/Image.h"
#include "ember/learner/Checkpoint.h"
#include "ember/learner/Sweep.h"
#include "ember/nn/Hierarchy.h"
#include "ember/nn/Pth.h"
#include "ember/nn/Safetensors.h"
#include "ember/nn/Weights.h"
#include "ember/tensor/InputFile.h"

namespace ember {
namespace {

struct Reader {
  const char* name;
  std::function<void(const std::string&)> read;
};

std::vector<Reader> readers() {
  return {
      {"load_safetensors", [](const std::string& p) { nn::load_safetensors(p); }},
      {"load_pth", [](const std::string& p) { nn::load_pth(p); }},
      {"load_weights", [](const std::string& p) { nn::load_weights_file(p); }},
      {"load_cost_matrix", [](const std::string& p) { hier::load_cost_matrix(p, 3); }},
      {"ClassTree::from_file", [](const std::string& p) { hier::ClassTree::from_file(p, {"a", "b"}); }},
      {"load", [](const std::string& p) { learner::load_tensors(p); }},
      {"idx", [](const std::string& p) { read_idx(p); }},
      {"image", [](const std::string& p) { read_image(p); }},
      {"read_file_bytes", [](const std::string& p) { read_file_bytes(p, false, "read_file_bytes"); }},
      {"results table", [](const std::string& p) { learner::ResultsTable t({"id", "loss"}, {"id"}); t.read(p); }},
  };
}

std::string error_of(const Reader& r, const std::string& path) {
  try {
    r.read(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(InputFiles, EveryReaderRefusesANamedPipe) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("ember_fifo_" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(dir);
  const std::string fifo = dir + "/weights.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const Reader& r : readers()) {
    std::string m = error_of(r, fifo);
    EXPECT_NE(m.find(fifo + ": is not a regular file (a named pipe)"), std::string::npos) << r.name << ": " << m;
  }
  std::filesystem::remove_all(dir);
}

TEST(InputFiles, EveryReaderRefusesADevice) {
  for (const Reader& r : readers()) {
    std::string m = error_of(r, "/dev/zero");
    EXPECT_NE(m.find("/dev/zero: is not a regular file (a character device)"), std::string::npos) << r.name << ": "
                                                                                                  << m;
  }
}

TEST(InputFiles, MissingFilesAndFoldersAreNamed) {
  EXPECT_EQ(error_of({"x", [](const std::string& p) { check_input_file(p, "load_pth"); }}, "/nonexistent/w.pth"),
            "load_pth: /nonexistent/w.pth: cannot open (No such file or directory)");
  EXPECT_EQ(error_of({"x", [](const std::string& p) { check_input_file(p, "idx"); }}, "/tmp"),
            "idx: /tmp: is a folder, not a file");
  EXPECT_EQ(error_of({"x", [](const std::string& p) { check_input_file(p, "idx"); }}, ""),
            "idx: the file name is empty");
}

}  // namespace
}  // namespace ember

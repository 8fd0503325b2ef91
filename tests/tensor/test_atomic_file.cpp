// tests/tensor/test_atomic_file.cpp: tensor/AtomicFile.h, the temp-file-and-rename writer every
// Ember file goes through. A reader sees the old file or the whole new one; nothing is left behind.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "lib/temp_files.h"
#include "ember/tensor/AtomicFile.h"
#include "ember/tensor/Error.h"

namespace fs = std::filesystem;
using ember::AtomicFile;

namespace {
struct Dir {
  fs::path path;
  Dir() {
    std::string templ = (fs::temp_directory_path() / "ember-atomic-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~Dir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
}  // namespace

TEST(AtomicFile, CommitReplacesTheOldFileWhole) {
  Dir d;
  std::string p = d / "table.csv";
  ember::write_text_atomic(p, "old\n");
  {
    AtomicFile f(p, "test");
    f.write("new ", 4);
    EXPECT_EQ(slurp(p), "old\n");  // until commit, readers see the old file
    EXPECT_TRUE(fs::exists(f.tmp_path()));
    f.write("table\n", 6);
    f.commit();
  }
  EXPECT_EQ(slurp(p), "new table\n");
  EXPECT_TRUE(ember_test::temp_leftovers(p).empty());
}

TEST(AtomicFile, AnErrorBeforeCommitKeepsTheOldFileAndLeavesNoTempFile) {
  Dir d;
  std::string p = d / "ck.safetensors";
  ember::write_text_atomic(p, "previous checkpoint");
  try {
    AtomicFile f(p, "test");
    f.write("half of a new one", 17);
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(slurp(p), "previous checkpoint");
  EXPECT_TRUE(ember_test::temp_leftovers(p).empty());
}

TEST(AtomicFile, ErrorsNameWhatAndTheFile) {
  Dir d;
  std::string p = d / "no/such/folder/out.png";
  try {
    ember::write_text_atomic(p, "x", "write_png");
    FAIL() << "expected an error";
  } catch (const ember::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("write_png: "), std::string::npos) << m;
    EXPECT_NE(m.find(p), std::string::npos) << m;
    EXPECT_NE(m.find("No such file or directory"), std::string::npos) << m;
  }
  // Renaming onto a folder fails after the data was written: the temp file goes away.
  std::string folder = d / "taken";
  fs::create_directory(folder);
  fs::create_directory(folder + "/inside");
  EXPECT_THROW(ember::write_text_atomic(folder, "data", "test"), ember::Error);
  EXPECT_TRUE(ember_test::temp_leftovers(folder).empty());
}

TEST(AtomicFile, WritesFromDifferentObjectsUseDifferentTempFiles) {
  Dir d;
  std::string p = d / "f";
  AtomicFile a(p, "test"), b(p, "test");
  EXPECT_NE(a.tmp_path(), b.tmp_path());
  a.write("a", 1);
  b.write("b", 1);
  a.commit();
  b.commit();
  EXPECT_EQ(slurp(p), "b");
}

// A write killed by SIGKILL leaves its temporary file; the next write of the path removes it
// when its process is gone, and leaves a live process's alone.
TEST(AtomicFile, TheNextWriteSweepsTempFilesOfDeadProcesses) {
  Dir d;
  std::string p = d / "ckpt.safetensors";
  // This machine's naming, from a temp file of our own: "<path>.tmp-<host>-<pid>-<n>".
  std::string own;
  {
    AtomicFile probe(p, "test");
    own = probe.tmp_path();
  }
  const std::string pid = std::to_string(::getpid());
  const size_t at = own.rfind("-" + pid + "-");
  ASSERT_NE(at, std::string::npos) << own;
  const std::string prefix = own.substr(0, at + 1);  // "<path>.tmp-<host>-"
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);  // reaped: its pid names no process now
  const std::string dead = prefix + std::to_string(child) + "-0", live = prefix + pid + "-999",
                    other_host = p + ".tmp-elsewhere-" + std::to_string(child) + "-0";
  for (const std::string& f : {dead, live, other_host}) std::ofstream(f) << "partial";
  ember::write_file_atomic(p, "new", 3, "test");
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other_host));
  EXPECT_EQ(slurp(p), "new");
}

// tensor/AtomicFile.h: writing a file so that a reader (or a crash) sees the old file or the whole
// new one, never half of it. Every file Ember writes goes through here: checkpoints and weights,
// the decode cache, result tables, plots, downloaded data.
//
//   AtomicFile f(path, "save_safetensors");   // opens "<path>.tmp-<host>-<pid>-<n>" beside path
//   f.write(header.data(), header.size());     // any number of writes
//   f.commit();                                 // close, check, rename over path
//   // leaving scope without commit() (an exception) removes the temporary file
//
//   write_file_atomic(path, bytes, n, "write_png");     // the same in one call
//   write_text_atomic(path, csv_text, "results.csv");
//
// Errors name `what`, the file, and the system's reason ("disk full", "permission denied").
// A process killed mid-write (SIGKILL) leaves its temporary file; the next AtomicFile of the same
// path on the same machine removes the temporary files of processes that are gone.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace ember {

class AtomicFile {
 public:
  // Opens the temporary sibling of `path` for writing ("wb"). `open = false` only reserves its
  // name, for writers with their own file API (gzip): they write tmp_path() and then commit().
  AtomicFile(std::string path, std::string what, bool open = true);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  // Closes the temporary file, checks every write reached the disk, renames it over path().
  void commit();

  const std::string& path() const { return path_; }
  const std::string& tmp_path() const { return tmp_; }

 private:
  [[noreturn]] void fail(const std::string& why);
  std::string path_, tmp_, what_;
  std::FILE* file_ = nullptr;
  bool done_ = false;
};

void write_file_atomic(const std::string& path, const void* data, size_t n, const char* what = "write_file");
inline void write_text_atomic(const std::string& path, const std::string& text, const char* what = "write_file") {
  write_file_atomic(path, text.data(), text.size(), what);
}

}  // namespace ember

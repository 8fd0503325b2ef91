// tensor/AtomicFile.cpp: see AtomicFile.h.
#include "ember/tensor/AtomicFile.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "ember/tensor/Error.h"

namespace ember {

namespace {
// "<path>.tmp-<pid>-<counter>": unique per process and call, in the target's folder so that
// rename() stays on one file system.
std::string temp_sibling(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return detail::concat(path, ".tmp-", static_cast<long>(::getpid()), "-", counter++);
}
}  // namespace

AtomicFile::AtomicFile(std::string path, std::string what, bool open)
    : path_(std::move(path)), tmp_(temp_sibling(path_)), what_(std::move(what)) {
  if (!open) return;
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) EMBER_FAIL(what_, ": ", path_, ": cannot create ", tmp_, " (", std::strerror(errno), ")");
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!done_) std::remove(tmp_.c_str());
}

void AtomicFile::fail(const std::string& why) {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  std::remove(tmp_.c_str());
  done_ = true;
  EMBER_FAIL(what_, ": ", path_, ": ", why);
}

void AtomicFile::write(const void* data, size_t n) {
  EMBER_CHECK(file_ != nullptr && !done_, what_, ": ", path_, ": write after commit");
  if (n != 0 && std::fwrite(data, 1, n, file_) != n) fail(detail::concat("write failed (", std::strerror(errno), ")"));
}

void AtomicFile::commit() {
  EMBER_CHECK(!done_, what_, ": ", path_, ": committed twice");
  if (file_) {
    bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!closed) fail(detail::concat("write failed (", std::strerror(errno), "; disk full?)"));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail(detail::concat("cannot rename the temporary file into place (", std::strerror(errno), ")"));
  done_ = true;
}

void write_file_atomic(const std::string& path, const void* data, size_t n, const char* what) {
  AtomicFile f(path, what);
  f.write(data, n);
  f.commit();
}

}  // namespace ember

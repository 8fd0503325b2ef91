// tensor/AtomicFile.cpp: see AtomicFile.h.
#include "ember/tensor/AtomicFile.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "ember/tensor/Error.h"

namespace ember {

namespace {
std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "host";
  return buf;
}

// "<path>.tmp-<host>-": the prefix of every temporary file of `path` written on this machine.
std::string temp_prefix(const std::string& path) {
  static const std::string host = host_name();
  return path + ".tmp-" + host + "-";
}

// "<path>.tmp-<host>-<pid>-<counter>": unique per machine, process and call, in the target's folder
// so that rename() stays on one file system.
std::string temp_sibling(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return detail::concat(temp_prefix(path), static_cast<long>(::getpid()), "-", counter++);
}

// Removes the temporary files of `path` left by processes of this machine that are gone (killed
// mid-write: SIGKILL runs no destructor). Another machine's files, and a live process's, stay.
void sweep_stale_temps(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = fs::path(temp_prefix(path)).filename().string();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    char* rest = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &rest, 10);
    if (pid <= 0 || rest == nullptr || *rest != '-') continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    fs::remove(it->path(), ec);
  }
}
}  // namespace

AtomicFile::AtomicFile(std::string path, std::string what, bool open)
    : path_(std::move(path)), tmp_(temp_sibling(path_)), what_(std::move(what)) {
  sweep_stale_temps(path_);
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

// datasets/Files.cpp: gzip-aware reading (zlib), atomic writes, temp folders, subprocesses.
#include "ember/datasets/Files.h"

#include <zlib.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <filesystem>

#include "ember/tensor/Error.h"
#include "ember/tensor/InputFile.h"

namespace fs = std::filesystem;

namespace ember {

namespace {
std::string errno_text() { return std::strerror(errno); }

}  // namespace

// ---------------------------------------------------------------------------
// ByteReader
struct ByteReader::Impl {
  std::string path;
  std::string what;
  FILE* file = nullptr;
  gzFile gz = nullptr;
  uint64_t disk_size = 0;
};

bool is_gzip_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;  // a FIFO would block the open; the reader says why
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char m[2] = {0, 0};
  size_t got = std::fread(m, 1, 2, f);
  std::fclose(f);
  return got == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

ByteReader::ByteReader(const std::string& path, const char* what) : impl_(new Impl) {
  impl_->path = path;
  impl_->what = what;
  check_input_file(path, what);
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) EMBER_FAIL(what, ": ", path, ": cannot open (", errno_text(), ")");
  unsigned char m[2] = {0, 0};
  size_t got = std::fread(m, 1, 2, f);
  std::fseek(f, 0, SEEK_END);
  long size = std::ftell(f);
  impl_->disk_size = size > 0 ? static_cast<uint64_t>(size) : 0;
  std::rewind(f);
  if (got == 2 && m[0] == 0x1f && m[1] == 0x8b) {
    std::fclose(f);
    impl_->gz = gzopen(path.c_str(), "rb");
    if (!impl_->gz) EMBER_FAIL(what, ": ", path, ": cannot open gzip file (", errno_text(), ")");
    gzbuffer(impl_->gz, 1 << 17);
  } else {
    impl_->file = f;
  }
}

ByteReader::~ByteReader() {
  if (impl_->file) std::fclose(impl_->file);
  if (impl_->gz) gzclose(impl_->gz);
}

bool ByteReader::gzip() const { return impl_->gz != nullptr; }
uint64_t ByteReader::file_size() const { return impl_->disk_size; }
const std::string& ByteReader::path() const { return impl_->path; }

size_t ByteReader::read(void* dst, size_t n) {
  auto* out = static_cast<unsigned char*>(dst);
  size_t total = 0;
  if (impl_->file) {
    total = std::fread(out, 1, n, impl_->file);
    if (total < n && std::ferror(impl_->file))
      EMBER_FAIL(impl_->what, ": ", impl_->path, ": read error (", errno_text(), ")");
    return total;
  }
  while (total < n) {
    // gzread takes an unsigned count and returns an int: read in chunks below 1 GiB.
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - total, size_t(1) << 30));
    int got = gzread(impl_->gz, out + total, chunk);
    int err = Z_OK;
    const char* msg = gzerror(impl_->gz, &err);
    if (got < 0 || (err != Z_OK && err != Z_BUF_ERROR))
      EMBER_FAIL(impl_->what, ": ", impl_->path, ": corrupt gzip data (zlib: ", msg, ") after ",
                 total, " decompressed bytes");
    total += static_cast<size_t>(got);
    if (err == Z_BUF_ERROR)
      EMBER_FAIL(impl_->what, ": ", impl_->path, ": truncated gzip data (zlib: ", msg,
                 ") after ", total, " decompressed bytes; the .gz file is cut short (",
                 impl_->disk_size, " bytes on disk), download it again");
    if (static_cast<unsigned>(got) < chunk) break;  // end of data
  }
  return total;
}

std::vector<uint8_t> read_file_bytes(const std::string& path, bool gunzip, const char* what) {
  std::vector<uint8_t> bytes;
  if (!gunzip) {
    check_input_file(path, what);
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) EMBER_FAIL(what, ": ", path, ": cannot open (", errno_text(), ")");
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + got);
    bool bad = std::ferror(f);
    std::fclose(f);
    if (bad) EMBER_FAIL(what, ": ", path, ": read error");
    return bytes;
  }
  ByteReader r(path, what);
  bytes.resize(r.gzip() ? r.file_size() * 4 + 1024 : r.file_size() + 1);
  size_t used = 0;
  for (;;) {
    size_t got = r.read(bytes.data() + used, bytes.size() - used);
    used += got;
    if (used < bytes.size()) break;
    bytes.resize(bytes.size() * 2);
  }
  bytes.resize(used);
  return bytes;
}

// ---------------------------------------------------------------------------
// Atomic writes
void write_gzip_file_atomic(const std::string& path, const void* data, size_t n, const char* what) {
  AtomicFile out(path, what, /*open=*/false);
  gzFile gz = gzopen(out.tmp_path().c_str(), "wb9");
  if (!gz) EMBER_FAIL(what, ": ", path, ": cannot create (", errno_text(), ")");
  const auto* p = static_cast<const unsigned char*>(data);
  bool ok = true;
  for (size_t done = 0; done < n && ok;) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, size_t(1) << 30));
    ok = gzwrite(gz, p + done, chunk) == static_cast<int>(chunk);
    done += chunk;
  }
  ok = (gzclose(gz) == Z_OK) && ok;
  EMBER_CHECK(ok, what, ": ", path, ": gzip write failed");  // ~AtomicFile removes the temporary file
  out.commit();
}

// ---------------------------------------------------------------------------
// TempDir
TempDir::TempDir(const std::string& prefix, const std::string& parent) {
  std::error_code ec;
  fs::path base = parent.empty() ? fs::temp_directory_path(ec) : fs::path(parent);
  if (base.empty()) base = "/tmp";
  std::string templ = (base / (prefix + "XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) EMBER_FAIL("TempDir: cannot create ", templ, " (", errno_text(), ")");
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);  // best effort: a destructor must not throw
}

// ---------------------------------------------------------------------------
// Subprocesses
std::string shell_quote(const std::string& text) {
  std::string q = "'";
  for (char c : text) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  std::string full = "( " + cmd + " ) 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) {
    r.output = "popen failed: " + errno_text();
    return r;
  }
  char buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) {
    r.output.append(buf, got);
    if (r.output.size() > 16000) r.output.erase(0, r.output.size() - 4000);
  }
  int status = ::pclose(p);
  if (r.output.size() > 4000) r.output.erase(0, r.output.size() - 4000);
  if (status == -1) r.exit_code = -1;
  else if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  return r;
}

bool have_program(const std::string& name) {
  return run_command("command -v " + shell_quote(name) + " >/dev/null").ok();
}

std::string md5_file(const std::string& path) {
  check_input_file(path, "md5");
  CommandResult r = run_command("md5sum -b " + shell_quote(path));
  EMBER_CHECK(r.ok() && r.output.size() >= 32, "md5: ", path, ": md5sum failed (exit ", r.exit_code,
              "): ", r.output);
  std::string hex = r.output.substr(0, 32);
  for (char c : hex)
    EMBER_CHECK(std::isxdigit(static_cast<unsigned char>(c)), "md5: ", path,
                ": unexpected md5sum output: ", r.output);
  return hex;
}

}  // namespace ember

// learner/Cli.cpp: threads, output folder and command-line numbers (learner/Cli.h).
#include "ember/learner/Cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cmath>
#include <cstdint>
#include <sstream>

#include "ember/tensor/Error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember {
namespace learner {

void set_threads(int threads) {
#ifdef _OPENMP
  if (threads > 0) omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

void ensure_dir(const std::string& dir, const std::string& flag) {
  errno = 0;
  const bool made = ::mkdir(dir.c_str(), 0755) == 0;
  const int mkdir_errno = made ? 0 : errno;
  struct stat st {};
  EMBER_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), flag, " ", dir, " is not a folder",
              mkdir_errno && mkdir_errno != EEXIST ? " and cannot be created (" : "",
              mkdir_errno && mkdir_errno != EEXIST ? std::strerror(mkdir_errno) : "",
              mkdir_errno && mkdir_errno != EEXIST ? ")" : "");
  EMBER_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, flag, " ", dir, " is not writable (", std::strerror(errno),
              ")");
}

void check_writable_file(const std::string& path, const std::string& flag) {
  EMBER_CHECK(!path.empty(), flag, ": no file name given");
  struct stat st {};
  EMBER_CHECK(::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode), flag, " ", path,
              " is a folder, not a file name");
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  EMBER_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), flag, " ", path, ": its folder ", dir,
              " does not exist");
  EMBER_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, flag, " ", path, ": its folder ", dir, " is not writable (",
              std::strerror(errno), ")");
}

std::vector<int> parse_int_list(const std::string& flag, const std::string& text, int lo, int hi) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    long v = 0;
    EMBER_CHECK(parse_number(item, v), flag, ": '", item, "' in '", text, "' is not an integer");
    EMBER_CHECK(v >= lo && v <= hi, flag, ": ", v, " is outside [", lo, ", ", hi, "]");
    out.push_back(static_cast<int>(v));
  }
  EMBER_CHECK(text.empty() || text.back() != ',', flag, ": '", text, "' ends with a comma");
  EMBER_CHECK(!out.empty(), flag, ": no values in '", text, "'");
  return out;
}

std::vector<double> parse_grid(const std::string& text, const std::string& flag, double lo, double hi) {
  std::vector<double> out;
  auto number = [&](const std::string& s) {
    double v = 0;
    EMBER_CHECK(parse_number(s, v), flag, ": '", s, "' in '", text, "' is not a number");
    return v;
  };
  if (text.find(':') != std::string::npos) {
    std::vector<std::string> parts;
    std::stringstream ss(text);
    for (std::string part; std::getline(ss, part, ':');) parts.push_back(part);
    EMBER_CHECK(parts.size() == 3 && text.back() != ':', flag, ": '", text,
                "' must be start:stop:step (three numbers), e.g. 0:1:0.05");
    const double start = number(parts[0]), stop = number(parts[1]), step = number(parts[2]);
    EMBER_CHECK(step > 0 && stop >= start, flag, ": '", text,
                "' must be start:stop:step with step > 0 and stop >= start");
    const int64_t n = static_cast<int64_t>(std::floor((stop - start) / step + 1e-9));
    EMBER_CHECK(n < 100000, flag, ": '", text, "' gives too many values");
    for (int64_t i = 0; i <= n; ++i)
      out.push_back(std::round((start + static_cast<double>(i) * step) * 1e9) / 1e9);
  } else {
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(number(item));
    EMBER_CHECK(text.empty() || text.back() != ',', flag, ": '", text, "' ends with a comma");
  }
  EMBER_CHECK(!out.empty(), flag, ": no values in '", text, "'");
  for (double w : out) EMBER_CHECK(w >= lo && w <= hi, flag, ": ", w, " is outside [", lo, ", ", hi, "]");
  return out;
}

}  // namespace learner
}  // namespace ember

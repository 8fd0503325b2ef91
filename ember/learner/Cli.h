// learner/Cli.h: small helpers that every training program needs and that have nothing to do with
// its experiment: the number of CPU threads, the output folder, and numbers, integer lists and
// value grids read from command-line text. No command-line parser is involved: the program passes
// the flag's name, which the error messages quote.
//
//   set_threads(threads);                                   // --threads (0: OpenMP's default)
//   ensure_dir(out);                                        // --out, created when missing
//   check_writable_file(csv, "--csv");                      // before training, not after
//   std::vector<int> ks = parse_int_list("--few-shot", "1,5,10", 1, 100000);
//   std::vector<double> ws = parse_grid("0:1:0.25");        // {0, 0.25, 0.5, 0.75, 1}
#pragma once

#include <cmath>
#include <exception>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace ember {
namespace learner {

// `threads` OpenMP threads; 0 keeps OpenMP's default (a no-op without OpenMP).
void set_threads(int threads);

// Creates the folder `dir` when missing; throws an error naming `flag` and `dir` when it is not a
// folder afterwards or cannot be written to (checked before any work, not when the results come).
void ensure_dir(const std::string& dir, const std::string& flag = "--out");

// Checks, before any work, that a file can be written at `path`: its folder exists and is writable,
// and `path` is not a folder. Throws an error naming `flag` and `path`.
void check_writable_file(const std::string& path, const std::string& flag);

// Reads all of `s` into `v` (an integer: std::stoll, a floating-point number: std::stod); false
// when `s` is empty, no number, has more after the number ("5x"), is an integer that does not fit
// T, or is a floating-point "nan" or "inf".
template <typename T>
bool parse_number(const std::string& s, T& v) {
  size_t used = 0;
  try {
    if constexpr (std::is_integral_v<T>) {
      const long long x = std::stoll(s, &used);
      if (x < static_cast<long long>(std::numeric_limits<T>::min()) ||
          x > static_cast<long long>(std::numeric_limits<T>::max()))
        return false;
      v = static_cast<T>(x);
    } else {
      const double x = std::stod(s, &used);
      if (!std::isfinite(x)) return false;
      v = static_cast<T>(x);
    }
  } catch (const std::exception&) {
    return false;
  }
  return !s.empty() && used == s.size();
}

// "1,5,10" -> {1, 5, 10}; every value in [lo, hi]. Errors name the flag and the bad item.
std::vector<int> parse_int_list(const std::string& flag, const std::string& text, int lo, int hi);

// "0:1:0.05" (start:stop:step, stop included, each value rounded to 9 decimals) or "0,0.5,1";
// every value in [lo, hi]. Errors name the flag and the bad item.
std::vector<double> parse_grid(const std::string& text, const std::string& flag = "--w", double lo = 0,
                               double hi = 1);

}  // namespace learner
}  // namespace ember

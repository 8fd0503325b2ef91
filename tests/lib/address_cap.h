// tests/lib/address_cap.h: run a check in a child process whose address space is capped, as
// `ulimit -v` does (setrlimit RLIMIT_AS), to show a parser refuses a hostile header before any
// large allocation: with the cap, a big allocation would end in std::bad_alloc, not ember::Error.
//
//   EXPECT_REFUSED_UNDER_CAP(512, [&] { read_idx(path); }, "over the limit");
//
// The cap is the child's address space at the start plus `extra_mb`, so what the process already
// maps (thread stacks, BLAS buffers) does not count. Skipped under ASan, whose shadow memory
// needs terabytes of address space.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <new>
#include <string>

#include "ember/tensor/Error.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMBER_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBER_TEST_ASAN 1
#endif
#endif

namespace ember_test {

inline bool asan_build() {
#ifdef EMBER_TEST_ASAN
  return true;
#else
  return false;
#endif
}

// Child exit codes: 0 refused with an ember::Error naming `expect`; 1 refused without it;
// 2 std::bad_alloc (it tried a large allocation); 3 another exception; 4 accepted the file.
inline int run_capped(size_t extra_mb, const std::function<void()>& f, const std::string& expect) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    size_t vm_kb = 0;
    std::ifstream st("/proc/self/status");
    for (std::string line; std::getline(st, line);)
      if (line.rfind("VmSize:", 0) == 0) vm_kb = std::stoull(line.substr(7));
    rlimit r{};
    r.rlim_cur = r.rlim_max = (vm_kb << 10) + (extra_mb << 20);
    if (setrlimit(RLIMIT_AS, &r) != 0) _exit(5);
    int code = 4;
    try {
      f();
    } catch (const ember::Error& e) {
      std::fprintf(stderr, "refused: %s\n", e.what());
      code = std::string(e.what()).find(expect) != std::string::npos ? 0 : 1;
    } catch (const std::bad_alloc&) {
      code = 2;
    } catch (...) {
      code = 3;
    }
    std::fflush(nullptr);
    _exit(code);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace ember_test

#define EXPECT_REFUSED_UNDER_CAP(extra_mb, f, expect)                                                 \
  do {                                                                                              \
    int _rc = ember_test::run_capped(extra_mb, f, expect);                                          \
    EXPECT_EQ(_rc, 0) << "0 = refused with an ember::Error naming '" << (expect)                    \
                      << "'; 1 = error without it; 2 = std::bad_alloc (a large allocation); "       \
                      << "3 = other exception; 4 = accepted; >128 = killed by a signal";            \
  } while (0)

// tests/cudasim/Sim.cpp: runs a kernel launch on the CPU, thread by thread.
//
// A launch runs its blocks one after another on the host thread that launched it (one launch
// at a time in the process). A block's threads are fibers: each has its own stack and runs
// the kernel until it stops at a barrier or returns. When all have stopped, the scheduler
// looks at where they wait:
//   - a warp collective (shuffle, ballot, __syncwarp) whose mask's lanes are all there is
//     released: each lane gets its result and becomes runnable again;
//   - else, when every thread of the block waits at the same __syncthreads, it is released;
//   - else it is a fault a GPU would punish with a hang or garbage: a barrier that some
//     threads never reach (they returned, or wait at another barrier), a collective whose
//     mask names lanes that are not there. The launch stops, the fault is recorded
//     (cudasim::last_fault, stderr) and the next cudaGetLastError returns
//     cudaErrorLaunchFailure, whose message carries the description.
// Between barriers the threads run in the order set by EMBER_SIM_ORDER (or set_order):
// forward (0, 1, 2, ...), reverse, or a seeded shuffle; blocks follow the same order. A
// kernel that lacks a barrier reads another thread's data before it is written in one of
// the orders, so running the tests in two orders finds it.
//
// Fibers switch with a few lines of x86-64 assembly (callee-saved registers and the stack
// pointer) instead of swapcontext, which makes two system calls per switch: a round trip
// (there and back) measured 700 ns with swapcontext and 40 ns with this, and a launch of 2^20
// threads makes 2^20 round trips.
// AddressSanitizer is told about every switch (__sanitizer_start/finish_switch_fiber).
#include <sys/mman.h>

#include <algorithm>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "SimInternal.h"
#include "cudasim.h"

#if defined(__SANITIZE_ADDRESS__)
#define CUDASIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDASIM_ASAN 1
#endif
#endif
#ifdef CUDASIM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#error "the CUDA simulator's fiber switch is written for x86-64"
#endif

// switch_stack(&save, to): pushes the callee-saved registers, the SSE and x87 control words,
// stores the stack pointer in *save, loads `to` and pops the same set from there.
extern "C" void cudasim_switch_stack(void** save, void* to);
asm(R"(
  .text
  .globl cudasim_switch_stack
  .hidden cudasim_switch_stack
  .type cudasim_switch_stack, @function
cudasim_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cudasim_switch_stack, .-cudasim_switch_stack
)");

namespace cudasim {
namespace detail {

thread_local Builtins* current = nullptr;

namespace {

// ---------------------------------------------------------------------------
// Settings
struct Settings {
  Order order = Order::Forward;
  uint64_t seed = 0;
  Settings() {
    const char* e = std::getenv("EMBER_SIM_ORDER");
    if (!e || !*e) return;
    const std::string s = e;
    if (s == "forward") order = Order::Forward;
    else if (s == "reverse") order = Order::Reverse;
    else if (s == "warps") order = Order::Warps;
    else if (s.rfind("shuffle", 0) == 0) {
      order = Order::Shuffle;
      if (s.size() > 8 && s[7] == ':') seed = std::strtoull(s.c_str() + 8, nullptr, 10);
    } else {
      std::fprintf(stderr, "cudasim: EMBER_SIM_ORDER=%s is not forward, reverse, warps or shuffle[:seed]\n", e);
      std::exit(2);
    }
  }
};
Settings& settings() {
  static Settings s;
  return s;
}

std::mutex& launch_mutex() {
  static std::mutex mu;
  return mu;
}
std::mutex& fault_mutex() {
  static std::mutex mu;
  return mu;
}
std::string& fault_text() {
  static std::string s;
  return s;
}
uint64_t g_launches = 0;

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The order in which n items are visited; `salt` varies a shuffle per launch and block.
void visit_order(std::vector<uint32_t>& v, size_t n, uint64_t salt) {
  v.resize(n);
  std::iota(v.begin(), v.end(), 0u);
  const Settings& s = settings();
  if (s.order == Order::Reverse) std::reverse(v.begin(), v.end());
  if (s.order == Order::Shuffle) {
    uint64_t r = splitmix(s.seed ^ splitmix(salt));
    for (size_t i = n; i > 1; --i) {
      r = splitmix(r);
      std::swap(v[i - 1], v[r % i]);
    }
  }
}

// ---------------------------------------------------------------------------
// Fibers
#ifdef CUDASIM_ASAN
constexpr size_t kStackBytes = size_t{512} << 10;  // ASan's redzones make frames larger
#else
constexpr size_t kStackBytes = size_t{128} << 10;
#endif
constexpr size_t kGuardBytes = 4096;  // PROT_NONE below each stack: an overflow faults

struct Fiber {
  char* base = nullptr;  // the mapping: guard page, then the stack
  void* sp = nullptr;
  void* fake_stack = nullptr;  // ASan's bookkeeping while switched out
};

enum class State { Runnable, AtBlockBarrier, AtWarpCollective, Done };

struct Thread {
  Builtins b;
  State state = State::Runnable;
  const char* file = "";
  int line = 0;
  Collective kind = Collective::SyncWarp;
  unsigned mask = 0;
  uint64_t bits = 0, result = 0;
  int arg = 0, width = 32;
  std::string error;  // an exception that escaped the kernel
};

// One scheduler per host thread that launches (launches are serialised, but any thread may).
struct Scheduler {
  std::vector<std::unique_ptr<Fiber>> fibers;  // stable addresses: a suspended fiber refers to its own
  std::vector<Thread> threads;
  std::vector<uint32_t> order;
  void* sp = nullptr;  // the scheduler's own stack while a fiber runs
  const void* stack_bottom = nullptr;
  size_t stack_size = 0;
  Thread* running = nullptr;
  Fiber* running_fiber = nullptr;
  void (*body)(void*) = nullptr;
  void* ctx = nullptr;
};
thread_local Scheduler* g_sched = nullptr;

// The scheduler of this host thread; its fiber stacks go when the thread ends.
Scheduler& scheduler() {
  thread_local struct Owner {
    Scheduler s;
    ~Owner() {
      for (auto& f : s.fibers)
        if (f->base) munmap(f->base, kGuardBytes + kStackBytes);
      g_sched = nullptr;
    }
  } owner;
  g_sched = &owner.s;
  return owner.s;
}

[[noreturn]] void fiber_main();

// A fresh stack whose first switch "returns" into fiber_main.
void reset_fiber(Fiber& f) {
  if (!f.base) {
    void* m = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) {
      std::fprintf(stderr, "cudasim: cannot map a %zu KiB fiber stack\n", kStackBytes >> 10);
      std::abort();
    }
    f.base = static_cast<char*>(m);
    mprotect(f.base, kGuardBytes, PROT_NONE);
  }
#ifdef CUDASIM_ASAN
  // A fiber abandoned by a fault leaves its frames' redzones poisoned.
  ASAN_UNPOISON_MEMORY_REGION(f.base + kGuardBytes, kStackBytes);
#endif
  // From the top: a 16-byte-aligned return slot (fiber_main's entry, as if called), the six
  // callee-saved registers, then MXCSR and the x87 control word; see cudasim_switch_stack.
  char* top = f.base + kGuardBytes + kStackBytes;
  auto* slot = reinterpret_cast<uint64_t*>(top - 16);
  slot[0] = reinterpret_cast<uint64_t>(&fiber_main);
  slot[1] = 0;
  uint64_t* regs = slot - 6;
  for (int i = 0; i < 6; ++i) regs[i] = 0;
  auto* ctl = reinterpret_cast<uint32_t*>(regs - 1);
  ctl[0] = 0x1F80;  // MXCSR: round to nearest, all exceptions masked
  ctl[1] = 0x037F;  // x87 control word, the same
  f.sp = ctl;
  f.fake_stack = nullptr;
}

// Scheduler -> fiber f, until it switches back.
void resume(Scheduler& s, Fiber& f) {
#ifdef CUDASIM_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.base + kGuardBytes, kStackBytes);
#endif
  cudasim_switch_stack(&s.sp, f.sp);
#ifdef CUDASIM_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

// Running fiber -> scheduler; returns when the scheduler resumes this fiber.
void yield_to_scheduler() {
  Scheduler& s = *g_sched;
  Fiber& f = *s.running_fiber;
#ifdef CUDASIM_ASAN
  __sanitizer_start_switch_fiber(&f.fake_stack, s.stack_bottom, s.stack_size);
#endif
  cudasim_switch_stack(&f.sp, s.sp);
#ifdef CUDASIM_ASAN
  __sanitizer_finish_switch_fiber(f.fake_stack, &s.stack_bottom, &s.stack_size);
#endif
}

// Every fiber runs this forever: one simulated thread's kernel call per turn.
void fiber_main() {
  Scheduler& s = *g_sched;
#ifdef CUDASIM_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &s.stack_bottom, &s.stack_size);
#endif
  for (;;) {
    Thread& t = *s.running;
    try {
      s.body(s.ctx);
    } catch (const std::exception& e) {
      t.error = e.what();
    } catch (...) {
      t.error = "an exception that is not a std::exception";
    }
    t.state = State::Done;
    yield_to_scheduler();
  }
}

// ---------------------------------------------------------------------------
// Faults
std::string dims(const uint3& v) {
  return "(" + std::to_string(v.x) + ", " + std::to_string(v.y) + ", " + std::to_string(v.z) + ")";
}
std::string site(const Thread& t) { return std::string(t.file) + ":" + std::to_string(t.line); }

// "0-31, 64, 70-71" for sorted thread indices (the first 8 runs, then how many more).
std::string ranges(const std::vector<uint32_t>& ids) {
  std::string out;
  int runs = 0;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (++runs > 8) {
      out += " and " + std::to_string(ids.size() - i) + " more";
      break;
    }
    if (!out.empty()) out += ", ";
    out += std::to_string(ids[i]);
    if (j > i) out += "-" + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

const char* collective_name(Collective k) {
  switch (k) {
    case Collective::Shfl: return "__shfl_sync";
    case Collective::ShflUp: return "__shfl_up_sync";
    case Collective::ShflDown: return "__shfl_down_sync";
    case Collective::ShflXor: return "__shfl_xor_sync";
    case Collective::Ballot: return "__ballot_sync";
    case Collective::Any: return "__any_sync";
    case Collective::All: return "__all_sync";
    case Collective::SyncWarp: return "__syncwarp";
  }
  return "?";
}

// Where every thread of the block is: "threads 0-31 at __syncthreads (file:line); 32-63 returned".
std::string whereabouts(const Scheduler& s) {
  std::vector<std::pair<std::string, std::vector<uint32_t>>> groups;
  for (uint32_t i = 0; i < s.threads.size(); ++i) {
    const Thread& t = s.threads[i];
    std::string where;
    switch (t.state) {
      case State::Done: where = "returned"; break;
      case State::Runnable: where = "runnable"; break;
      case State::AtBlockBarrier: where = "wait at __syncthreads (" + site(t) + ")"; break;
      case State::AtWarpCollective: where = std::string("wait at ") + collective_name(t.kind) + " (" + site(t) + ")"; break;
    }
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == where; });
    if (it == groups.end()) groups.push_back({where, {i}});
    else it->second.push_back(i);
  }
  std::string out;
  for (const auto& g : groups) out += "; threads " + ranges(g.second) + " " + g.first;
  return out;
}

// ---------------------------------------------------------------------------
// Releasing barriers

// Releases every warp collective whose lanes are all there; returns how many it released,
// or sets `fault` for one that never can be.
int release_warps(Scheduler& s, std::string& fault, uint32_t lo, uint32_t hi) {
  const uint32_t n = static_cast<uint32_t>(s.threads.size());
  int released = 0;
  for (uint32_t w0 = lo; w0 < hi; w0 += 32) {
    const uint32_t lanes = std::min<uint32_t>(32, n - w0);
    for (uint32_t l = 0; l < lanes; ++l) {
      Thread& t = s.threads[w0 + l];
      if (t.state != State::AtWarpCollective) continue;
      // The group: lanes at the same call with the same mask.
      if (!(t.mask >> l & 1u)) {
        fault = std::string(collective_name(t.kind)) + " at " + site(t) + ": lane " + std::to_string(l) +
                " calls it with a mask that leaves itself out";
        return -1;
      }
      if (t.kind != Collective::SyncWarp && t.kind != Collective::Ballot && t.kind != Collective::Any &&
          t.kind != Collective::All && (t.width <= 0 || t.width > 32 || (t.width & (t.width - 1)) != 0)) {
        fault = std::string(collective_name(t.kind)) + " at " + site(t) + ": width " + std::to_string(t.width) +
                " is not a power of 2 up to 32";
        return -1;
      }
      bool complete = true;
      for (uint32_t m = 0; m < 32; ++m) {
        if (!(t.mask >> m & 1u)) continue;
        if (m >= lanes) {  // a lane of a partial warp that does not exist
          complete = false;
          continue;
        }
        // The same call site and mask; __syncwarp pairs by mask alone (sm_70 and later allow
        // different __syncwarp calls to meet).
        const Thread& u = s.threads[w0 + m];
        const bool same_call = t.kind == Collective::SyncWarp
                                   ? u.kind == Collective::SyncWarp
                                   : u.file == t.file && u.line == t.line;
        const bool here = u.state == State::AtWarpCollective && same_call && u.mask == t.mask;
        if (!here) complete = false;
      }
      if (!complete) continue;  // another group may still release and let them come
      // Results, computed from the values as they were before any lane moves on.
      std::vector<uint64_t> result(32, 0);
      uint64_t votes = 0;
      for (uint32_t m = 0; m < 32; ++m)
        if (t.mask >> m & 1u && s.threads[w0 + m].bits) votes |= uint64_t{1} << m;
      for (uint32_t m = 0; m < 32; ++m) {
        if (!(t.mask >> m & 1u)) continue;
        const Thread& u = s.threads[w0 + m];
        // The hardware reads the low 5 bits of a lane or offset. A lane that would read past its
        // width-group gets its own value; xor may read earlier groups (CUDA's definitions).
        const int width = u.width, self = static_cast<int>(m), arg = u.arg & 31;
        const int seg = self & ~(width - 1), in = self & (width - 1);
        int src = self;
        switch (u.kind) {
          case Collective::Shfl: src = seg + (arg & (width - 1)); break;
          case Collective::ShflUp: src = in >= arg ? self - arg : self; break;
          case Collective::ShflDown: src = in + arg < width ? self + arg : self; break;
          case Collective::ShflXor: {
            const int x = self ^ arg;
            src = x < seg + width ? x : self;
            break;
          }
          default: break;
        }
        switch (u.kind) {
          case Collective::Ballot: result[m] = votes; break;
          case Collective::Any: result[m] = votes != 0; break;
          case Collective::All: result[m] = votes == (t.mask & 0xffffffffull); break;
          case Collective::SyncWarp: break;
          default:
            if (!(t.mask >> src & 1u)) {
              fault = std::string(collective_name(u.kind)) + " at " + site(u) + ": lane " + std::to_string(m) +
                      " reads lane " + std::to_string(src) + ", which is not in the mask";
              return -1;
            }
            result[m] = s.threads[w0 + static_cast<uint32_t>(src)].bits;
        }
      }
      for (uint32_t m = 0; m < 32; ++m) {
        if (!(t.mask >> m & 1u)) continue;
        s.threads[w0 + m].result = result[m];
        s.threads[w0 + m].state = State::Runnable;
      }
      ++released;
    }
  }
  return released;
}

// Runs one block to completion; returns "" or the fault.
std::string run_block(Scheduler& s, const dim3& grid, const dim3& block, const uint3& bidx, uint64_t salt) {
  const uint32_t n = block.x * block.y * block.z;
  while (s.fibers.size() < n) s.fibers.push_back(std::make_unique<Fiber>());
  s.threads.assign(n, Thread{});
  for (uint32_t i = 0; i < n; ++i) {
    Thread& t = s.threads[i];
    t.b.thread_idx = uint3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
    t.b.block_idx = bidx;
    t.b.block_dim = block;
    t.b.grid_dim = grid;
    if (!s.fibers[i]->base) reset_fiber(*s.fibers[i]);
  }
  visit_order(s.order, n, salt);
  // The groups that run in turn, each until all its threads wait at a __syncthreads or have
  // returned: the whole block, or in the "warps" order one warp at a time, the last warp first
  // (so a warp that races ahead through a missing barrier overwrites what another still reads).
  std::vector<std::pair<uint32_t, uint32_t>> groups;  // thread ranges [lo, hi)
  if (settings().order == Order::Warps) {
    for (uint32_t w = (n - 1) / 32 + 1; w-- > 0;) groups.push_back({w * 32, std::min(n, w * 32 + 32)});
  } else {
    groups.push_back({0, n});
  }
  std::string fault;
  for (;;) {
    for (const auto& [lo, hi] : groups) {
      for (;;) {
        for (uint32_t i : s.order) {
          Thread& t = s.threads[i];
          if (i < lo || i >= hi || t.state != State::Runnable) continue;
          s.running = &t;
          s.running_fiber = s.fibers[i].get();
          current = &t.b;
          resume(s, *s.fibers[i]);
          current = nullptr;
          if (!t.error.empty()) return "thread " + std::to_string(i) + " threw: " + t.error;
        }
        const int released = release_warps(s, fault, lo, hi);
        if (released < 0) return fault;
        if (released == 0) break;
      }
    }
    // Every thread waits at a __syncthreads or a collective that cannot complete, or has returned.
    uint32_t done = 0, at_barrier = 0, at_warp = 0;
    const Thread* first = nullptr;
    bool same_site = true;
    for (const Thread& t : s.threads) {
      if (t.state == State::Done) ++done;
      if (t.state == State::AtWarpCollective) ++at_warp;
      if (t.state == State::AtBlockBarrier) {
        ++at_barrier;
        if (!first) first = &t;
        same_site = same_site && t.file == first->file && t.line == first->line;
      }
    }
    if (done == n) return "";
    if (at_warp > 0)
      return "a warp collective's mask names lanes that never reach it (on a GPU: undefined behaviour or a hang)" +
             whereabouts(s);
    if (done > 0 || !same_site)
      return "__syncthreads is not reached by every thread of the block (on a GPU: a hang or undefined behaviour)" +
             whereabouts(s);
    for (Thread& t : s.threads) t.state = State::Runnable;  // the barrier is complete
  }
}

// After a fault the block's fibers may be stopped inside the kernel: give them fresh stacks.
void abandon_fibers(Scheduler& s) {
  for (auto& f : s.fibers)
    if (f->base) reset_fiber(*f);
}

// Thread -> scheduler at a barrier; returns the collective's result.
uint64_t wait(State st, const char* file, int line) {
  Scheduler* s = g_sched;
  if (!s || !current) {
    std::fprintf(stderr, "cudasim: a barrier at %s:%d was called outside a kernel\n", file, line);
    std::abort();
  }
  Thread& t = *s->running;
  t.state = st;
  t.file = file;
  t.line = line;
  yield_to_scheduler();
  current = &t.b;
  return t.result;
}

bool valid_config(const dim3& grid, const dim3& block) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  return grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu && grid.y <= 65535 && grid.z <= 65535 &&
         threads >= 1 && threads <= 1024 && block.x <= 1024 && block.y <= 1024 && block.z <= 64;
}

}  // namespace

void block_barrier(const char* file, int line) { wait(State::AtBlockBarrier, file, line); }

uint64_t warp_collective(Collective kind, unsigned mask, uint64_t bits, int arg, int width, const char* file,
                         int line) {
  if (g_sched && g_sched->running) {
    Thread& t = *g_sched->running;
    t.kind = kind;
    t.mask = mask;
    t.bits = bits;
    t.arg = arg;
    t.width = width;
  }
  return wait(State::AtWarpCollective, file, line);
}

void report_fault(const std::string& what) {
  {
    std::lock_guard<std::mutex> lock(fault_mutex());
    fault_text() = what;
  }
  std::fprintf(stderr, "cudasim: fault: %s\n", what.c_str());
}

void run_grid(dim3 grid, dim3 block, void (*body)(void*), void* ctx) {
  if (!valid_config(grid, block)) {
    report_fault("launch with grid " + dims(uint3{grid.x, grid.y, grid.z}) + " and block " +
                 dims(uint3{block.x, block.y, block.z}) +
                 ": a block holds 1 to 1024 threads (z up to 64), a grid 1 to 2^31-1 x 65535 x 65535 blocks");
    set_last_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (current) {
    report_fault("a kernel launched another kernel (dynamic parallelism is not simulated)");
    set_last_error(cudaErrorLaunchFailure);
    return;
  }
  std::lock_guard<std::mutex> lock(launch_mutex());
  const uint64_t launch_no = ++g_launches;
  Scheduler& s = scheduler();
  s.body = body;
  s.ctx = ctx;
  const uint64_t nblocks = uint64_t{grid.x} * grid.y * grid.z;
  std::vector<uint32_t> border;  // the block order; empty: forward (no vector for a huge grid)
  const Order o = settings().order;
  if ((o == Order::Reverse || o == Order::Shuffle) && nblocks <= (uint64_t{1} << 26))
    visit_order(border, static_cast<size_t>(nblocks), launch_no);
  for (uint64_t k = 0; k < nblocks; ++k) {
    const uint64_t b = border.empty() ? k : border[k];
    const uint3 bidx{static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                     static_cast<unsigned>(b / (uint64_t{grid.x} * grid.y))};
    std::string fault = run_block(s, grid, block, bidx, launch_no * 0x100000001ull + b);
    if (!fault.empty()) {
      abandon_fibers(s);
      report_fault("kernel launch " + std::to_string(launch_no) + " (grid " + dims(uint3{grid.x, grid.y, grid.z}) +
                   ", block " + dims(uint3{block.x, block.y, block.z}) + "), block " + dims(bidx) + ": " + fault);
      set_last_error(cudaErrorLaunchFailure);
      break;
    }
  }
  s.running = nullptr;
  s.running_fiber = nullptr;
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Public settings (cudasim.h)
void set_order(Order o, uint64_t seed) {
  std::lock_guard<std::mutex> lock(detail::launch_mutex());
  detail::settings().order = o;
  detail::settings().seed = seed;
}
Order order() { return detail::settings().order; }

const char* last_fault() {
  std::lock_guard<std::mutex> lock(detail::fault_mutex());
  return detail::fault_text().c_str();
}
void clear_fault() {
  std::lock_guard<std::mutex> lock(detail::fault_mutex());
  detail::fault_text().clear();
}
uint64_t launches() { return detail::g_launches; }

}  // namespace cudasim

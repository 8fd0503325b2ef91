// datasets/WorkerPool.h: a fixed set of threads that run the items of one job together.
//
//   WorkerPool pool(4);                                  // the caller + 3 helper threads
//   pool.run(64, [&](int64_t k) { render item k; });     // returns when all 64 are done
//
// run(n, fn) calls fn(0..n-1), each once, on the calling thread and the helpers, and returns
// when every call has finished; the first exception thrown by fn is rethrown by run. Calls to
// run from several threads are taken one at a time. AugmentedImages builds its batches with it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ember {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);  // threads >= 1 (1: everything on the caller)
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return static_cast<int>(helpers_.size()) + 1; }
  void run(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  void work(const std::function<void(int64_t)>& fn, int64_t n);
  void loop();

  std::vector<std::thread> helpers_;
  std::mutex run_mu_, mu_;
  std::condition_variable wake_, idle_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  uint64_t generation_ = 0;
  int active_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace ember

// datasets/WorkerPool.cpp: the pool's threads (see WorkerPool.h).
//
// A job is published under mu_ with a new generation number; each helper that sees a new
// generation joins it (active_), takes item numbers from the shared atomic counter until they
// run out, and leaves. run() works on the job too, then waits until no helper is active.
#include "ember/datasets/WorkerPool.h"

#include "ember/tensor/Error.h"

namespace ember {

WorkerPool::WorkerPool(int threads) {
  EMBER_CHECK(threads >= 1, "WorkerPool: threads must be >= 1, got ", threads);
  for (int t = 1; t < threads; ++t) helpers_.emplace_back([this] { loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void WorkerPool::run(int64_t n, const std::function<void(int64_t)>& fn) {
  std::lock_guard<std::mutex> one_at_a_time(run_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  work(fn, n);
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return active_ == 0; });
  fn_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void WorkerPool::work(const std::function<void(int64_t)>& fn, int64_t n) {
  for (int64_t i; (i = next_.fetch_add(1)) < n;) {
    try {
      fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void WorkerPool::loop() {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || (generation_ != seen && fn_ != nullptr); });
    if (stop_) return;
    seen = generation_;
    const std::function<void(int64_t)>* fn = fn_;
    int64_t n = n_;
    ++active_;
    lock.unlock();
    work(*fn, n);
    lock.lock();
    if (--active_ == 0) idle_.notify_all();
  }
}

}  // namespace ember

// datasets/DataLoader.cpp: epochs, batch assembly, and the prefetch thread.
//
// Threading: one Prefetcher per epoch owns a std::thread that builds batches first..nb-1 into a
// queue of at most `capacity` slots. The consumer (next()) pops from the front. Stopping sets
// `stop`, wakes the producer, and joins it; the producer checks `stop` before and after each
// wait, so it ends within one batch. Errors thrown while building a batch travel through the
// queue as an exception_ptr and are rethrown in the consumer's thread.
#include "ember/datasets/DataLoader.h"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "ember/datasets/EpochOrder.h"

namespace ember {

struct DataLoader::Prefetcher {
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };

  Prefetcher(const DataLoader* owner, std::vector<int64_t> order, int64_t epoch, int64_t first, int64_t num_batches,
             size_t capacity)
      : owner_(owner), order_(std::move(order)), epoch_(epoch), first_(first), num_batches_(num_batches),
        capacity_(capacity) {
    thread_ = std::thread([this] { run(); });
  }

  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // Blocks until a batch (true) or the end of the epoch (false); rethrows a batch's error.
  bool pop(Batch& out) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || done_; });
    if (queue_.empty()) return false;
    Slot slot = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    cv_.notify_all();
    if (slot.error) std::rethrow_exception(slot.error);
    out = std::move(slot.batch);
    return true;
  }

 private:
  void run() {
    for (int64_t b = first_; b < num_batches_; ++b) {
      Slot slot;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) break;
      }
      try {
        slot.batch = owner_->make_batch(order_, epoch_, b);
      } catch (...) {
        slot.error = std::current_exception();
      }
      bool failed = slot.error != nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || queue_.size() < capacity_; });
        if (stop_) break;
        queue_.push_back(std::move(slot));
      }
      cv_.notify_all();
      if (failed) break;  // the consumer sees the error, then the end
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }

  const DataLoader* owner_;
  std::vector<int64_t> order_;
  int64_t epoch_;
  int64_t first_;
  int64_t num_batches_;
  size_t capacity_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Slot> queue_;
  bool stop_ = false;
  bool done_ = false;
};

// ---------------------------------------------------------------------------
DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions opt)
    : dataset_(std::move(dataset)), opt_(std::move(opt)) {
  EMBER_CHECK(dataset_ != nullptr, who(), ": null dataset");
  EMBER_CHECK(opt_.batch_size >= 1, who(), ": batch_size must be >= 1, got ", opt_.batch_size);
  EMBER_CHECK(opt_.prefetch >= 0, who(), ": prefetch must be >= 0, got ", opt_.prefetch);
  int64_t n = dataset_->size();
  EMBER_CHECK(!opt_.drop_last || n == 0 || opt_.batch_size <= n, who(), ": batch_size ", opt_.batch_size,
              " is larger than the dataset's ", n, " items, and drop_last drops that one partial batch,",
              " so an epoch would have no batch; use a batch_size <= ", n, " or drop_last = false");
}

DataLoader::DataLoader(Tensor x, Tensor y, DataLoaderOptions opt)
    : DataLoader(std::make_shared<TensorDataset>(std::move(x), std::move(y)), std::move(opt)) {}

DataLoader::~DataLoader() = default;  // ~Prefetcher stops and joins the thread

std::string DataLoader::who() const { return opt_.name.empty() ? "DataLoader" : "DataLoader '" + opt_.name + "'"; }

int64_t DataLoader::size() const {
  int64_t n = dataset_->size(), bs = opt_.batch_size;
  return opt_.drop_last ? n / bs : (n + bs - 1) / bs;
}

int64_t DataLoader::n_items() const { return opt_.drop_last ? size() * opt_.batch_size : dataset_->size(); }

void DataLoader::set_epoch(int64_t e) {
  EMBER_CHECK(e >= 0, who(), "::set_epoch: epoch must be >= 0, got ", e);
  next_epoch_ = e;
}

void DataLoader::start_epoch(int64_t e, int64_t first_batch) {
  EMBER_CHECK(first_batch >= 0 && first_batch <= size(), who(), "::start_epoch: first_batch ", first_batch,
              " out of range (", size(), " batches per epoch)");
  set_epoch(e);
  open_epoch(first_batch);
}

std::vector<int64_t> DataLoader::epoch_order(int64_t e) const {
  return ember::epoch_order(dataset_->size(), opt_.seed, e, opt_.shuffle);
}

Batch DataLoader::batch(int64_t e, int64_t b) const {
  EMBER_CHECK(b >= 0 && b < size(), who(), "::batch: batch ", b, " out of range (", size(), " batches per epoch)");
  return make_batch(epoch_order(e), e, b);
}

void DataLoader::reset() { open_epoch(0); }

void DataLoader::open_epoch(int64_t first_batch) {
  prefetcher_.reset();  // stops a running epoch
  epoch_ = next_epoch_++;
  order_ = epoch_order(epoch_);
  cursor_ = first_batch;
  active_ = true;
  if (opt_.prefetch > 0 && first_batch < size())
    prefetcher_ = std::make_unique<Prefetcher>(this, order_, epoch_, first_batch, size(),
                                               static_cast<size_t>(opt_.prefetch));
}

bool DataLoader::next(Batch& out) {
  if (!active_) reset();
  bool got = false;
  try {
    if (prefetcher_) {
      got = prefetcher_->pop(out);
    } else if (cursor_ < size()) {
      out = make_batch(order_, epoch_, cursor_++);
      got = true;
    }
  } catch (...) {
    prefetcher_.reset();
    active_ = false;
    throw;
  }
  if (!got) {
    prefetcher_.reset();
    active_ = false;
  }
  return got;
}

// ---------------------------------------------------------------------------
// Batch assembly: indices -> dataset batch -> layout -> dtype.
namespace {
// [B, H, W, C] -> [B, C, H, W] for any element size.
Tensor hwc_to_chw(const Tensor& x) {
  int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  size_t es = dtype_size(x.dtype());
  Tensor out = empty({b, c, h, w}, x.dtype());
  const auto* s = static_cast<const uint8_t*>(x.raw_data());
  auto* d = static_cast<uint8_t*>(out.raw_data());
  for (int64_t n = 0; n < b; ++n)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t p = 0; p < h * w; ++p)
        std::memcpy(d + static_cast<size_t>(((n * c + k) * h * w) + p) * es,
                    s + static_cast<size_t>(((n * h * w) + p) * c + k) * es, es);
  return out;
}

Tensor u8_to_unit_f32(const Tensor& x) {
  Tensor out = empty(x.shape(), DType::f32);
  const uint8_t* s = x.data<uint8_t>();
  float* d = out.data<float>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) d[i] = static_cast<float>(s[i]) * (1.0f / 255.0f);
  return out;
}
}  // namespace

Batch DataLoader::make_batch(const std::vector<int64_t>& order, int64_t e, int64_t b) const {
  int64_t n = static_cast<int64_t>(order.size());
  int64_t start = b * opt_.batch_size, stop = std::min(n, start + opt_.batch_size);
  std::vector<int64_t> idx(order.begin() + start, order.begin() + stop);
  Example ex = dataset_->get_epoch_batch(idx, e);
  EMBER_CHECK(ex.x.defined() && ex.y.defined() && ex.x.dim() >= 1 && ex.x.size(0) == stop - start, who(),
              ": dataset returned a batch x ", ex.x.defined() ? fmt(ex.x.shape()) : std::string("undefined"),
              " for ", stop - start, " indices");
  Tensor x = ex.x.is_contiguous() ? ex.x : ex.x.contiguous();
  int64_t bs = x.size(0);
  if (opt_.channels_first) {
    if (x.dim() == 3) x = x.view({bs, 1, x.size(1), x.size(2)});
    else if (x.dim() == 4) x = hwc_to_chw(x);
    else EMBER_FAIL(who(), ": channels_first needs x [B, H, W] or [B, H, W, C], got ", fmt(x.shape()));
  }
  if (opt_.to_float && x.dtype() == DType::u8) x = u8_to_unit_f32(x);
  if (opt_.flatten) x = x.view({bs, bs ? x.numel() / bs : 0});
  return {x, ex.y};
}

}  // namespace ember

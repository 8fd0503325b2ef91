// learner/Data.cpp: TensorBatches and its seeded permutation.
#include "learner/Data.h"

#include <numeric>
#include <utility>

#include "tensor/Random.h"

namespace ember {
namespace learner {

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t epoch) {
  return permutation(n, seed, epoch << 32);  // counters: epoch in the high 32 bits
}

TensorBatches::TensorBatches(Tensor x, Tensor y, Options opt) : x_(std::move(x)), y_(std::move(y)), opt_(opt) {
  EMBER_CHECK(x_.defined() && y_.defined(), "TensorBatches: x and y must be defined");
  EMBER_CHECK(x_.dim() >= 1 && y_.dim() >= 1, "TensorBatches: x and y need a batch dim, got x ", fmt(x_.shape()),
              " and y ", fmt(y_.shape()));
  EMBER_CHECK(x_.size(0) == y_.size(0), "TensorBatches: x has ", x_.size(0), " items (", fmt(x_.shape()),
              ") but y has ", y_.size(0), " (", fmt(y_.shape()), ")");
  EMBER_CHECK(opt_.batch_size > 0, "TensorBatches: batch_size must be positive, got ", opt_.batch_size);
  start_epoch(0);
}

size_t TensorBatches::size() const {
  int64_t n = x_.size(0), bs = opt_.batch_size;
  return static_cast<size_t>(opt_.drop_last ? n / bs : (n + bs - 1) / bs);
}

int64_t TensorBatches::n_items() const {
  return opt_.drop_last ? static_cast<int64_t>(size()) * opt_.batch_size : x_.size(0);
}

void TensorBatches::start_epoch(int epoch) {
  int64_t n = x_.size(0);
  if (opt_.shuffle) {
    order_ = seeded_permutation(n, opt_.seed, static_cast<uint64_t>(epoch));
  } else {
    order_.resize(static_cast<size_t>(n));
    std::iota(order_.begin(), order_.end(), 0);
  }
  pos_ = 0;
}

bool TensorBatches::next(Tensor& x, Tensor& y) {
  int64_t n = x_.size(0), bs = opt_.batch_size;
  if (pos_ >= n) return false;
  int64_t len = std::min(bs, n - pos_);
  if (opt_.drop_last && len < bs) return false;
  if (opt_.shuffle) {
    std::vector<int64_t> idx(order_.begin() + pos_, order_.begin() + pos_ + len);
    Tensor it = from_vector(idx).to(x_.device());
    x = index_select(x_, 0, it);
    y = index_select(y_, 0, it.to(y_.device()));
  } else {
    x = x_.narrow(0, pos_, len);
    y = y_.narrow(0, pos_, len);
  }
  pos_ += len;
  return true;
}

}  // namespace learner
}  // namespace ember

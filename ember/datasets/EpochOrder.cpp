// datasets/EpochOrder.cpp: epoch_order (see EpochOrder.h for the scheme).
#include "ember/datasets/EpochOrder.h"

#include <numeric>

#include "ember/tensor/Tensor.h"

namespace ember {

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  EMBER_CHECK(n >= 0, "epoch_order: item count must be >= 0, got ", n);
  EMBER_CHECK(epoch >= 0, "epoch_order: epoch must be >= 0, got ", epoch);
  if (!shuffle) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    return order;
  }
  return permutation(n, seed, static_cast<uint64_t>(epoch) << 32);
}

}  // namespace ember

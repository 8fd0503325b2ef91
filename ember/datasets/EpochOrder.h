// datasets/EpochOrder.h: the order in which one epoch visits a dataset's items.
//
//   std::vector<int64_t> order = epoch_order(n, seed, epoch, /*shuffle=*/true);
//
// This is the only shuffle of the data path: every DataLoader (in-memory tensors, MNIST, the
// augmented Pets images) takes its epoch order from here, so one (seed, epoch) always gives
// one order, whatever the dataset.
//
// With shuffle, epoch e is ember::permutation(n, seed, e << 32): a Fisher-Yates shuffle driven
// by Philox(seed) with its counters starting at e << 32 (the epoch in the high 32 bits, so the
// draws of two epochs never overlap for n < 2^32). It depends only on (n, seed, epoch), never
// on ember::manual_seed or on how many random numbers other code drew; a Learner resumed at
// epoch e therefore sees epoch e's order. Without shuffle the order is 0, 1, ..., n - 1.
#pragma once

#include <cstdint>
#include <vector>

namespace ember {

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

}  // namespace ember

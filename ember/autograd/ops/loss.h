// autograd/ops/loss.h: the losses. Targets never get gradients except where noted.
// Defined, with their backward, in autograd/ops/loss.cpp.
#pragma once

#include <cstdint>

#include "ember/tensor/Tensor.h"

namespace ember {

enum class Reduction { None, Mean, Sum };
struct CrossEntropyOptions {
  Reduction reduction = Reduction::Mean;
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};
// logits [N, C] (or [N, C, d...]); target: i64 class indices [N] or f32 probabilities [N, C].
Tensor cross_entropy(const Tensor& logits, const Tensor& target, CrossEntropyOptions opt = {});
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction r = Reduction::Mean,
                int64_t ignore_index = -100);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::Mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::Mean);
Tensor bce_with_logits(const Tensor& logits, const Tensor& target, Reduction r = Reduction::Mean);
// input holds log-probabilities; `batchmean` divides the sum by the batch size as PyTorch does.
enum class KLReduction { None, Mean, Sum, BatchMean };
Tensor kl_div(const Tensor& input, const Tensor& target, KLReduction r = KLReduction::Mean);

}  // namespace ember

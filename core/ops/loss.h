// Classification loss and metrics.
#ifndef LRA_CORE_OPS_LOSS_H_
#define LRA_CORE_OPS_LOSS_H_

#include <cstdint>
#include <vector>

#include "core/tape.h"

namespace lra {

// Mean over the batch of -log softmax(logits)[label]. logits: [B, C]; labels: B ints in [0, C).
// Returns a scalar (shape []). Computed stably (log-sum-exp with the row max subtracted).
Var CrossEntropy(const Var& logits, const std::vector<int32_t>& labels);

// Index of the largest logit in each row of a [B, C] tensor (first one on ties).
std::vector<int32_t> ArgMax(const Tensor& logits);
// Number of rows whose argmax equals the label.
int64_t CountCorrect(const Tensor& logits, const std::vector<int32_t>& labels);

}  // namespace lra

#endif  // LRA_CORE_OPS_LOSS_H_

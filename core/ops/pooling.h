// Pooling over the sequence axis.
#ifndef LRA_CORE_OPS_POOLING_H_
#define LRA_CORE_OPS_POOLING_H_

#include <cstdint>
#include <vector>

#include "core/tape.h"

namespace lra {

// x: [B, L, H] -> [B, H], the mean over positions [0, lengths[b]) of each sequence (padding
// excluded). lengths empty means every sequence has length L. A length of 0 gives zeros.
Var MeanPool(const Var& x, const std::vector<int32_t>& lengths = {});

}  // namespace lra

#endif  // LRA_CORE_OPS_POOLING_H_

// Linear attention (elu + 1 feature map) as a tape op, wrapping core/kernels/linear_attention.h
// (read it for the math, LRA's reference and the masking: keys past the length are excluded,
// there is no token mask and no dropout).
#ifndef LRA_CORE_OPS_LINEAR_ATTENTION_H_
#define LRA_CORE_OPS_LINEAR_ATTENTION_H_

#include <cstdint>
#include <vector>

#include "core/tape.h"

namespace lra {

// q, k, v: [B, L, heads * d]; lengths: empty or B values in [0, L]. Returns [B, L, heads * d].
// Saves KV and the key sum per (batch, head): B * heads * (d^2 + d) floats.
Var LinearAttention(const Var& q, const Var& k, const Var& v, const std::vector<int32_t>& lengths,
                    int heads);

}  // namespace lra

#endif  // LRA_CORE_OPS_LINEAR_ATTENTION_H_

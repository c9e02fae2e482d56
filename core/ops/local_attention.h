// Block-local multi-head attention as a tape op, wrapping core/kernels/local_attention.h (read
// it for the windows, the flax masking inside each window and the dropout mask).
#ifndef LRA_CORE_OPS_LOCAL_ATTENTION_H_
#define LRA_CORE_OPS_LOCAL_ATTENTION_H_

#include <cstdint>
#include <vector>

#include "core/random.h"
#include "core/tape.h"

namespace lra {

struct LocalAttentionConfig {
  int heads = 1;
  int block = 1;         // window length w >= 1: queries attend within [w floor(i/w), +w)
  float dropout = 0.0f;  // probability dropout in [0, 1), applied whenever > 0 (as Attention)
};

// q, k, v: [B, L, heads * d]; lengths: empty or B values in [0, L]; mask: empty or B * L bytes
// (0 = masked position, on top of lengths). rng: needed only when dropout > 0 (one NextU64()
// per call, the kernel's Philox key, as lra::Attention). Returns [B, L, heads * d]. Saves the
// window probabilities, B * heads * L * block floats.
Var LocalAttention(const Var& q, const Var& k, const Var& v, const std::vector<int32_t>& lengths,
                   const LocalAttentionConfig& config, const std::vector<uint8_t>& mask = {},
                   Rng* rng = nullptr);

}  // namespace lra

#endif  // LRA_CORE_OPS_LOCAL_ATTENTION_H_

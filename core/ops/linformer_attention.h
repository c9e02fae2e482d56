// Linformer's attention as a tape op (LRA's `linformer`: google-research/long-range-arena
// cd31e5c, lra_benchmarks/models/linformer/linformer_attention.py LinformerAttention; Wang et
// al. 2020, "Linformer", arXiv 2006.04768): keys and values are projected along the length by
// one shared kernel E [max_len, k] (the released code's `lr_kernel`, used for both, sliced to
// the input length: `kernel[:input_dim, :]`), then each head runs softmax attention of its L
// queries over the k projected keys:
//   K' = E[:L]^T K,  V' = E[:L]^T V   ([k, heads * d]),
//   out = Dropout(softmax(Q K'^T / sqrt(d))) V'
// with flax's dot_product_attention (scale 1/sqrt(d), dropout on the probabilities per element:
// LinformerBlock passes broadcast_dropout=False). O(L k d) time and an L x k probability matrix
// per head: no L x L matrix. Masking: the released code applies none (its "TODO(yitay) Does
// Linformer care about masks?"), so its padded keys and values enter the projection and an
// example's logits depend on the length it is padded to. Here the rows of K and V past each
// example's length are zeroed before the projection (E's rows j >= len meet zeros), so padding
// never reaches a real position; there is still no token mask (pad tokens inside the length are
// ordinary keys, as in the released code) and no query mask (every query attends to the k
// projected keys).
#ifndef LRA_CORE_OPS_LINFORMER_ATTENTION_H_
#define LRA_CORE_OPS_LINFORMER_ATTENTION_H_

#include <cstdint>
#include <vector>

#include "core/random.h"
#include "core/tape.h"

namespace lra {

// q, k, v: [B, L, heads * d]; e: [P, k] with P >= L; lengths: empty or B values in [0, L];
// dropout on the attention probabilities (0: none; rng may then be null). Returns
// [B, L, heads * d].
Var LinformerAttention(const Var& q, const Var& k, const Var& v, const Var& e,
                       const std::vector<int32_t>& lengths, int heads, float dropout, Rng* rng);

}  // namespace lra

#endif  // LRA_CORE_OPS_LINFORMER_ATTENTION_H_

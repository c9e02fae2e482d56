// Sparse Sinkhorn attention as tape ops, over core/kernels/sinkhorn_attention.h (read it for the
// blocks, the normalisation, the sorted-block attention, its masking and dropout). LRA's
// `sinkhorn` layer (models/sinkhorn) is
//   P   = SinkhornNormalize(Linear(BlockKeySum(k), W_sort), ...)
//   out = LocalAttention(q, k, v) + SortedBlockAttention(q, k, v, P)
#ifndef LRA_CORE_OPS_SINKHORN_ATTENTION_H_
#define LRA_CORE_OPS_SINKHORN_ATTENTION_H_

#include <cstdint>
#include <vector>

#include "core/random.h"
#include "core/tape.h"

namespace lra {

// The blocks of each example: ceil(lengths[b] / block) (all ceil(length / block) when lengths
// is empty).
std::vector<int> SinkhornExampleBlocks(const std::vector<int32_t>& lengths, int batch, int length,
                                       int block);

// Per (example, head, block of `block` positions) the sum of the block's keys at positions
// < lengths[b] (LRA's sum_key, no token mask): k [B, L, heads * d] -> [B, heads, nbL, d],
// nbL = ceil(L / block).
Var BlockKeySum(const Var& k, const std::vector<int32_t>& lengths, int heads, int block);

struct SinkhornNormConfig {
  int iters = 0;             // 0: row softmax (LRA's default); >= 1: Sinkhorn iterations
  float temperature = 1.0f;  // > 0; the logits are divided by it
};

// logits [B, heads, nbL, C] -> the soft permutations [B, heads, nbL, nbL] over each example's
// blocks[b] (SinkhornExampleBlocks; each <= min(nbL, C)), zero elsewhere.
Var SinkhornNormalize(const Var& logits, const std::vector<int>& blocks,
                      const SinkhornNormConfig& config);

struct SortedBlockAttentionConfig {
  int heads = 1;
  int block = 1;         // w >= 1
  float dropout = 0.0f;  // in [0, 1), applied whenever > 0
};

// q, k, v: [B, L, heads * d]; perm: [B, heads, nbL, nbL] (SinkhornNormalize's); lengths: empty
// or B values in [0, L]; mask: empty or B * L bytes (0 = masked position). rng: needed only when
// dropout > 0 (one NextU64() per call, as lra::LocalAttention; a copy of the Rng handed to
// LocalAttention gives both terms the same key and so the same mask). Returns [B, L, heads * d].
Var SortedBlockAttention(const Var& q, const Var& k, const Var& v, const Var& perm,
                         const std::vector<int32_t>& lengths,
                         const SortedBlockAttentionConfig& config,
                         const std::vector<uint8_t>& mask = {}, Rng* rng = nullptr);

}  // namespace lra

#endif  // LRA_CORE_OPS_SINKHORN_ATTENTION_H_

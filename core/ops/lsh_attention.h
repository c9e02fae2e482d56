// LSH attention (LRA's `reformer`) as a tape op, wrapping core/kernels/lsh_attention.h (read it
// for the hashing, the sort, the chunks, the masking and the combination of hash rounds).
#ifndef LRA_CORE_OPS_LSH_ATTENTION_H_
#define LRA_CORE_OPS_LSH_ATTENTION_H_

#include <cstdint>
#include <vector>

#include "core/tape.h"

namespace lra {

struct LshAttentionConfig {
  int heads = 1;
  int n_hashes = 1;   // hash rounds >= 1
  int n_buckets = 2;  // even, >= 2
  int chunk = 1;      // items per chunk of the sorted sequence >= 1
};

// The fixed random rotations [head_dim, n_hashes, n_buckets / 2]: N(0, 1) draws of
// lra::Rng(seed, kLshRotationStream), a pure function of `seed` (LRA draws them from the fixed
// jax.random.PRNGKey(0) in every layer, head and step: reformer_attention.py
// lsh_attention_single_head).
std::vector<float> LshRotations(uint64_t seed, int head_dim, int n_hashes, int n_buckets);

// x (the shared query/key vectors) and v: [B, L, heads * d]; rotations: LshRotations(...);
// lengths: empty or B values in [0, L]; mask: empty or B * L bytes (0 = masked position).
// Returns [B, L, heads * d]; gradients reach x and v, the buckets fixed. Saves the sort order
// and O(n_hashes L (2 chunk + d)) floats per (example, head).
Var LshAttention(const Var& x, const Var& v, const std::vector<float>& rotations,
                 const std::vector<int32_t>& lengths, const LshAttentionConfig& config,
                 const std::vector<uint8_t>& mask = {});

}  // namespace lra

#endif  // LRA_CORE_OPS_LSH_ATTENTION_H_

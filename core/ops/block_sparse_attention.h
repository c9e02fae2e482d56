// Block-sparse multi-head attention as a tape op, wrapping core/kernels/block_sparse_attention.h
// (read it for the layouts, the flax masking inside the pattern, masked query rows and the
// dropout mask). The layouts of LRA's local, Sparse Transformer, Longformer and BigBird models
// are built there (LocalLayout, SparseFixedLayout, LongformerLayout, BigBirdLayout).
#ifndef LRA_CORE_OPS_BLOCK_SPARSE_ATTENTION_H_
#define LRA_CORE_OPS_BLOCK_SPARSE_ATTENTION_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "core/kernels/block_sparse_attention.h"
#include "core/random.h"
#include "core/tape.h"

namespace lra {

struct BlockSparseAttentionConfig {
  int heads = 1;
  float dropout = 0.0f;  // probability dropout in [0, 1), applied whenever > 0 (as Attention)
};

// q, k, v: [B, L, heads * d]; pattern: its layouts Finalized for L, layout_of empty or B * heads
// entries; lengths: empty or B values in [0, L]; mask: empty or B * L bytes (0 = masked
// position, on top of lengths). rng: needed only when dropout > 0 (one NextU64() per call, the
// kernel's Philox key, as lra::Attention). Returns [B, L, heads * d]. Saves the kept
// probabilities (kernels::BlockSparseSavedFloats) and keeps `pattern` for backward.
Var BlockSparseAttention(const Var& q, const Var& k, const Var& v,
                         const std::vector<int32_t>& lengths,
                         std::shared_ptr<const kernels::BlockSparsePattern> pattern,
                         const BlockSparseAttentionConfig& config,
                         const std::vector<uint8_t>& mask = {}, Rng* rng = nullptr);

}  // namespace lra

#endif  // LRA_CORE_OPS_BLOCK_SPARSE_ATTENTION_H_

// Local attention is the block-sparse kernel with LocalLayout (each window reads itself):
// core/kernels/block_sparse_attention.h runs the same operations in the same order as the
// window kernel this file held before, so results are unchanged (local_attention_test).
#include "core/kernels/local_attention.h"

#include "absl/base/internal/raw_logging.h"
#include "core/kernels/block_sparse_attention.h"

namespace lra {
namespace kernels {
namespace {

BlockSparseShape Shape(const LocalAttentionShape& s) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.length >= 1 && s.heads >= 1 && s.head_dim >= 1 && s.block >= 1,
                 "LocalAttention: batch, length, heads, head_dim and block must be >= 1");
  return {s.batch, s.length, s.heads, s.head_dim};
}

BlockSparsePattern Pattern(const LocalAttentionShape& s) {
  BlockSparsePattern p;
  p.layouts.push_back(LocalLayout(s.length, s.block));
  return p;
}

}  // namespace

int64_t LocalAttentionSavedFloats(const LocalAttentionShape& s) {
  return BlockSparseSavedFloats(Shape(s), Pattern(s));
}

void LocalAttentionForward(const LocalAttentionShape& s, const float* q, const float* k,
                           const float* v, const int* lengths, const uint8_t* mask,
                           float dropout_rate, uint64_t dropout_seed, float* out, float* saved) {
  BlockSparseAttentionForward(Shape(s), Pattern(s), q, k, v, lengths, mask, dropout_rate,
                              dropout_seed, out, saved);
}

void LocalAttentionBackward(const LocalAttentionShape& s, const float* q, const float* k,
                            const float* v, const int* lengths, const uint8_t* mask,
                            float dropout_rate, uint64_t dropout_seed, const float* saved,
                            const float* dout, float* dq, float* dk, float* dv) {
  BlockSparseAttentionBackward(Shape(s), Pattern(s), q, k, v, lengths, mask, dropout_rate,
                               dropout_seed, saved, dout, dq, dk, dv);
}

}  // namespace kernels
}  // namespace lra

#include "core/ops/block_sparse_attention.h"

#include <utility>

#include "core/check.h"

namespace lra {

Var BlockSparseAttention(const Var& q, const Var& k, const Var& v,
                         const std::vector<int32_t>& lengths,
                         std::shared_ptr<const kernels::BlockSparsePattern> pattern,
                         const BlockSparseAttentionConfig& config,
                         const std::vector<uint8_t>& mask, Rng* rng) {
  LRA_CHECK(q.rank() == 3 && q.shape() == k.shape() && q.shape() == v.shape())
      << "BlockSparseAttention: q " << q.shape().ToString() << " k " << k.shape().ToString()
      << " v " << v.shape().ToString() << " must all be [B, L, heads * d]";
  LRA_CHECK(config.heads >= 1 && q.dim(2) % config.heads == 0)
      << "BlockSparseAttention: width " << q.dim(2) << " not divisible by " << config.heads
      << " heads";
  LRA_CHECK(pattern != nullptr && !pattern->layouts.empty())
      << "BlockSparseAttention: no pattern";
  kernels::BlockSparseShape s;
  s.batch = static_cast<int>(q.dim(0));
  s.length = static_cast<int>(q.dim(1));
  s.heads = config.heads;
  s.head_dim = static_cast<int>(q.dim(2) / config.heads);
  LRA_CHECK(pattern->layout_of.empty() ||
            static_cast<int64_t>(pattern->layout_of.size()) == int64_t{s.batch} * s.heads)
      << "BlockSparseAttention: " << pattern->layout_of.size() << " layout indices for batch "
      << s.batch << " x " << s.heads << " heads";
  for (const kernels::BlockSparseLayout& y : pattern->layouts)
    LRA_CHECK(!y.key_begin.empty() && y.length == s.length)
        << "BlockSparseAttention: a layout Finalized for length " << y.length << ", not the "
        << "input's " << s.length << " (build it with the layout functions for this length)";
  LRA_CHECK(lengths.empty() || static_cast<int>(lengths.size()) == s.batch)
      << "BlockSparseAttention: " << lengths.size() << " lengths for batch " << s.batch;
  for (int32_t n : lengths)
    LRA_CHECK(n >= 0 && n <= s.length)
        << "BlockSparseAttention: length " << n << " not in [0, " << s.length << "]";
  LRA_CHECK(mask.empty() || static_cast<int64_t>(mask.size()) == q.dim(0) * q.dim(1))
      << "BlockSparseAttention: mask of " << mask.size() << " bytes, want B * L = "
      << q.dim(0) * q.dim(1);
  LRA_CHECK(config.dropout >= 0.0f && config.dropout < 1.0f)
      << "BlockSparseAttention: dropout " << config.dropout << " not in [0, 1)";
  uint64_t seed = 0;
  if (config.dropout > 0.0f) {
    LRA_CHECK(rng != nullptr) << "BlockSparseAttention: dropout " << config.dropout
                              << " needs an Rng";
    seed = rng->NextU64();
  }
  const float rate = config.dropout;
  Tensor saved = Tensor::Empty({kernels::BlockSparseSavedFloats(s, *pattern)});
  Tensor out = Tensor::Empty(q.shape());
  const int* lp = lengths.empty() ? nullptr : lengths.data();
  const uint8_t* mp = mask.empty() ? nullptr : mask.data();
  kernels::BlockSparseAttentionForward(s, *pattern, q.value().data<float>(),
                                       k.value().data<float>(), v.value().data<float>(), lp, mp,
                                       rate, seed, out.data<float>(), saved.data<float>());
  if (!NeedsGrad({q, k, v})) return Constant(out);
  return MakeOp("BlockSparseAttention", out, {q, k, v},
                [q, k, v, lengths, mask, rate, seed, s, saved,
                 pattern = std::move(pattern)](const Tensor& dout) {
    Tensor dq = Tensor::Empty(q.shape()), dk = Tensor::Empty(k.shape()),
           dv = Tensor::Empty(v.shape());
    const int* lp = lengths.empty() ? nullptr : lengths.data();
    const uint8_t* mp = mask.empty() ? nullptr : mask.data();
    kernels::BlockSparseAttentionBackward(s, *pattern, q.value().data<float>(),
                                          k.value().data<float>(), v.value().data<float>(), lp,
                                          mp, rate, seed, saved.data<float>(), dout.data<float>(),
                                          dq.data<float>(), dk.data<float>(), dv.data<float>());
    if (q.requires_grad()) AddInto(q.GradForAccumulate(), dq);
    if (k.requires_grad()) AddInto(k.GradForAccumulate(), dk);
    if (v.requires_grad()) AddInto(v.GradForAccumulate(), dv);
  });
}

}  // namespace lra

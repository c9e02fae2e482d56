#include "core/ops/sinkhorn_attention.h"

#include "core/check.h"
#include "core/kernels/sinkhorn_attention.h"

namespace lra {

std::vector<int> SinkhornExampleBlocks(const std::vector<int32_t>& lengths, int batch, int length,
                                       int block) {
  std::vector<int> nb(batch, (length + block - 1) / block);
  for (size_t b = 0; b < lengths.size(); ++b) nb[b] = (lengths[b] + block - 1) / block;
  return nb;
}

Var BlockKeySum(const Var& k, const std::vector<int32_t>& lengths, int heads, int block) {
  LRA_CHECK(k.rank() == 3 && heads >= 1 && k.dim(2) % heads == 0 && block >= 1)
      << "BlockKeySum: k " << k.shape().ToString() << " must be [B, L, heads * d] with " << heads
      << " heads, block " << block << " >= 1";
  const int64_t b = k.dim(0), l = k.dim(1), d = k.dim(2) / heads, nbl = (l + block - 1) / block;
  LRA_CHECK(lengths.empty() || static_cast<int64_t>(lengths.size()) == b)
      << "BlockKeySum: " << lengths.size() << " lengths for batch " << b;
  for (int32_t n : lengths)
    LRA_CHECK(n >= 0 && n <= l) << "BlockKeySum: length " << n << " not in [0, " << l << "]";
  auto len = [lengths, l](int64_t z) { return lengths.empty() ? l : int64_t{lengths[z]}; };
  Tensor out = Tensor::Zeros({b, heads, nbl, d});
  const float* x = k.value().data<float>();
  float* y = out.data<float>();
  for (int64_t z = 0; z < b; ++z)
    for (int64_t t = 0; t < len(z); ++t)
      for (int h = 0; h < heads; ++h)
        for (int64_t e = 0; e < d; ++e)
          y[((z * heads + h) * nbl + t / block) * d + e] += x[(z * l + t) * heads * d + h * d + e];
  if (!NeedsGrad({k})) return Constant(out);
  return MakeOp("BlockKeySum", out, {k}, [k, b, l, d, nbl, heads, block, len](const Tensor& dout) {
    Tensor dk = Tensor::Zeros(k.shape());
    const float* g = dout.data<float>();
    float* dx = dk.data<float>();
    for (int64_t z = 0; z < b; ++z)
      for (int64_t t = 0; t < len(z); ++t)
        for (int h = 0; h < heads; ++h)
          for (int64_t e = 0; e < d; ++e)
            dx[(z * l + t) * heads * d + h * d + e] =
                g[((z * heads + h) * nbl + t / block) * d + e];
    AddInto(k.GradForAccumulate(), dk);
  });
}

Var SinkhornNormalize(const Var& logits, const std::vector<int>& blocks,
                      const SinkhornNormConfig& config) {
  LRA_CHECK(logits.rank() == 4) << "SinkhornNormalize: logits " << logits.shape().ToString()
                                << " must be [B, heads, nbL, C]";
  kernels::SinkhornNormShape s;
  s.batch = static_cast<int>(logits.dim(0));
  s.heads = static_cast<int>(logits.dim(1));
  s.nbl = static_cast<int>(logits.dim(2));
  s.cols = static_cast<int>(logits.dim(3));
  s.iters = config.iters;
  s.temperature = config.temperature;
  LRA_CHECK(config.iters >= 0 && config.temperature > 0.0f)
      << "SinkhornNormalize: iters " << config.iters << " must be >= 0 and temperature "
      << config.temperature << " > 0";
  LRA_CHECK(static_cast<int>(blocks.size()) == s.batch)
      << "SinkhornNormalize: " << blocks.size() << " block counts for batch " << s.batch;
  for (int n : blocks)
    LRA_CHECK(n >= 0 && n <= s.nbl && n <= s.cols)
        << "SinkhornNormalize: " << n << " blocks, but the logits hold " << s.nbl << " rows and "
        << s.cols << " columns (the sort network's width)";
  Tensor out = Tensor::Empty({s.batch, s.heads, s.nbl, s.nbl});
  kernels::SinkhornNormalizeForward(s, blocks.data(), logits.value().data<float>(),
                                    out.data<float>());
  if (!NeedsGrad({logits})) return Constant(out);
  return MakeOp("SinkhornNormalize", out, {logits}, [logits, blocks, s](const Tensor& dout) {
    Tensor dl = Tensor::Empty(logits.shape());
    kernels::SinkhornNormalizeBackward(s, blocks.data(), logits.value().data<float>(),
                                       dout.data<float>(), dl.data<float>());
    AddInto(logits.GradForAccumulate(), dl);
  });
}

Var SortedBlockAttention(const Var& q, const Var& k, const Var& v, const Var& perm,
                         const std::vector<int32_t>& lengths,
                         const SortedBlockAttentionConfig& config, const std::vector<uint8_t>& mask,
                         Rng* rng) {
  LRA_CHECK(q.rank() == 3 && q.shape() == k.shape() && q.shape() == v.shape())
      << "SortedBlockAttention: q " << q.shape().ToString() << " k " << k.shape().ToString()
      << " v " << v.shape().ToString() << " must all be [B, L, heads * d]";
  LRA_CHECK(config.heads >= 1 && q.dim(2) % config.heads == 0)
      << "SortedBlockAttention: width " << q.dim(2) << " not divisible by " << config.heads
      << " heads";
  LRA_CHECK(config.block >= 1) << "SortedBlockAttention: block " << config.block << " must be >= 1";
  kernels::SinkhornShape s;
  s.batch = static_cast<int>(q.dim(0));
  s.length = static_cast<int>(q.dim(1));
  s.heads = config.heads;
  s.head_dim = static_cast<int>(q.dim(2) / config.heads);
  s.block = config.block;
  const int64_t nbl = kernels::SinkhornBlocks(s);
  LRA_CHECK(perm.shape() == Shape({s.batch, s.heads, nbl, nbl}))
      << "SortedBlockAttention: perm " << perm.shape().ToString() << ", want [" << s.batch << ", "
      << s.heads << ", " << nbl << ", " << nbl << "]";
  LRA_CHECK(lengths.empty() || static_cast<int>(lengths.size()) == s.batch)
      << "SortedBlockAttention: " << lengths.size() << " lengths for batch " << s.batch;
  for (int32_t n : lengths)
    LRA_CHECK(n >= 0 && n <= s.length)
        << "SortedBlockAttention: length " << n << " not in [0, " << s.length << "]";
  LRA_CHECK(mask.empty() || static_cast<int64_t>(mask.size()) == q.dim(0) * q.dim(1))
      << "SortedBlockAttention: mask of " << mask.size()
      << " bytes, want B * L = " << q.dim(0) * q.dim(1);
  LRA_CHECK(config.dropout >= 0.0f && config.dropout < 1.0f)
      << "SortedBlockAttention: dropout " << config.dropout << " not in [0, 1)";
  uint64_t seed = 0;
  if (config.dropout > 0.0f) {
    LRA_CHECK(rng != nullptr) << "SortedBlockAttention: dropout " << config.dropout
                              << " needs an Rng";
    seed = rng->NextU64();
  }
  const float rate = config.dropout;
  Tensor saved = Tensor::Empty({kernels::SortedBlockAttentionSavedFloats(s)});
  Tensor out = Tensor::Empty(q.shape());
  const int* lp = lengths.empty() ? nullptr : lengths.data();
  const uint8_t* mp = mask.empty() ? nullptr : mask.data();
  kernels::SortedBlockAttentionForward(s, q.value().data<float>(), k.value().data<float>(),
                                       v.value().data<float>(), perm.value().data<float>(), lp, mp,
                                       rate, seed, out.data<float>(), saved.data<float>());
  if (!NeedsGrad({q, k, v, perm})) return Constant(out);
  return MakeOp("SortedBlockAttention", out, {q, k, v, perm},
                [q, k, v, perm, lengths, mask, rate, seed, s, saved](const Tensor& dout) {
                  Tensor dq = Tensor::Empty(q.shape()), dk = Tensor::Empty(k.shape()),
                         dv = Tensor::Empty(v.shape()), dp = Tensor::Empty(perm.shape());
                  const int* lp = lengths.empty() ? nullptr : lengths.data();
                  const uint8_t* mp = mask.empty() ? nullptr : mask.data();
                  kernels::SortedBlockAttentionBackward(
                      s, q.value().data<float>(), k.value().data<float>(), v.value().data<float>(),
                      perm.value().data<float>(), lp, mp, rate, seed, saved.data<float>(),
                      dout.data<float>(), dq.data<float>(), dk.data<float>(), dv.data<float>(),
                      dp.data<float>());
                  if (q.requires_grad()) AddInto(q.GradForAccumulate(), dq);
                  if (k.requires_grad()) AddInto(k.GradForAccumulate(), dk);
                  if (v.requires_grad()) AddInto(v.GradForAccumulate(), dv);
                  if (perm.requires_grad()) AddInto(perm.GradForAccumulate(), dp);
                });
}

}  // namespace lra

#include "core/ops/synthesizer_attention.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/shape_ops.h"
#include "core/ops/softmax.h"

namespace lra {

Var SynthesizerAttention(const Var& q, const Var& k, const Var& v, const Var& synthetic,
                         const std::vector<int32_t>& lengths, const std::vector<uint8_t>& mask,
                         int heads, float dropout, Rng* rng) {
  LRA_CHECK(v.rank() == 3 && heads >= 1 && v.dim(2) % heads == 0)
      << "SynthesizerAttention: v " << v.shape().ToString() << " must be [B, L, heads * dv], "
      << heads << " heads";
  const int64_t b = v.dim(0), l = v.dim(1), dv = v.dim(2) / heads;
  LRA_CHECK(q.defined() == k.defined() && (q.defined() || synthetic.defined()))
      << "SynthesizerAttention: give q and k, synthetic weights, or both";
  LRA_CHECK(!q.defined() || (q.shape() == k.shape() && q.rank() == 3 && q.dim(0) == b &&
                             q.dim(1) == l && q.dim(2) % heads == 0))
      << "SynthesizerAttention: q " << q.shape().ToString() << " k " << k.shape().ToString()
      << " must be [" << b << ", " << l << ", heads * d]";
  LRA_CHECK(!synthetic.defined() ||
            (synthetic.rank() == 4 && (synthetic.dim(0) == b || synthetic.dim(0) == 1) &&
             synthetic.dim(1) == heads && synthetic.dim(2) == l && synthetic.dim(3) == l))
      << "SynthesizerAttention: synthetic " << synthetic.shape().ToString() << " must be [" << b
      << " or 1, " << heads << ", " << l << ", " << l << "]";
  LRA_CHECK(lengths.empty() || static_cast<int64_t>(lengths.size()) == b)
      << "SynthesizerAttention: " << lengths.size() << " lengths for batch " << b;
  LRA_CHECK(mask.empty() || static_cast<int64_t>(mask.size()) == b * l)
      << "SynthesizerAttention: mask of " << mask.size() << " for [" << b << ", " << l << "]";
  LRA_CHECK(dropout == 0 || rng != nullptr) << "SynthesizerAttention: dropout needs an rng";
  Var logits;
  if (q.defined()) {
    const int64_t d = q.dim(2) / heads;
    const Var qh = Permute(Reshape(q, {b, l, heads, d}), {0, 2, 1, 3});
    const Var kh = Permute(Reshape(k, {b, l, heads, d}), {0, 2, 1, 3});
    logits = Scale(MatMul(qh, kh, false, /*trans_b=*/true),
                   static_cast<float>(1.0 / std::sqrt(double(d))));  // [B, heads, L, L]
    if (synthetic.defined()) logits = Add(logits, synthetic);
  } else {
    logits = synthetic;
  }
  // flax's padding mask: valid(i) && valid(j), else -1e10 (one bias for the pair).
  std::vector<uint8_t> valid(static_cast<size_t>(b * l), 1);
  bool any = false;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t len = lengths.empty() ? l : lengths[i];
    LRA_CHECK(len >= 0 && len <= l) << "SynthesizerAttention: length " << len << " not in [0, "
                                    << l << "]";
    for (int64_t j = 0; j < l; ++j) {
      valid[i * l + j] = j < len && (mask.empty() || mask[i * l + j] != 0);
      any |= !valid[i * l + j];
    }
  }
  if (any) {
    Tensor bias = Tensor::Zeros({b, 1, l, l});
    float* p = bias.data<float>();
    for (int64_t z = 0; z < b; ++z)
      for (int64_t i = 0; i < l; ++i)
        for (int64_t j = 0; j < l; ++j)
          if (!valid[z * l + i] || !valid[z * l + j]) p[(z * l + i) * l + j] = kSynthesizerMaskBias;
    logits = Add(logits, Constant(bias));
  }
  if (logits.dim(0) != b) logits = Add(logits, Constant(Tensor::Zeros({b, 1, 1, 1})));
  Var p = Softmax(logits);
  if (dropout > 0) p = Dropout(p, dropout, /*training=*/true, *rng);
  const Var vh = Permute(Reshape(v, {b, l, heads, dv}), {0, 2, 1, 3});
  return Reshape(Permute(MatMul(p, vh), {0, 2, 1, 3}), {b, l, heads * dv});
}

}  // namespace lra

#include "core/ops/linear_attention.h"

#include "core/check.h"
#include "core/kernels/linear_attention.h"

namespace lra {

Var LinearAttention(const Var& q, const Var& k, const Var& v, const std::vector<int32_t>& lengths,
                    int heads) {
  LRA_CHECK(q.rank() == 3 && q.shape() == k.shape() && q.shape() == v.shape())
      << "LinearAttention: q " << q.shape().ToString() << " k " << k.shape().ToString() << " v "
      << v.shape().ToString() << " must all be [B, L, heads * d]";
  LRA_CHECK(heads >= 1 && q.dim(2) % heads == 0)
      << "LinearAttention: width " << q.dim(2) << " not divisible by " << heads << " heads";
  kernels::LinearAttentionShape s;
  s.batch = static_cast<int>(q.dim(0));
  s.length = static_cast<int>(q.dim(1));
  s.heads = heads;
  s.head_dim = static_cast<int>(q.dim(2) / heads);
  LRA_CHECK(lengths.empty() || static_cast<int>(lengths.size()) == s.batch)
      << "LinearAttention: " << lengths.size() << " lengths for batch " << s.batch;
  for (int32_t n : lengths)
    LRA_CHECK(n >= 0 && n <= s.length)
        << "LinearAttention: length " << n << " not in [0, " << s.length << "]";
  Tensor saved = Tensor::Empty({kernels::LinearAttentionSavedFloats(s)});
  Tensor out = Tensor::Empty(q.shape());
  kernels::LinearAttentionForward(s, q.value().data<float>(), k.value().data<float>(),
                                  v.value().data<float>(),
                                  lengths.empty() ? nullptr : lengths.data(), out.data<float>(),
                                  saved.data<float>());
  if (!NeedsGrad({q, k, v})) return Constant(out);
  return MakeOp("LinearAttention", out, {q, k, v},
                [q, k, v, lengths, s, out, saved](const Tensor& dout) {
    Tensor dq = Tensor::Empty(q.shape()), dk = Tensor::Empty(k.shape()),
           dv = Tensor::Empty(v.shape());
    kernels::LinearAttentionBackward(s, q.value().data<float>(), k.value().data<float>(),
                                     v.value().data<float>(),
                                     lengths.empty() ? nullptr : lengths.data(),
                                     out.data<float>(), saved.data<float>(), dout.data<float>(),
                                     dq.data<float>(), dk.data<float>(), dv.data<float>());
    if (q.requires_grad()) AddInto(q.GradForAccumulate(), dq);
    if (k.requires_grad()) AddInto(k.GradForAccumulate(), dk);
    if (v.requires_grad()) AddInto(v.GradForAccumulate(), dv);
  });
}

}  // namespace lra

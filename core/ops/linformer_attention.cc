#include "core/ops/linformer_attention.h"

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

Var LinformerAttention(const Var& q, const Var& k, const Var& v, const Var& e,
                       const std::vector<int32_t>& lengths, int heads, float dropout, Rng* rng) {
  LRA_CHECK(q.rank() == 3 && q.shape() == k.shape() && q.shape() == v.shape())
      << "LinformerAttention: q " << q.shape().ToString() << " k " << k.shape().ToString()
      << " v " << v.shape().ToString() << " must all be [B, L, heads * d]";
  const int64_t b = q.dim(0), l = q.dim(1), w = q.dim(2);
  LRA_CHECK(heads >= 1 && w % heads == 0)
      << "LinformerAttention: width " << w << " not divisible by " << heads << " heads";
  LRA_CHECK(e.rank() == 2 && e.dim(0) >= l)
      << "LinformerAttention: projection " << e.shape().ToString() << " must be [P >= " << l
      << ", k]";
  LRA_CHECK(lengths.empty() || static_cast<int64_t>(lengths.size()) == b)
      << "LinformerAttention: " << lengths.size() << " lengths for batch " << b;
  LRA_CHECK(dropout == 0 || rng != nullptr) << "LinformerAttention: dropout needs an rng";
  const int64_t d = w / heads, r = e.dim(1);
  Var keys = k, values = v;
  bool padded = false;
  for (int32_t n : lengths) {
    LRA_CHECK(n >= 0 && n <= l) << "LinformerAttention: length " << n << " not in [0, " << l
                                << "]";
    padded |= n < l;
  }
  if (padded) {  // zero the rows past each length before they are mixed
    Tensor m = Tensor::Zeros({b, l, 1});
    for (int64_t i = 0; i < b; ++i)
      for (int64_t j = 0; j < lengths[i]; ++j) m.data<float>()[i * l + j] = 1.0f;
    keys = Mul(k, Constant(m));
    values = Mul(v, Constant(m));
  }
  const Var es = e.dim(0) == l ? e : Slice(e, 0, 0, l);  // [L, k]
  // [B, L, W]^T [L, k] = [B, W, k] = [B, heads, d, k].
  const Var kp = Reshape(MatMul(keys, es, /*trans_a=*/true), {b, heads, d, r});
  const Var vp = Reshape(MatMul(values, es, /*trans_a=*/true), {b, heads, d, r});
  const Var qh = Permute(Reshape(q, {b, l, heads, d}), {0, 2, 1, 3});  // [B, heads, L, d]
  Var p = Softmax(Scale(MatMul(qh, kp), static_cast<float>(1.0 / std::sqrt(double(d)))));
  if (dropout > 0) p = Dropout(p, dropout, /*training=*/true, *rng);
  const Var out = MatMul(p, vp, false, /*trans_b=*/true);  // [B, heads, L, d]
  return Reshape(Permute(out, {0, 2, 1, 3}), {b, l, w});
}

}  // namespace lra

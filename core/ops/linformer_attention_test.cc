// LinformerAttention (the op): forward against a double reference written from
// linformer_attention.h, gradients (q, k, v and the projection E) by central differences, with
// and without padding; padding past a length changes nothing; dropout draws.
#include "core/ops/linformer_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/testing/grad_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;
using Vec = std::vector<double>;

// out[b, i, h] = sum_r softmax_r(q_i . K'_r / sqrt(d)) V'_r, K'_r = sum_{j < len} E[j, r] k_j.
Vec Ref(const Vec& q, const Vec& k, const Vec& v, const Vec& e, int b, int l, int heads, int d,
        int r, const std::vector<int32_t>& lengths) {
  const int w = heads * d;
  Vec out(q.size(), 0.0);
  for (int z = 0; z < b; ++z) {
    const int len = lengths.empty() ? l : lengths[z];
    Vec kp(r * w, 0.0), vp(r * w, 0.0);
    for (int t = 0; t < r; ++t)
      for (int j = 0; j < len; ++j)
        for (int c = 0; c < w; ++c) {
          kp[t * w + c] += e[j * r + t] * k[(z * l + j) * w + c];
          vp[t * w + c] += e[j * r + t] * v[(z * l + j) * w + c];
        }
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < l; ++i) {
        Vec s(r);
        double mx = -1e300, zs = 0;
        for (int t = 0; t < r; ++t) {
          s[t] = 0;
          for (int c = 0; c < d; ++c) s[t] += q[(z * l + i) * w + h * d + c] * kp[t * w + h * d + c];
          s[t] /= std::sqrt(double(d));
          mx = std::max(mx, s[t]);
        }
        for (int t = 0; t < r; ++t) zs += s[t] = std::exp(s[t] - mx);
        for (int t = 0; t < r; ++t)
          for (int c = 0; c < d; ++c)
            out[(z * l + i) * w + h * d + c] += s[t] / zs * vp[t * w + h * d + c];
      }
  }
  return out;
}

TEST(LinformerAttentionOpTest, MatchesReferenceAndGradients) {
  Rng rng(71);
  const int b = 2, l = 6, heads = 2, d = 3, p = 8, r = 3;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng),
         e = testing::RandomTensor({p, r}, rng);
  for (const std::vector<int32_t>& lengths : {std::vector<int32_t>{}, std::vector<int32_t>{6, 2}}) {
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) {
      return LinformerAttention(in[0], in[1], in[2], in[3], lengths, heads, 0.0f, nullptr);
    };
    c.ref = [&](const std::vector<Vec>& in) {
      return Ref(in[0], in[1], in[2], in[3], b, l, heads, d, r, lengths);
    };
    c.reduction_length = l * d;  // the projection's L-term sums, then d-term dots
    SCOPED_TRACE(lengths.size());
    CheckOp(c, {q, k, v, e});
  }
}

// An example's output does not depend on what lies past its length.
TEST(LinformerAttentionOpTest, PaddingIsIgnored) {
  Rng rng(72);
  const int l = 5, w = 4;
  Tensor q = testing::RandomTensor({1, l, w}, rng), k = testing::RandomTensor({1, l, w}, rng),
         v = testing::RandomTensor({1, l, w}, rng), e = testing::RandomTensor({6, 2}, rng);
  Var a = LinformerAttention(Constant(q), Constant(k), Constant(v), Constant(e), {3}, 2, 0, nullptr);
  for (int i = 3 * w; i < l * w; ++i) k.data<float>()[i] = v.data<float>()[i] = 100.0f;
  Var b = LinformerAttention(Constant(q), Constant(k), Constant(v), Constant(e), {3}, 2, 0, nullptr);
  const std::vector<float> av = a.value().ToVector(), bv = b.value().ToVector();
  for (int i = 0; i < 3 * w; ++i) EXPECT_EQ(av[i], bv[i]) << i;
}

TEST(LinformerAttentionOpTest, DropoutActsOnProbabilities) {
  Rng rng(73);
  Tensor q = testing::RandomTensor({1, 4, 4}, rng), e = testing::RandomTensor({4, 2}, rng);
  Rng d1(1), d2(1);
  Var plain = LinformerAttention(Constant(q), Constant(q), Constant(q), Constant(e), {}, 2, 0, &d1);
  Var drop = LinformerAttention(Constant(q), Constant(q), Constant(q), Constant(e), {}, 2, 0.5f, &d2);
  EXPECT_EQ(d1.counter(), 0u);
  EXPECT_GT(d2.counter(), 0u);
  EXPECT_NE(plain.value().ToVector(), drop.value().ToVector());
}

}  // namespace
}  // namespace lra

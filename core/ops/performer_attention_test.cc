// PerformerAttention and its parts (the ops): forward against a double reference written from
// performer_attention.h and core/kernels/favor.h, gradients by core/testing/grad_check.h's
// central differences, with and without padding; the projection draw and the redraw policy.
#include "core/ops/performer_attention.h"

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

// Features [B, L, heads, m] of x [B, L, heads, d] (relu when w is empty, else FAVOR+ with w
// [m, d] or [B, m, d]).
Vec RefFeatures(const Vec& x, const Vec& w, bool per_example, int b, int l, int heads, int d,
                int m, const std::vector<int32_t>& lengths, bool is_query) {
  Vec f(static_cast<size_t>(b) * l * heads * m, 0.0);
  if (w.empty()) {
    for (size_t i = 0; i < x.size(); ++i) f[i] = std::max(0.0, x[i]) + 1e-3;
    return f;
  }
  const double c = std::pow(d, -0.25), rho = 1 / std::sqrt(double(m));
  for (int z = 0; z < b; ++z)
    for (int h = 0; h < heads; ++h) {
      const int len = is_query || lengths.empty() ? l : lengths[z];
      auto u = [&](int i, int r) {
        double s = 0;
        for (int e = 0; e < d; ++e)
          s += c * x[((z * l + i) * heads + h) * d + e] *
               w[(per_example ? z * m * d : 0) + r * d + e];
        return s;
      };
      auto g = [&](int i) {
        double s = 0;
        for (int e = 0; e < d; ++e) s += x[((z * l + i) * heads + h) * d + e] * x[((z * l + i) * heads + h) * d + e];
        return s * c * c / 2;
      };
      double kmax = -1e300;
      for (int i = 0; i < len && !is_query; ++i)
        for (int r = 0; r < m; ++r) kmax = std::max(kmax, u(i, r));
      for (int i = 0; i < len; ++i) {
        double mx = kmax;
        if (is_query) {
          mx = -1e300;
          for (int r = 0; r < m; ++r) mx = std::max(mx, u(i, r));
        }
        for (int r = 0; r < m; ++r)
          f[((z * l + i) * heads + h) * m + r] = rho * (std::exp(u(i, r) - g(i) - mx) + 1e-6);
      }
    }
  return f;
}

// out_i = sum_{j < len} (qf_i.kf_j) v_j / (R_i + 2 s [|R_i| <= s]), R_i = sum_{j < len} qf_i.kf_j.
Vec RefAttention(const Vec& qf, const Vec& kf, const Vec& v, int b, int l, int heads, int m,
                 int d, const std::vector<int32_t>& lengths, double s) {
  Vec out(static_cast<size_t>(b) * l * heads * d, 0.0);
  for (int z = 0; z < b; ++z)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < l; ++i) {
        double den = 0;
        Vec num(d, 0.0);
        for (int j = 0; j < (lengths.empty() ? l : lengths[z]); ++j) {
          double a = 0;
          for (int r = 0; r < m; ++r)
            a += qf[((z * l + i) * heads + h) * m + r] * kf[((z * l + j) * heads + h) * m + r];
          den += a;
          for (int e = 0; e < d; ++e) num[e] += a * v[((z * l + j) * heads + h) * d + e];
        }
        if (std::abs(den) <= s) den += 2 * s;
        for (int e = 0; e < d; ++e) out[((z * l + i) * heads + h) * d + e] = num[e] / den;
      }
  return out;
}

TEST(PerformerAttentionOpTest, ReluFeaturesMatchReferenceAndGradients) {
  Rng rng(91);
  const int b = 2, l = 6, heads = 2, d = 3;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng);
  for (const std::vector<int32_t>& lengths : {std::vector<int32_t>{}, std::vector<int32_t>{6, 2}}) {
    OpCheck c;
    PerformerConfig cfg;
    cfg.heads = heads;
    c.op = [&](const std::vector<Var>& in) {
      return PerformerAttention(in[0], in[1], in[2], lengths, cfg);
    };
    c.ref = [&](const std::vector<Vec>& in) {
      return RefAttention(RefFeatures(in[0], {}, false, b, l, heads, d, d, lengths, true),
                          RefFeatures(in[1], {}, false, b, l, heads, d, d, lengths, false), in[2],
                          b, l, heads, d, d, lengths, 0.0);
    };
    c.reduction_length = l * d;  // L terms of length-d dots per output
    SCOPED_TRACE(lengths.size());
    CheckOp(c, {q, k, v});
  }
}

// FAVOR+ with a fixed shared projection and with per-example projections; m = 5 > d = 3 (two
// orthogonal blocks, the second truncated) and m = 2 < d (LRA's ListOps config has m = 2).
TEST(PerformerAttentionOpTest, FavorMatchesReferenceAndGradients) {
  Rng rng(92);
  const int b = 2, l = 6, heads = 2, d = 3;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng);
  for (int m : {5, 2})
    for (bool per_example : {false, true})
      for (const std::vector<int32_t>& lengths :
           {std::vector<int32_t>{}, std::vector<int32_t>{6, 2}}) {
        Rng wr(93 + m);
        Tensor w = per_example ? Tensor::Empty({b, m, d}) : DrawFavorProjection(m, d, wr);
        if (per_example)
          for (int z = 0; z < b; ++z) {
            Tensor one = DrawFavorProjection(m, d, wr);
            std::copy(one.data<float>(), one.data<float>() + m * d, w.data<float>() + z * m * d);
          }
        const Vec wd = testing::ToDouble(w);
        OpCheck c;
        c.op = [&](const std::vector<Var>& in) {
          return FeatureAttention(FavorFeatures(in[0], w, lengths, heads, true),
                                  FavorFeatures(in[1], w, lengths, heads, false), in[2], lengths,
                                  heads, 1e-6f);
        };
        c.ref = [&](const std::vector<Vec>& in) {
          return RefAttention(RefFeatures(in[0], wd, per_example, b, l, heads, d, m, lengths, true),
                              RefFeatures(in[1], wd, per_example, b, l, heads, d, m, lengths, false),
                              in[2], b, l, heads, m, d, lengths, 1e-6);
        };
        c.reduction_length = l * std::max(m, d);
        SCOPED_TRACE(::testing::Message() << "m " << m << " per_example " << per_example
                                        << " lengths " << lengths.size());
        CheckOp(c, {q, k, v});
      }
}

// The renormalizer's stabilizer: |R| <= s adds 2 s (features of mixed sign make R ~ 0).
TEST(PerformerAttentionOpTest, FeatureAttentionStabilizer) {
  Tensor qf = Tensor::FromVector({1, 1, 2}, {1.0f, 1.0f});
  Tensor kf = Tensor::FromVector({1, 1, 2}, {1e-7f, -1e-7f});  // R = 0
  Tensor v = Tensor::FromVector({1, 1, 1}, {3.0f});
  Var out = FeatureAttention(Constant(qf), Constant(kf), Constant(v), {}, 1, 1e-6f);
  EXPECT_FLOAT_EQ(out.value().data<float>()[0], 0.0f / 2e-6f);
  Var plain = FeatureAttention(Constant(qf), Constant(kf), Constant(v), {}, 1, 0.0f);
  EXPECT_TRUE(std::isnan(plain.value().data<float>()[0]));  // 0 / 0, as jnp.reciprocal(0) * 0
}

// GaussianOrthogonalRandomMatrix: rows within a block are orthogonal, each row's norm is that
// of a d-dimensional Gaussian (chi_d: not 1), and blocks differ.
TEST(PerformerAttentionOpTest, ProjectionIsBlockOrthogonal) {
  Rng rng(3);
  const int m = 10, d = 4;
  Tensor w = DrawFavorProjection(m, d, rng);
  const float* p = w.data<float>();
  for (int r = 0; r < m; ++r)
    for (int s = r + 1; s < std::min(m, r / d * d + d); ++s) {
      double dot = 0;
      for (int e = 0; e < d; ++e) dot += p[r * d + e] * p[s * d + e];
      EXPECT_NEAR(dot, 0.0, 1e-5) << r << " " << s;
    }
  double mean_sq = 0;
  for (int i = 0; i < m * d; ++i) mean_sq += p[i] * p[i] / m;
  EXPECT_GT(mean_sq, 0.5);  // E|row|^2 = d = 4; a unit-norm matrix would give exactly 1
  EXPECT_NE(mean_sq, 1.0);
}

// The redraw of the released code: the projection is a function of the queries' values: the
// same queries give the same projection, other values another; per example, so a batchmate or
// padding past the length changes nothing.
TEST(PerformerAttentionOpTest, QuerySeededRedrawIsPerExample) {
  Rng rng(5);
  Tensor q = testing::RandomTensor({2, 4, 6}, rng);
  Tensor a = DrawQuerySeededProjections(q, {4, 3}, 3, 3);
  Tensor again = DrawQuerySeededProjections(q, {4, 3}, 3, 3);
  EXPECT_EQ(a.ToVector(), again.ToVector());
  // Example 1 alone, padded differently: the same projection as in the batch.
  Tensor one = Tensor::Empty({1, 4, 6});
  std::copy(q.data<float>() + 24, q.data<float>() + 48, one.data<float>());
  one.data<float>()[3 * 6] = 42.0f;  // past its length 3
  Tensor alone = DrawQuerySeededProjections(one, {3}, 3, 3);
  const std::vector<float> av = a.ToVector(), lv = alone.ToVector();
  EXPECT_EQ(std::vector<float>(av.begin() + 9, av.end()), lv);
  EXPECT_NE(std::vector<float>(av.begin(), av.begin() + 9), lv);
  // A changed query value inside the length redraws.
  one.data<float>()[0] += 0.5f;
  EXPECT_NE(DrawQuerySeededProjections(one, {3}, 3, 3).ToVector(), lv);
}

}  // namespace
}  // namespace lra

#include "core/kernels/linear_attention.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace lra {
namespace kernels {
namespace {

constexpr double kEpsF32 = 1.1920928955078125e-07;  // 2^-23

// Double reference written from linear_attention.h, one query at a time: out_i =
// sum_{j < len} phi(q_i).phi(k_j) v_j / (sum_{j < len} phi(q_i).phi(k_j) + eps).
std::vector<double> Ref(const LinearAttentionShape& s, const std::vector<double>& q,
                        const std::vector<double>& k, const std::vector<double>& v,
                        const std::vector<int>& lengths) {
  auto phi = [](double x) { return x > 0 ? x + 1 : std::exp(x); };
  const int d = s.head_dim, w = s.heads * d;
  std::vector<double> out(q.size(), 0.0);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads; ++h)
      for (int i = 0; i < s.length; ++i) {
        double den = 1e-6;
        std::vector<double> num(d, 0.0);
        for (int j = 0; j < (lengths.empty() ? s.length : lengths[b]); ++j) {
          double a = 0;
          for (int e = 0; e < d; ++e)
            a += phi(q[(b * s.length + i) * w + h * d + e]) *
                 phi(k[(b * s.length + j) * w + h * d + e]);
          den += a;
          for (int e = 0; e < d; ++e) num[e] += a * v[(b * s.length + j) * w + h * d + e];
        }
        for (int e = 0; e < d; ++e) out[(b * s.length + i) * w + h * d + e] = num[e] / den;
      }
  return out;
}

// Forward against Ref, gradients against its central differences (h = 1e-6 in double:
// accurate to ~1e-9). Tolerance: each output is a ratio of two length-L sums of length-d dot
// products of phi values (exp within 4 ulp: core/kernels/vmath), the denominator's terms all
// positive; the float kernel sums in another order (KV first), so a first-order bound is
// (L + d + 8) eps times the absolute-value scale of the terms (Higham, "Accuracy and Stability
// of Numerical Algorithms", 2nd ed., 3.1), which the positive weights keep at a few max|ref| for
// N(0, 1) inputs; the test allows 4 (L + d + 8) eps (1 + max|ref|) forward and twice that for
// gradients.
void Check(const LinearAttentionShape& s, const std::vector<int>& lengths, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n;
  const size_t size = static_cast<size_t>(s.batch) * s.length * s.heads * s.head_dim;
  std::vector<float> q(size), k(size), v(size), go(size);
  for (auto* x : {&q, &k, &v, &go})
    for (float& y : *x) y = n(g);
  std::vector<float> out(size), saved(LinearAttentionSavedFloats(s));
  const int* lp = lengths.empty() ? nullptr : lengths.data();
  LinearAttentionForward(s, q.data(), k.data(), v.data(), lp, out.data(), saved.data());
  std::vector<double> qd(q.begin(), q.end()), kd(k.begin(), k.end()), vd(v.begin(), v.end());
  const std::vector<double> ref = Ref(s, qd, kd, vd, lengths);
  const double tol = 4 * (s.length + s.head_dim + 8) * kEpsF32;
  double scale = 0, err = 0;
  for (size_t i = 0; i < size; ++i) {
    scale = std::max(scale, std::abs(ref[i]));
    err = std::max(err, std::abs(ref[i] - out[i]));
  }
  EXPECT_LE(err, tol * (1 + scale)) << "forward";
  std::vector<float> dq(size), dk(size), dv(size);
  LinearAttentionBackward(s, q.data(), k.data(), v.data(), lp, out.data(), saved.data(),
                          go.data(), dq.data(), dk.data(), dv.data());
  auto loss = [&]() {
    const std::vector<double> o = Ref(s, qd, kd, vd, lengths);
    double l = 0;
    for (size_t i = 0; i < size; ++i) l += o[i] * go[i];
    return l;
  };
  for (auto [x, gr, name] : {std::make_tuple(&qd, &dq, "dq"), std::make_tuple(&kd, &dk, "dk"),
                             std::make_tuple(&vd, &dv, "dv")}) {
    double gs = 0, ge = 0;
    for (size_t i = 0; i < size; ++i) {
      const double x0 = (*x)[i], h = 1e-6;
      (*x)[i] = x0 + h;
      const double lp1 = loss();
      (*x)[i] = x0 - h;
      const double lm = loss();
      (*x)[i] = x0;
      const double num = (lp1 - lm) / (2 * h);
      gs = std::max(gs, std::abs(num));
      ge = std::max(ge, std::abs(num - (*gr)[i]));
    }
    EXPECT_LE(ge, 2 * tol * (1 + gs)) << name;
  }
}

TEST(LinearAttention, MatchesReference) { Check({2, 9, 2, 3}, {}, 1); }

// Keys past the length enter neither KV nor ksum (their dk, dv are 0); length 0 gives out = 0.
TEST(LinearAttention, PaddedKeysAreExcluded) { Check({3, 8, 2, 4}, {8, 5, 0}, 2); }

// Padding does not reach a real position: an example's outputs are the same alone and padded.
TEST(LinearAttention, PaddingDoesNotChangeRealRows) {
  const LinearAttentionShape alone{1, 5, 1, 4}, padded{1, 12, 1, 4};
  std::mt19937 g(3);
  std::normal_distribution<float> n;
  std::vector<float> q(48), k(48), v(48);
  for (auto* x : {&q, &k, &v})
    for (float& y : *x) y = n(g);
  std::vector<float> a(20), b(48), sa(LinearAttentionSavedFloats(alone)),
      sb(LinearAttentionSavedFloats(padded));
  const int len = 5;
  LinearAttentionForward(alone, q.data(), k.data(), v.data(), nullptr, a.data(), sa.data());
  LinearAttentionForward(padded, q.data(), k.data(), v.data(), &len, b.data(), sb.data());
  for (int i = 0; i < 20; ++i) EXPECT_FLOAT_EQ(a[i], b[i]);
}

}  // namespace
}  // namespace kernels
}  // namespace lra

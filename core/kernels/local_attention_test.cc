#include "core/kernels/local_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "core/kernels/attention.h"
#include "core/kernels/attention_reference_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace kernels {
namespace {

using testing::kEpsF32;

struct Case : testing::KernelInputs {
  LocalAttentionShape s;
  std::vector<int> lengths;    // empty: none
  std::vector<uint8_t> mask;   // empty: none
  const int* lens() const { return lengths.empty() ? nullptr : lengths.data(); }
  const uint8_t* m() const { return mask.empty() ? nullptr : mask.data(); }
};

Case MakeCase(int b, int l, int heads, int d, int block, uint32_t seed) {
  Case c;
  static_cast<testing::KernelInputs&>(c) =
      testing::RandomKernelInputs(static_cast<size_t>(b) * l * heads * d, seed);
  c.s = {b, l, heads, d, block};
  return c;
}

// Double reference of local_attention.h, written from its comment, one (b, head, query) at a
// time over global positions: key j is seen by query i iff j / w == i / w (same window) and j
// is valid. A masked query row is softmax(s - s0) over its window, s0 its scores at the
// unperturbed inputs (recorded in `frozen` on the first call): uniform there, with the
// softmax Jacobian at the uniform row as derivative, which is flax's autodiff of the -1e10 bias.
std::vector<double> Ref(const Case& c, const std::vector<double>& q, const std::vector<double>& k,
                        const std::vector<double>& v, std::map<int64_t, std::vector<double>>& frozen,
                        bool record) {
  const auto& s = c.s;
  const int64_t hd = static_cast<int64_t>(s.heads) * s.head_dim;
  std::vector<double> out(q.size(), 0.0);
  for (int b = 0; b < s.batch; ++b) {
    const int len = c.lengths.empty() ? s.length : c.lengths[b];
    auto valid = [&](int t) { return t < len && (c.mask.empty() || c.mask[b * s.length + t]); };
    for (int h = 0; h < s.heads; ++h)
      for (int i = 0; i < s.length; ++i) {
        const int j0 = i / s.block * s.block, j1 = std::min(j0 + s.block, s.length);
        std::vector<double> sc(j1 - j0), pr(j1 - j0, 0.0);
        for (int j = j0; j < j1; ++j) {
          double dot = 0;
          for (int e = 0; e < s.head_dim; ++e)
            dot += q[(b * s.length + i) * hd + h * s.head_dim + e] *
                   k[(b * s.length + j) * hd + h * s.head_dim + e];
          sc[j - j0] = dot / std::sqrt(double(s.head_dim));
        }
        double z = 0;
        if (valid(i)) {
          double mx = -1e300;
          for (int j = j0; j < j1; ++j)
            if (valid(j)) mx = std::max(mx, sc[j - j0]);
          for (int j = j0; j < j1; ++j) z += pr[j - j0] = valid(j) ? std::exp(sc[j - j0] - mx) : 0;
        } else {
          std::vector<double>& s0 = frozen[(int64_t{b} * s.heads + h) * s.length + i];
          if (record) s0 = sc;
          for (int j = j0; j < j1; ++j) z += pr[j - j0] = std::exp(sc[j - j0] - s0[j - j0]);
        }
        for (int j = j0; j < j1; ++j)
          for (int e = 0; e < s.head_dim; ++e)
            out[(b * s.length + i) * hd + h * s.head_dim + e] +=
                pr[j - j0] / z * v[(b * s.length + j) * hd + h * s.head_dim + e];
      }
  }
  return out;
}

// Forward against the reference; dq, dk, dv against central differences of <Ref, dout>.
// Tolerance: every output is a sum of <= w probabilities times values, each probability from a
// length-d dot, an exp (~2 ulp) and a length-w normaliser; backward adds the length-w and
// length-d sums of dS, D and the GEMMs. A first-order bound is (2w + 2d + 20) eps times the
// sum of the absolute terms (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd
// ed., 3.1); with N(0, 1) inputs and convex weights that sum is a few times max|ref|, so the
// test allows 4 (2w + 2d + 20) eps (1 + max|ref|) forward and twice that for gradients (two
// chained sums).
void Check(const Case& c) {
  const auto& s = c.s;
  std::vector<float> out(c.q.size()), saved(LocalAttentionSavedFloats(s));
  LocalAttentionForward(s, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(), 0.0f, 0,
                        out.data(), saved.data());
  std::vector<float> dq(c.q.size()), dk(c.q.size()), dv(c.q.size());
  LocalAttentionBackward(s, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(), 0.0f, 0,
                         saved.data(), c.dout.data(), dq.data(), dk.data(), dv.data());
  std::map<int64_t, std::vector<double>> frozen;
  testing::CheckAgainstReference(
      c, out, dq, dk, dv,
      [&](const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
          bool record) { return Ref(c, q, k, v, frozen, record); },
      4 * (2 * s.block + 2 * s.head_dim + 20) * kEpsF32);
}

TEST(LocalAttention, MatchesReferenceDivisible) { Check(MakeCase(2, 12, 2, 4, 4, 1)); }

TEST(LocalAttention, MatchesReferenceShortLastWindow) { Check(MakeCase(2, 11, 2, 3, 4, 2)); }

TEST(LocalAttention, MatchesReferenceWithLengthsAndMask) {
  Case c = MakeCase(3, 13, 2, 4, 5, 3);
  c.lengths = {13, 7, 0};  // a padded tail inside a window, and an all-padding example
  c.mask.assign(3 * 13, 1);
  c.mask[2] = c.mask[3] = 0;               // masked positions inside the length
  for (int t = 5; t < 10; ++t) c.mask[13 + t] = 0;  // a whole window of example 1 masked
  Check(c);
}

// A window covering the whole sequence is dense attention (core/kernels/attention.h), masked
// rows and dropout included: the same mask bits, so the outputs agree to rounding.
TEST(LocalAttention, WholeSequenceWindowIsDenseAttention) {
  for (float rate : {0.0f, 0.3f}) {
    Case c = MakeCase(2, 9, 2, 4, 16, 4);
    c.lengths = {9, 5};
    c.mask.assign(18, 1);
    c.mask[3] = 0;
    AttentionShape as{2, 9, 2, 4, false};
    Attention dense;
    AttentionDropout drop{rate, 0x1234567890abcdefULL};
    std::vector<float> want(c.q.size()), dsaved(dense.SavedFloats(as));
    dense.Forward(as, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(), drop, want.data(),
                  dsaved.data());
    std::vector<float> got(c.q.size()), saved(LocalAttentionSavedFloats(c.s));
    LocalAttentionForward(c.s, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(), rate,
                          drop.seed, got.data(), saved.data());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << rate << " " << i;
    std::vector<float> g[6];
    for (auto& x : g) x.resize(c.q.size());
    dense.Backward(as, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(), drop, want.data(),
                   dsaved.data(), c.dout.data(), g[0].data(), g[1].data(), g[2].data());
    LocalAttentionBackward(c.s, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(), rate,
                           drop.seed, saved.data(), c.dout.data(), g[3].data(), g[4].data(),
                           g[5].data());
    for (int t = 0; t < 3; ++t)
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(g[3 + t][i], g[t][i], 1e-4) << rate << " grad " << t << " " << i;
  }
}

// Only the window matters: changing keys and values outside a query's window leaves its output.
TEST(LocalAttention, QueriesSeeOnlyTheirWindow) {
  Case c = MakeCase(1, 16, 1, 4, 4, 5);
  std::vector<float> a(c.q.size()), b(c.q.size()), saved(LocalAttentionSavedFloats(c.s));
  LocalAttentionForward(c.s, c.q.data(), c.k.data(), c.v.data(), nullptr, nullptr, 0, 0, a.data(),
                        saved.data());
  for (int t = 8; t < 16; ++t)
    for (int e = 0; e < 4; ++e) c.k[t * 4 + e] = c.v[t * 4 + e] = 100.0f;
  LocalAttentionForward(c.s, c.q.data(), c.k.data(), c.v.data(), nullptr, nullptr, 0, 0, b.data(),
                        saved.data());
  for (int i = 0; i < 8 * 4; ++i) EXPECT_EQ(a[i], b[i]);
  for (int i = 8 * 4; i < 16 * 4; ++i) EXPECT_NE(a[i], b[i]);
}

}  // namespace
}  // namespace kernels
}  // namespace lra

// LshAttention (the op): forward against a double reference written from
// core/kernels/lsh_attention.h's comment, and gradients with respect to x and v by central
// differences of that reference with the hash rotations and the bucket assignment fixed (the
// buckets are computed once, in double, at the unperturbed inputs, and must equal the kernel's).
#include "core/ops/lsh_attention.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/kernels/lsh_attention.h"
#include "core/testing/grad_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

using D = std::vector<double>;
using testing::CheckOp;
using testing::OpCheck;

struct Geo {
  int b, l, heads, d, hashes, buckets, chunk;
  std::vector<int32_t> lengths;
  std::vector<uint8_t> mask;
  int len(int z) const { return lengths.empty() ? l : lengths[z]; }
  bool valid(int z, int t) const { return t < len(z) && (mask.empty() || mask[z * l + t]); }
  int64_t at(int z, int t, int h) const { return ((int64_t{z} * l + t) * heads + h) * d; }
};

// Buckets [b][h][r * len + t] in double.
std::vector<std::vector<std::vector<int>>> RefBuckets(const Geo& g, const D& x,
                                                      const std::vector<float>& rot) {
  const int half = g.buckets / 2;
  std::vector<std::vector<std::vector<int>>> out(g.b, std::vector<std::vector<int>>(g.heads));
  for (int z = 0; z < g.b; ++z)
    for (int h = 0; h < g.heads; ++h) {
      out[z][h].resize(g.hashes * g.len(z));
      for (int r = 0; r < g.hashes; ++r)
        for (int t = 0; t < g.len(z); ++t) {
          std::vector<double> c(g.buckets);
          for (int k = 0; k < half; ++k) {
            double s = 0;
            for (int e = 0; e < g.d; ++e)
              s += x[g.at(z, t, h) + e] * rot[(e * g.hashes + r) * half + k];
            c[k] = s;
            c[half + k] = -s;
          }
          out[z][h][r * g.len(z) + t] =
              static_cast<int>(std::max_element(c.begin(), c.end()) - c.begin());
        }
    }
  return out;
}

D RefLsh(const Geo& g, const D& x, const D& v,
         const std::vector<std::vector<std::vector<int>>>& bk) {
  D out(x.size(), 0.0);
  for (int z = 0; z < g.b; ++z)
    for (int h = 0; h < g.heads; ++h) {
      const int len = g.len(z), n = g.hashes * len, nch = (n + g.chunk - 1) / g.chunk;
      if (n == 0) continue;
      std::vector<int> order(n);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int a, int c) {
        auto key = [&](int it) {
          return std::make_pair((it / len) * g.buckets + bk[z][h][it], it % len);
        };
        return key(a) < key(c);
      });
      std::vector<D> o(n, D(g.d, 0.0));
      D lse(n, 0.0);
      for (int i = 0; i < n; ++i) {
        const int it = order[i], t = it % len, m = i / g.chunk;
        std::vector<int> cand;
        for (int j = m * g.chunk; j < std::min(n, (m + 1) * g.chunk); ++j)
          cand.push_back(order[j] % len);
        if (nch > 1) {
          const int pm = (m + nch - 1) % nch;
          for (int j = pm * g.chunk; j < std::min(n, (pm + 1) * g.chunk); ++j)
            cand.push_back(order[j] % len);
        }
        D p(cand.size(), 0.0);
        double z0 = 0;
        for (size_t k = 0; k < cand.size(); ++k) {
          if (!g.valid(z, t)) {
            z0 += p[k] = 1.0;
            continue;
          }
          if (!g.valid(z, cand[k])) continue;
          double s = 0;
          for (int e = 0; e < g.d; ++e) s += x[g.at(z, t, h) + e] * x[g.at(z, cand[k], h) + e];
          z0 += p[k] = std::exp(s / std::sqrt(double(g.d)));
        }
        lse[it] = std::log(z0);
        for (size_t k = 0; k < cand.size(); ++k)
          for (int e = 0; e < g.d; ++e) o[it][e] += p[k] / z0 * v[g.at(z, cand[k], h) + e];
      }
      for (int t = 0; t < len; ++t) {
        double zz = 0;
        for (int r = 0; r < g.hashes; ++r) zz += std::exp(lse[r * len + t]);
        for (int r = 0; r < g.hashes; ++r)
          for (int e = 0; e < g.d; ++e)
            out[g.at(z, t, h) + e] += std::exp(lse[r * len + t]) / zz * o[r * len + t][e];
      }
    }
  return out;
}

void Check(const Geo& g, uint64_t seed) {
  Rng rng(seed);
  const int width = g.heads * g.d;
  Tensor x = testing::RandomTensor({g.b, g.l, width}, rng),
         v = testing::RandomTensor({g.b, g.l, width}, rng);
  const std::vector<float> rot = LshRotations(seed, g.d, g.hashes, g.buckets);
  const auto bk = RefBuckets(g, testing::ToDouble(x), rot);
  // The kernel's float buckets are the reference's.
  kernels::LshShape s{g.b, g.l, g.heads, g.d, g.hashes, g.buckets, g.chunk};
  const std::vector<int32_t> kb = kernels::LshBuckets(
      s, x.data<float>(), rot.data(), g.lengths.empty() ? nullptr : g.lengths.data());
  for (int z = 0; z < g.b; ++z)
    for (int h = 0; h < g.heads; ++h)
      for (int r = 0; r < g.hashes; ++r)
        for (int t = 0; t < g.len(z); ++t)
          ASSERT_EQ(kb[((z * g.heads + h) * g.hashes + r) * g.l + t], bk[z][h][r * g.len(z) + t]);
  OpCheck c;
  c.op = [&](const std::vector<Var>& in) {
    return LshAttention(in[0], in[1], rot, g.lengths, {g.heads, g.hashes, g.buckets, g.chunk},
                        g.mask);
  };
  c.ref = [&](const std::vector<D>& in) { return RefLsh(g, in[0], in[1], bk); };
  c.reduction_length = 2 * g.chunk * g.d * g.hashes;  // d per score, 2 chunk per round, rounds
  CheckOp(c, {x, v});
}

TEST(LshAttentionOpTest, OneHashMatchesReferenceAndGradients) {
  Check({2, 9, 2, 3, 1, 4, 3, {}, {}}, 41);
}

TEST(LshAttentionOpTest, TwoHashesPaddingAndMaskMatchReferenceAndGradients) {
  Geo g{2, 9, 2, 3, 2, 4, 3, {9, 5}, {}};
  g.mask.assign(2 * 9, 1);
  g.mask[2] = g.mask[9 + 1] = 0;  // pad tokens inside both examples
  Check(g, 42);
}

// One chunk (chunk >= n_hashes L) and one round: plain softmax attention over the valid keys,
// with shared queries and keys.
TEST(LshAttentionOpTest, OneChunkIsDenseSharedQkAttention) {
  Rng rng(43);
  const int l = 7, heads = 1, d = 4;
  Tensor x = testing::RandomTensor({1, l, d}, rng), v = testing::RandomTensor({1, l, d}, rng);
  const std::vector<float> got =
      LshAttention(Constant(x), Constant(v), LshRotations(1, d, 1, 6), {}, {heads, 1, 6, 7})
          .value()
          .ToVector();
  const D xd = testing::ToDouble(x), vd = testing::ToDouble(v);
  for (int i = 0; i < l; ++i) {
    D p(l);
    double z = 0;
    for (int j = 0; j < l; ++j) {
      double s = 0;
      for (int e = 0; e < d; ++e) s += xd[i * d + e] * xd[j * d + e];
      z += p[j] = std::exp(s / 2.0);
    }
    for (int e = 0; e < d; ++e) {
      double o = 0;
      for (int j = 0; j < l; ++j) o += p[j] / z * vd[j * d + e];
      EXPECT_NEAR(got[i * d + e], o, 1e-5);
    }
  }
}

// Padding past an example's length (any values, any amount) changes none of its outputs: only
// its own positions are hashed, sorted and chunked.
TEST(LshAttentionOpTest, PaddingDoesNotReachValidRows) {
  Rng rng(44);
  const int heads = 2, d = 4, len = 11, width = heads * d;
  Tensor x = testing::RandomTensor({1, len, width}, rng),
         v = testing::RandomTensor({1, len, width}, rng);
  const std::vector<float> rot = LshRotations(3, d, 2, 4);
  auto run = [&](int l) {
    auto pad = [&](const Tensor& t) {
      std::vector<float> y = t.ToVector();
      for (int i = len * width; i < l * width; ++i) y.push_back(50.0f * std::sin(float(i)));
      return Constant(Tensor::FromVector({1, l, width}, y));
    };
    std::vector<float> o =
        LshAttention(pad(x), pad(v), rot, {len}, {heads, 2, 4, 3}).value().ToVector();
    o.resize(len * width);
    return o;
  };
  EXPECT_EQ(run(len), run(len + 5));
  EXPECT_EQ(run(len), run(len + 40));
}

TEST(LshAttentionOpTest, RotationsAreAFunctionOfTheSeed) {
  EXPECT_EQ(LshRotations(7, 4, 2, 6), LshRotations(7, 4, 2, 6));
  EXPECT_NE(LshRotations(7, 4, 2, 6), LshRotations(8, 4, 2, 6));
  EXPECT_EQ(LshRotations(7, 4, 2, 6).size(), 4u * 2 * 3);
}

}  // namespace
}  // namespace lra

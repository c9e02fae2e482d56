// Sinkhorn attention ops (core/ops/sinkhorn_attention.h): each op's forward against a double
// reference written from core/kernels/sinkhorn_attention.h's comment, gradients by
// core/testing/grad_check.h's central differences of that reference, and the whole layer of
// LRA's `sinkhorn` model (block sums -> sort network -> normalisation -> local + sorted
// attention) checked the same way with respect to q, k, v and the sort network's weight. With
// padding, the output rows of masked queries are multiplied by 0 in op and reference alike: a
// masked query's flax gradient (uniform row, softmax Jacobian) is not the derivative of its
// output, which is constant (core/ops/local_attention_test.cc says the same).
#include "core/ops/sinkhorn_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/ops/local_attention.h"
#include "core/ops/ops.h"
#include "core/testing/grad_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

using D = std::vector<double>;
using testing::CheckOp;
using testing::OpCheck;

struct Geo {
  int b, l, heads, d, w;
  std::vector<int32_t> lengths;  // empty: full
  std::vector<uint8_t> mask;     // empty: none
  int len(int z) const { return lengths.empty() ? l : lengths[z]; }
  int nbl() const { return (l + w - 1) / w; }
  int nb(int z) const { return (len(z) + w - 1) / w; }
  bool valid(int z, int t) const { return t < len(z) && (mask.empty() || mask[z * l + t]); }
  int width() const { return heads * d; }
  double at(const D& x, int z, int t, int h, int e) const {
    return x[(z * l + t) * width() + h * d + e];
  }
};

// logits [B, heads, nbl, cols] -> [B, heads, nbl, nbl].
D RefNorm(const D& r, int batch, int heads, int nbl, int cols, const std::vector<int>& blocks,
          int iters, double temp) {
  D out(static_cast<size_t>(batch) * heads * nbl * nbl, 0.0);
  for (int z = 0; z < batch; ++z)
    for (int h = 0; h < heads; ++h) {
      const int n = blocks[z];
      std::vector<D> x(n, D(n));
      for (int a = 0; a < n; ++a)
        for (int c = 0; c < n; ++c) x[a][c] = r[((z * heads + h) * nbl + a) * cols + c] / temp;
      auto rows = [&] {
        for (int a = 0; a < n; ++a) {
          double s = 0;
          for (int c = 0; c < n; ++c) s += std::exp(x[a][c]);
          for (int c = 0; c < n; ++c) x[a][c] -= std::log(s);
        }
      };
      auto cols_step = [&] {
        for (int c = 0; c < n; ++c) {
          double s = 0;
          for (int a = 0; a < n; ++a) s += std::exp(x[a][c]);
          for (int a = 0; a < n; ++a) x[a][c] -= std::log(s);
        }
      };
      if (iters == 0) rows();
      for (int i = 0; i < iters; ++i) {
        rows();
        cols_step();
      }
      for (int a = 0; a < n; ++a)
        for (int c = 0; c < n; ++c) out[((z * heads + h) * nbl + a) * nbl + c] = std::exp(x[a][c]);
    }
  return out;
}

// Attention to the sorted blocks, from the kernel's comment.
D RefSorted(const Geo& g, const D& q, const D& k, const D& v, const D& perm) {
  const int w = g.w, d = g.d, nbl = g.nbl();
  D out(q.size(), 0.0);
  for (int z = 0; z < g.b; ++z)
    for (int h = 0; h < g.heads; ++h) {
      const int nb = g.nb(z);
      auto p = [&](int n, int l) { return perm[((z * g.heads + h) * nbl + n) * nbl + l]; };
      for (int i = 0; i < g.l; ++i) {
        const int n = i / w;
        D ks(w * d, 0.0), vs(w * d, 0.0);
        std::vector<bool> slot(w, false);
        for (int j = 0; j < w; ++j)
          for (int l = 0; l < nb && n < nb; ++l) {
            const int t = l * w + j;
            if (!g.valid(z, t)) continue;
            slot[j] = true;
            for (int e = 0; e < d; ++e) {
              ks[j * d + e] += p(n, l) * g.at(k, z, t, h, e);
              vs[j * d + e] += p(n, l) * g.at(v, z, t, h, e);
            }
          }
        D pr(w, 0.0);
        double tot = 0;
        for (int j = 0; j < w; ++j) {
          if (!g.valid(z, i)) {
            tot += pr[j] = 1.0;
            continue;
          }
          if (!slot[j]) continue;
          double s = 0;
          for (int e = 0; e < d; ++e) s += g.at(q, z, i, h, e) * ks[j * d + e];
          tot += pr[j] = std::exp(s / std::sqrt(double(d)));
        }
        for (int j = 0; j < w; ++j)
          for (int e = 0; e < d; ++e)
            out[(z * g.l + i) * g.width() + h * d + e] += pr[j] / tot * vs[j * d + e];
      }
    }
  return out;
}

// Block-local attention (core/kernels/local_attention.h).
D RefLocal(const Geo& g, const D& q, const D& k, const D& v) {
  D out(q.size(), 0.0);
  for (int z = 0; z < g.b; ++z)
    for (int h = 0; h < g.heads; ++h)
      for (int i = 0; i < g.l; ++i) {
        const int j0 = i / g.w * g.w, j1 = std::min(j0 + g.w, g.l);
        D pr(j1 - j0, 0.0);
        double tot = 0;
        for (int j = j0; j < j1; ++j) {
          if (!g.valid(z, i)) {
            tot += pr[j - j0] = 1.0;
            continue;
          }
          if (!g.valid(z, j)) continue;
          double s = 0;
          for (int e = 0; e < g.d; ++e) s += g.at(q, z, i, h, e) * g.at(k, z, j, h, e);
          tot += pr[j - j0] = std::exp(s / std::sqrt(double(g.d)));
        }
        for (int j = j0; j < j1; ++j)
          for (int e = 0; e < g.d; ++e)
            out[(z * g.l + i) * g.width() + h * g.d + e] += pr[j - j0] / tot * g.at(v, z, j, h, e);
      }
  return out;
}

// The whole layer: sum of keys per block (positions < length) -> logits = S W -> P -> local +
// sorted attention.
D RefLayer(const Geo& g, const D& q, const D& k, const D& v, const D& wsort, int cols, int iters,
           double temp) {
  const int nbl = g.nbl();
  D s(static_cast<size_t>(g.b) * g.heads * nbl * g.d, 0.0);
  for (int z = 0; z < g.b; ++z)
    for (int t = 0; t < g.len(z); ++t)
      for (int h = 0; h < g.heads; ++h)
        for (int e = 0; e < g.d; ++e)
          s[((z * g.heads + h) * nbl + t / g.w) * g.d + e] += g.at(k, z, t, h, e);
  D r(static_cast<size_t>(g.b) * g.heads * nbl * cols, 0.0);
  for (size_t row = 0; row < r.size() / cols; ++row)
    for (int c = 0; c < cols; ++c)
      for (int e = 0; e < g.d; ++e) r[row * cols + c] += s[row * g.d + e] * wsort[e * cols + c];
  std::vector<int> blocks(g.b);
  for (int z = 0; z < g.b; ++z) blocks[z] = g.nb(z);
  const D p = RefNorm(r, g.b, g.heads, nbl, cols, blocks, iters, temp);
  D out = RefLocal(g, q, k, v);
  const D so = RefSorted(g, q, k, v, p);
  for (size_t i = 0; i < out.size(); ++i) out[i] += so[i];
  return out;
}

// 1 on the output rows of valid queries, 0 on masked ones: [B, L, width].
std::vector<float> RowMask(const Geo& g) {
  std::vector<float> m(static_cast<size_t>(g.b) * g.l * g.width());
  for (int z = 0; z < g.b; ++z)
    for (int t = 0; t < g.l; ++t)
      std::fill_n(m.begin() + (z * g.l + t) * g.width(), g.width(), g.valid(z, t) ? 1.0f : 0.0f);
  return m;
}

D MaskRows(const Geo& g, D x) {
  const std::vector<float> m = RowMask(g);
  for (size_t i = 0; i < x.size(); ++i) x[i] *= m[i];
  return x;
}

TEST(SinkhornNormalizeTest, SoftmaxAndSinkhornMatchReferenceAndGradients) {
  Rng rng(31);
  const int batch = 2, heads = 2, nbl = 3, cols = 4;
  Tensor r = testing::RandomTensor({batch, heads, nbl, cols}, rng, -2.0f, 2.0f);
  const std::vector<int> blocks = {3, 2};
  for (int iters : {0, 1, 4}) {
    const double temp = iters == 0 ? 1.0 : 0.7;
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) {
      return SinkhornNormalize(in[0], blocks, {iters, static_cast<float>(temp)});
    };
    c.ref = [&](const std::vector<D>& in) {
      return RefNorm(in[0], batch, heads, nbl, cols, blocks, iters, temp);
    };
    c.reduction_length = nbl * (2 * iters + 1);  // a length-nb logsumexp per step
    SCOPED_TRACE(iters);
    CheckOp(c, {r});
  }
}

// Many iterations make the n x n block of each example doubly stochastic.
TEST(SinkhornNormalizeTest, SinkhornConvergesToDoublyStochastic) {
  Rng rng(32);
  Var r = Constant(testing::RandomTensor({1, 1, 4, 5}, rng, -1.0f, 1.0f));
  const std::vector<float> p = SinkhornNormalize(r, {4}, {50, 1.0f}).value().ToVector();
  for (int a = 0; a < 4; ++a) {
    double row = 0, col = 0;
    for (int c = 0; c < 4; ++c) {
      row += p[a * 4 + c];
      col += p[c * 4 + a];
    }
    EXPECT_NEAR(row, 1.0, 1e-5);
    EXPECT_NEAR(col, 1.0, 1e-5);
  }
}

TEST(SortedBlockAttentionTest, MatchesReferenceAndGradients) {
  Rng rng(33);
  Geo g{2, 7, 2, 3, 3, {}, {}};  // blocks [0, 3), [3, 6), [6, 7)
  const int nbl = g.nbl();
  Tensor q = testing::RandomTensor({g.b, g.l, g.width()}, rng),
         k = testing::RandomTensor({g.b, g.l, g.width()}, rng),
         v = testing::RandomTensor({g.b, g.l, g.width()}, rng),
         p = testing::RandomTensor({g.b, g.heads, nbl, nbl}, rng, 0.0f, 1.0f);
  for (int variant = 0; variant < 3; ++variant) {
    if (variant >= 1) g.lengths = {7, 4};                                   // example 1: 2 blocks
    if (variant == 2) g.mask = {1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1};  // pad tokens
    const std::vector<float> rows = RowMask(g);
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) {
      Var o = SortedBlockAttention(in[0], in[1], in[2], in[3], g.lengths, {g.heads, g.w}, g.mask);
      return Mul(o, Constant(Tensor::FromVector(o.shape(), rows)));
    };
    c.ref = [&](const std::vector<D>& in) {
      return MaskRows(g, RefSorted(g, in[0], in[1], in[2], in[3]));
    };
    c.reduction_length = g.w * g.d + nbl;  // d per score, w per output, nb per mixed key
    SCOPED_TRACE(variant);
    CheckOp(c, {q, k, v, p});
    // Masked rows' forward, unmasked.
    const std::vector<float> got =
        SortedBlockAttention(Constant(q), Constant(k), Constant(v), Constant(p), g.lengths,
                             {g.heads, g.w}, g.mask)
            .value()
            .ToVector();
    const D ref = RefSorted(g, testing::ToDouble(q), testing::ToDouble(k), testing::ToDouble(v),
                            testing::ToDouble(p));
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-5) << i;
  }
}

// The layer of models/sinkhorn, op by op, against RefLayer: gradients reach q, k, v and the
// sort network's weight through both attention terms, the normalisation and the block sums.
TEST(SinkhornLayerTest, ComposedOpsMatchReferenceAndGradients) {
  Rng rng(34);
  Geo g{2, 8, 2, 2, 3, {8, 5}, {}};  // 3 blocks; example 1 has 2
  const int cols = 4, nbl = g.nbl();
  Tensor q = testing::RandomTensor({g.b, g.l, g.width()}, rng),
         k = testing::RandomTensor({g.b, g.l, g.width()}, rng),
         v = testing::RandomTensor({g.b, g.l, g.width()}, rng),
         w = testing::RandomTensor({g.d, cols}, rng);
  const std::vector<float> rows = RowMask(g);
  for (int iters : {0, 2}) {
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) {
      const std::vector<int> blocks = SinkhornExampleBlocks(g.lengths, g.b, g.l, g.w);
      Var p = SinkhornNormalize(Linear(BlockKeySum(in[1], g.lengths, g.heads, g.w), in[3]), blocks,
                                {iters, 0.8f});
      Var o = Add(LocalAttention(in[0], in[1], in[2], g.lengths, {g.heads, g.w}),
                  SortedBlockAttention(in[0], in[1], in[2], p, g.lengths, {g.heads, g.w}));
      return Mul(o, Constant(Tensor::FromVector(o.shape(), rows)));
    };
    c.ref = [&](const std::vector<D>& in) {
      return MaskRows(g, RefLayer(g, in[0], in[1], in[2], in[3], cols, iters, 0.8));
    };
    c.reduction_length = g.w * g.d + nbl * g.d * (2 * iters + 1);
    SCOPED_TRACE(iters);
    CheckOp(c, {q, k, v, w});
  }
}

// Padding past an example's length (any values, any amount) changes none of its valid rows:
// only the example's own blocks are mixed and attended to.
TEST(SortedBlockAttentionTest, PaddingDoesNotReachValidRows) {
  Rng rng(35);
  const int heads = 2, d = 4, w = 4, len = 6, width = heads * d;
  Tensor q = testing::RandomTensor({1, len, width}, rng),
         k = testing::RandomTensor({1, len, width}, rng),
         v = testing::RandomTensor({1, len, width}, rng), wt = testing::RandomTensor({d, 5}, rng);
  auto run = [&](int l) {
    auto pad = [&](const Tensor& x) {
      std::vector<float> y = x.ToVector();
      for (int i = len * width; i < l * width; ++i) y.push_back(100.0f * std::sin(float(i)));
      return Constant(Tensor::FromVector({1, l, width}, y));
    };
    Var qq = pad(q), kk = pad(k), vv = pad(v);
    const std::vector<int32_t> lens = {len};
    Var p = SinkhornNormalize(Linear(BlockKeySum(kk, lens, heads, w), Constant(wt)),
                              SinkhornExampleBlocks(lens, 1, l, w), {0, 1.0f});
    std::vector<float> o = SortedBlockAttention(qq, kk, vv, p, lens, {heads, w}).value().ToVector();
    o.resize(len * width);
    return o;
  };
  const std::vector<float> a = run(len), b = run(len + 3), c = run(len + 13);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], 1e-6) << i;
    EXPECT_NEAR(a[i], c[i], 1e-6) << i;
  }
}

// Dropout draws one key; with the same key as LocalAttention's (an Rng copy), both terms drop
// the same (query, key index) pairs: with the identity permutation and no masking, the sorted
// blocks are the local blocks, so the two outputs are equal.
TEST(SortedBlockAttentionTest, DropoutSharesLocalAttentionsMask) {
  Rng rng(36);
  const int l = 8, width = 4, heads = 2, w = 4;
  Var q = Constant(testing::RandomTensor({1, l, width}, rng)),
      k = Constant(testing::RandomTensor({1, l, width}, rng)),
      v = Constant(testing::RandomTensor({1, l, width}, rng));
  std::vector<float> eye(heads * 2 * 2, 0.0f);
  for (int h = 0; h < heads; ++h) eye[h * 4] = eye[h * 4 + 3] = 1.0f;
  Var p = Constant(Tensor::FromVector({1, heads, 2, 2}, eye));
  Rng r(5), copy = r;
  const std::vector<float> sorted =
      SortedBlockAttention(q, k, v, p, {}, {heads, w, 0.5f}, {}, &r).value().ToVector();
  EXPECT_EQ(r.counter(), 1u);
  const std::vector<float> local =
      LocalAttention(q, k, v, {}, {heads, w, 0.5f}, {}, &copy).value().ToVector();
  const std::vector<float> plain =
      SortedBlockAttention(q, k, v, p, {}, {heads, w}).value().ToVector();
  for (size_t i = 0; i < sorted.size(); ++i) EXPECT_NEAR(sorted[i], local[i], 1e-6) << i;
  EXPECT_NE(sorted, plain);
}

}  // namespace
}  // namespace lra

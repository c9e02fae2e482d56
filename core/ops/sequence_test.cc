#include "core/ops/sequence.h"

#include <cmath>
#include <cstdint>

#include "core/kernels/philox.h"
#include "core/ops/ops.h"
#include "gtest/gtest.h"
#include "core/testing/grad_check.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;
using testing::OpFn;
using testing::RefFn;

// Direct convolution in double (the math in core/kernels/fft_conv.h).
std::vector<double> RefConv(const std::vector<double>& u, const std::vector<double>& k, int b,
                            int l, int h, bool bidir) {
  std::vector<double> y(b * l * h, 0.0);
  for (int i = 0; i < b; ++i)
    for (int t = 0; t < l; ++t)
      for (int c = 0; c < h; ++c) {
        double s = 0;
        for (int r = 0; r < l; ++r) {
          const double x = u[(i * l + r) * h + c];
          if (r <= t) s += k[c * l + (t - r)] * x;
          else if (bidir) s += k[(h + c) * l + (r - t - 1)] * x;
        }
        y[(i * l + t) * h + c] = s;
      }
  return y;
}

TEST(FftConvOpTest, CausalAndBidirectionalOddLengths) {
  kernels::FftConv engine;
  Rng rng(71);
  for (int l : {1, 5, 16}) {
    for (bool bidir : {false, true}) {
      const int b = 2, h = 3;
      Tensor u = RandomUniform({b, l, h}, -1, 1, rng);
      Tensor k = RandomUniform(bidir ? Shape{2, h, l} : Shape{h, l}, -1, 1, rng);
      OpCheck c;
      c.op = [&](const std::vector<Var>& in) {
        return FftConv(in[0], in[1], bidir ? ConvDirection::kBidirectional : ConvDirection::kCausal,
                       &engine);
      };
      c.ref = [=](const std::vector<std::vector<double>>& in) {
        return RefConv(in[0], in[1], b, l, h, bidir);
      };
      // An FFT of size n has error ~ log2(n) eps per stage times the norm of the inputs it
      // mixes (sum over L terms): reduction length L * log2(2L), plus the batch sum for dk.
      const double n = 2.0 * l;
      c.reduction_length = l * std::log2(n + 1) * 4;
      c.grad_reduction_length = b * l * std::log2(n + 1) * 4;
      SCOPED_TRACE(::testing::Message() << "L " << l << " bidir " << bidir);
      CheckOp(c, {u, k});
    }
  }
}

// The fused S4 op against the unfused ops it replaces (FftConv, Mul, Add, Gelu, TiedDropout):
// the same arithmetic in the same order, so the output and du, dk are bitwise equal; dd comes
// from the kept spectra (Parseval, kernels::FftConv::BackwardSkipGelu) and is checked against
// both methods' rounding bounds.
// Shapes: H = 20 (a full 8x8-tiled block of 16 channels and a scalar block of 4), L = 100 (a
// scalar tail of 4 positions), B * L = 300 (SumToShape's 256-row blocks: one full, one open);
// B * L = 256 (closed blocks only); 1 x 1 x 1.
TEST(FftConvSkipGeluOpTest, BitwiseEqualToUnfusedOps) {
  struct Case {
    int b, l, h;
    bool bidir;
    float dropout;
  };
  for (const Case& c : {Case{3, 100, 20, false, 0.0f}, Case{3, 100, 20, true, 0.25f},
                        Case{2, 128, 8, true, 0.0f}, Case{2, 128, 8, false, 0.5f},
                        Case{1, 1, 1, false, 0.0f}}) {
    SCOPED_TRACE(::testing::Message() << "B " << c.b << " L " << c.l << " H " << c.h << " bidir "
                                      << c.bidir << " dropout " << c.dropout);
    const ConvDirection dir = c.bidir ? ConvDirection::kBidirectional : ConvDirection::kCausal;
    Rng init(81);
    const Tensor u0 = RandomUniform({c.b, c.l, c.h}, -2, 2, init);
    const Tensor k0 = RandomUniform(c.bidir ? Shape{2, c.h, c.l} : Shape{c.h, c.l}, -0.3, 0.3, init);
    const Tensor d0 = RandomUniform({c.h}, -1, 1, init);
    const Tensor w = RandomUniform({c.b, c.l, c.h}, -1, 1, init);
    kernels::FftConv engine;
    struct Result {
      Tensor y, du, dk, dd;
    };
    auto run = [&](bool fused) {
      Var u = Parameter(u0.Clone(), "u"), k = Parameter(k0.Clone(), "k"),
          d = Parameter(d0.Clone(), "d");
      Rng rng(5);
      Var y = fused ? FftConvSkipGelu(u, k, d, dir, c.dropout, /*training=*/true, rng, &engine)
                    : TiedDropout(Gelu(Add(FftConv(u, k, dir, &engine), Mul(u, d)), GeluKind::kErf),
                                  c.dropout, 1, /*training=*/true, rng);
      Backward(Sum(Mul(y, Constant(w))));
      return Result{y.value().Clone(), u.grad().Clone(), k.grad().Clone(), d.grad().Clone()};
    };
    const Result a = run(false), f = run(true);
    auto expect_same = [](const Tensor& x, const Tensor& y, const char* what) {
      ASSERT_EQ(x.numel(), y.numel()) << what;
      int64_t differ = 0;
      for (int64_t i = 0; i < x.numel(); ++i) differ += x.data<float>()[i] != y.data<float>()[i];
      EXPECT_EQ(differ, 0) << what << ": elements not bitwise equal";
    };
    expect_same(a.y, f.y, "y");
    expect_same(a.du, f.du, "du");
    expect_same(a.dk, f.dk, "dk");
    // dd = sum over (b, l) of dv u, dv = gelu'(v) dy mask with dy = w, |gelu'| <= 1.13 (its
    // maximum, at v = sqrt(2)) and mask <= 1/(1 - p): S = 1.13/(1 - p) sum_b ||w_b|| ||u_b||
    // (l2 over l) bounds sum |dv u|. The unfused SumToShape's blocked float sum errs by
    // <= (256 + B L / 256 + 1) eps S, the spectral sum by <= (4 log2(n) + B + 2) eps S (two
    // transforms at ~2 log2(n) eps each in l2, the batch accumulation in float).
    const int n = kernels::FftConv::FftSize(c.l);
    const double rounds = 256 + c.b * c.l / 256 + 1 + 4 * std::log2(n) + c.b + 2;
    for (int h = 0; h < c.h; ++h) {
      double bound = 0;
      for (int b = 0; b < c.b; ++b) {
        double w2 = 0, u2 = 0;
        for (int l = 0; l < c.l; ++l) {
          const int64_t i = (static_cast<int64_t>(b) * c.l + l) * c.h + h;
          w2 += static_cast<double>(w.data<float>()[i]) * w.data<float>()[i];
          u2 += static_cast<double>(u0.data<float>()[i]) * u0.data<float>()[i];
        }
        bound += 1.13 / (1.0 - c.dropout) * std::sqrt(w2 * u2);
      }
      EXPECT_NEAR(a.dd.data<float>()[h], f.dd.data<float>()[h], rounds * 1.2e-7 * bound)
          << "dd, channel " << h;
    }
  }
}

// M_ij of the kernel's dropout as core/kernels/attention.h documents it.
bool Keep(uint64_t seed, float rate, int b, int h, int i, int j) {
  uint32_t w[4];
  kernels::Philox4x32(static_cast<uint32_t>(j / 4), static_cast<uint32_t>(i),
                      static_cast<uint32_t>(h), static_cast<uint32_t>(b),
                      static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), w);
  return w[j % 4] >= std::round(static_cast<double>(rate) * 4294967296.0);
}

// Attention in double with flax's masking: q, k, v [B, L, heads*d]; mask empty or [B, L];
// dropout `rate` with the Philox key `seed` (rate 0: none). A masked or padded query attends
// uniformly to all L positions.
std::vector<double> RefAttention(const std::vector<double>& q, const std::vector<double>& k,
                                 const std::vector<double>& v, int b, int l, int heads, int d,
                                 bool causal, const std::vector<int32_t>& lengths,
                                 const std::vector<uint8_t>& mask = {}, float rate = 0.0f,
                                 uint64_t seed = 0) {
  const int w = heads * d;
  std::vector<double> out(b * l * w, 0.0);
  for (int z = 0; z < b; ++z)
    for (int hh = 0; hh < heads; ++hh)
      for (int i = 0; i < l; ++i) {
        const int n = lengths.empty() ? l : lengths[z];
        auto valid = [&](int t) { return t < n && (mask.empty() || mask[z * l + t] != 0); };
        std::vector<double> p(l, 0.0);
        if (!valid(i)) {
          std::fill(p.begin(), p.end(), 1.0 / l);
        } else {
          std::vector<double> s(l, -INFINITY);
          double mx = -INFINITY;
          for (int j = 0; j < l; ++j) {
            if (!valid(j) || (causal && j > i)) continue;
            double dot = 0;
            for (int e = 0; e < d; ++e)
              dot += q[(z * l + i) * w + hh * d + e] * k[(z * l + j) * w + hh * d + e];
            s[j] = dot / std::sqrt(double(d));
            mx = std::max(mx, s[j]);
          }
          double tot = 0;
          for (int j = 0; j < l; ++j) tot += s[j] == -INFINITY ? 0 : std::exp(s[j] - mx);
          for (int j = 0; j < l; ++j)
            if (s[j] != -INFINITY) p[j] = std::exp(s[j] - mx) / tot;
        }
        for (int j = 0; j < l; ++j) {
          if (p[j] == 0 || (rate > 0 && !Keep(seed, rate, z, hh, i, j))) continue;
          for (int e = 0; e < d; ++e)
            out[(z * l + i) * w + hh * d + e] += p[j] / (1.0 - rate) * v[(z * l + j) * w + hh * d + e];
        }
      }
  return out;
}

// Masked query rows take flax's gradient to q and k, which is not a derivative of their
// (constant-in-q, k) output, so the finite-difference checks multiply the op's output by
// `rows` (1 on valid rows, 0 on masked ones) to drop those rows' cotangent; the forward of
// every row is checked without it (check_grad = false).
std::vector<float> ValidRows(int b, int l, int w, const std::vector<int32_t>& lengths,
                             const std::vector<uint8_t>& mask) {
  std::vector<float> rows(static_cast<size_t>(b) * l * w, 0.0f);
  for (int z = 0; z < b; ++z)
    for (int i = 0; i < l; ++i)
      if (i < (lengths.empty() ? l : lengths[z]) && (mask.empty() || mask[z * l + i]))
        std::fill_n(rows.begin() + (static_cast<size_t>(z) * l + i) * w, w, 1.0f);
  return rows;
}

// Runs CheckOp twice: the op's forward on every row, then gradients with masked rows dropped.
void CheckAttention(OpCheck c, const std::vector<Tensor>& in, const std::vector<float>& rows) {
  c.check_grad = false;
  CheckOp(c, in);
  const OpFn op = c.op;
  const RefFn ref = c.ref;
  const Shape shape = in[0].shape();
  c.check_grad = true;
  c.op = [op, rows, shape](const std::vector<Var>& x) {
    return Mul(op(x), Constant(Tensor::FromVector(shape, rows)));
  };
  c.ref = [ref, rows](const std::vector<std::vector<double>>& x) {
    std::vector<double> y = ref(x);
    for (size_t i = 0; i < y.size(); ++i) y[i] *= rows[i];
    return y;
  };
  CheckOp(c, in);
}

TEST(AttentionOpTest, DenseAndBlockedWithMasks) {
  Rng rng(72);
  const int b = 2, heads = 2, d = 3;
  for (int l : {1, 5}) {
    for (auto algo : {AttentionAlgorithm::kDense, AttentionAlgorithm::kBlocked}) {
      for (bool causal : {false, true}) {
        // Second sequence: rows 3.. are padding (masked queries, uniform over all L); for
        // l == 1 it has length 0, every row masked.
        const std::vector<int32_t> lengths = {l, l == 1 ? 0 : 3};
        Tensor q = RandomUniform({b, l, heads * d}, -1, 1, rng);
        Tensor k = RandomUniform({b, l, heads * d}, -1, 1, rng);
        Tensor v = RandomUniform({b, l, heads * d}, -1, 1, rng);
        OpCheck c;
        AttentionConfig cfg{heads, causal, algo};
        c.op = [&](const std::vector<Var>& in) { return Attention(in[0], in[1], in[2], lengths, cfg); };
        c.ref = [&](const std::vector<std::vector<double>>& in) {
          return RefAttention(in[0], in[1], in[2], b, l, heads, d, causal, lengths);
        };
        c.reduction_length = l * d * 4;
        SCOPED_TRACE(::testing::Message() << "L " << l << " blocked "
                                          << (algo == AttentionAlgorithm::kBlocked) << " causal "
                                          << causal);
        CheckAttention(c, {q, k, v}, ValidRows(b, l, heads * d, lengths, {}));
      }
    }
  }
}

// Mask (with a fully masked sequence and, for L = 1, a fully masked batch) and dropout
// through the op, with gradients by finite differences of the reference at the fixed mask. The
// op draws its Philox key as one NextU64() of the Rng it is given; the test draws the same
// value from a copy of that Rng and regenerates M.
TEST(AttentionOpTest, MaskAndDropout) {
  Rng rng(74);
  const int b = 2, heads = 2, d = 3;
  for (int l : {1, 6}) {
    for (auto algo : {AttentionAlgorithm::kDense, AttentionAlgorithm::kBlocked}) {
      for (float rate : {0.0f, 0.25f}) {
        const std::vector<int32_t> lengths = {l, l == 1 ? 1 : 5};
        // Batch 0: positions 1 and 3 masked (position 0 for L = 1); batch 1: every position
        // masked, so every row of it is uniform over all L.
        std::vector<uint8_t> mask(b * l, 1);
        mask[0] = l > 1;
        if (l > 3) mask[1] = mask[3] = 0;
        for (int j = 0; j < l; ++j) mask[l + j] = 0;
        Tensor q = RandomUniform({b, l, heads * d}, -1, 1, rng);
        Tensor k = RandomUniform({b, l, heads * d}, -1, 1, rng);
        Tensor v = RandomUniform({b, l, heads * d}, -1, 1, rng);
        const Rng drop_stream = Rng(9).Stream(RngStream::kDropout);
        const uint64_t seed = Rng(drop_stream).NextU64();
        OpCheck c;
        AttentionConfig cfg{heads, false, algo, rate};
        c.op = [&](const std::vector<Var>& in) {
          Rng r = drop_stream;
          Var out = Attention(in[0], in[1], in[2], lengths, cfg, mask, &r);
          EXPECT_EQ(r.counter(), drop_stream.counter() + (rate > 0 ? 1 : 0));
          return out;
        };
        c.ref = [&](const std::vector<std::vector<double>>& in) {
          return RefAttention(in[0], in[1], in[2], b, l, heads, d, false, lengths, mask,
                              rate, seed);
        };
        // The reduction bound of the plain case, times 1/(1 - p) for the kept terms' scale.
        c.reduction_length = l * d * 4 / (1.0 - rate);
        SCOPED_TRACE(::testing::Message() << "L " << l << " blocked "
                                          << (algo == AttentionAlgorithm::kBlocked) << " rate "
                                          << rate);
        CheckAttention(c, {q, k, v}, ValidRows(b, l, heads * d, lengths, mask));
      }
    }
  }
}

TEST(AttentionOpTest, SharedInputAccumulatesAllThreeGradients) {
  // Self-attention with q = k = v = x: dx = dq + dk + dv.
  Rng rng(73);
  Tensor x = RandomUniform({1, 4, 4}, -1, 1, rng);
  OpCheck c;
  c.op = [](const std::vector<Var>& in) { return Attention(in[0], in[0], in[0], {}, {2}); };
  c.ref = [](const std::vector<std::vector<double>>& in) {
    return RefAttention(in[0], in[0], in[0], 1, 4, 2, 2, false, {});
  };
  c.reduction_length = 32;
  CheckOp(c, {x});
}

}  // namespace
}  // namespace lra

#include "models/s4/prenorm_conv.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/kernels/reference/reference.h"
#include "core/ops/ops.h"
#include "core/testing/grad_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace s4 {
namespace {

void ExpectBitwise(const Tensor& x, const Tensor& y, const char* what) {
  ASSERT_EQ(x.shape(), y.shape()) << what;
  int64_t differ = 0;
  for (int64_t i = 0; i < x.numel(); ++i) differ += x.data<float>()[i] != y.data<float>()[i];
  EXPECT_EQ(differ, 0) << what << ": " << differ << " elements not bitwise equal";
}

// The fused op against the three ops it replaces in the S4 block (models/s4/s4_model.cc:
// LayerNorm, MaskPastLengths' Mul by a 0/1 mask, FftConvSkipGelu), inside a residual
// r = x + y so that x's gradient accumulates onto an earlier one as in the model. Every output
// and gradient must be bitwise equal: the fused op does the same arithmetic in the same order.
TEST(PreNormConvSkipGeluTest, BitwiseEqualToLayerNormMaskAndFusedConv) {
  struct Case {
    int b, l, h;
    bool bidir;
    float dropout;
    std::vector<int32_t> lengths;  // empty: no mask
    bool k_grad;                   // false: dd from the rows of u instead of the spectra
  };
  const std::vector<Case> cases = {
      {3, 100, 20, false, 0.0f, {}, true},       {3, 100, 20, true, 0.25f, {100, 37, 0}, true},
      {2, 128, 16, false, 0.5f, {128, 64}, true}, {2, 128, 8, true, 0.0f, {}, false},
      {2, 64, 24, false, 0.0f, {5, 64}, false},   {1, 1, 1, false, 0.0f, {}, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "B " << c.b << " L " << c.l << " H " << c.h << " bidir "
                                      << c.bidir << " dropout " << c.dropout << " lengths "
                                      << c.lengths.size() << " k_grad " << c.k_grad);
    const ConvDirection dir = c.bidir ? ConvDirection::kBidirectional : ConvDirection::kCausal;
    Rng init(17);
    const Tensor x0 = RandomUniform({c.b, c.l, c.h}, -2, 3, init);
    const Tensor g0 = RandomUniform({c.h}, 0.5, 1.5, init);
    const Tensor b0 = RandomUniform({c.h}, -0.5, 0.5, init);
    const Tensor k0 =
        RandomUniform(c.bidir ? Shape{2, c.h, c.l} : Shape{c.h, c.l}, -0.3, 0.3, init);
    const Tensor d0 = RandomUniform({c.h}, -1, 1, init);
    const Tensor w = RandomUniform({c.b, c.l, c.h}, -1, 1, init);
    const int32_t* lengths = c.lengths.empty() ? nullptr : c.lengths.data();
    struct Result {
      Tensor y, dx, dg, db, dk, dd;
    };
    auto run = [&](bool fused) {
      Var x = Parameter(x0.Clone(), "x"), gain = Parameter(g0.Clone(), "gain"),
          bias = Parameter(b0.Clone(), "bias"), d = Parameter(d0.Clone(), "d");
      Var k = c.k_grad ? Parameter(k0.Clone(), "k") : Constant(k0.Clone());
      Rng rng(5);
      Var y;
      if (fused) {
        y = PreNormConvSkipGelu(x, gain, bias, 1e-5f, lengths, k, d, dir, c.dropout,
                                /*training=*/true, rng);
      } else {
        Var z = LayerNorm(x, gain, bias, 1e-5f);
        if (lengths != nullptr) {
          Tensor mask = Tensor::Empty({c.b, c.l, 1});
          for (int i = 0; i < c.b; ++i)
            for (int t = 0; t < c.l; ++t)
              mask.data<float>()[i * c.l + t] = t < c.lengths[i] ? 1.0f : 0.0f;
          z = Mul(z, Constant(mask));
        }
        y = FftConvSkipGelu(z, k, d, dir, c.dropout, /*training=*/true, rng);
      }
      Backward(Sum(Mul(Add(x, y), Constant(w))));
      return Result{y.value().Clone(), x.grad().Clone(), gain.grad().Clone(),
                    bias.grad().Clone(), c.k_grad ? k.grad().Clone() : Tensor(),
                    d.grad().Clone()};
    };
    const Result a = run(false), f = run(true);
    ExpectBitwise(a.y, f.y, "y");
    ExpectBitwise(a.dx, f.dx, "dx");
    ExpectBitwise(a.dg, f.dg, "dgain");
    ExpectBitwise(a.db, f.db, "dbias");
    if (c.k_grad) ExpectBitwise(a.dk, f.dk, "dk");
    ExpectBitwise(a.dd, f.dd, "dd");
  }
}

// Its own oracle too: forward against the same math in double (LayerNorm, the length mask, the
// causal convolution y_l = sum_{j <= l} k_j u_{l-j} + d u_l, then GELU(erf)) and every gradient
// against central differences of it (core/testing/grad_check.h), with a length mask.
TEST(PreNormConvSkipGeluTest, MatchesDoubleReferenceAndFiniteDifferences) {
  const int b = 2, l = 9, h = 5;
  const std::vector<int32_t> lengths = {9, 4};
  Rng init(23);
  const Tensor x = RandomUniform({b, l, h}, -2, 2, init);
  const Tensor g = RandomUniform({h}, 0.5, 1.5, init), bias = RandomUniform({h}, -0.5, 0.5, init);
  const Tensor k = RandomUniform({h, l}, -0.5, 0.5, init), d = RandomUniform({h}, -1, 1, init);
  testing::OpCheck c;
  c.op = [&](const std::vector<Var>& in) {
    Rng rng(1);
    return PreNormConvSkipGelu(in[0], in[1], in[2], 1e-5f, lengths.data(), in[3], in[4],
                               ConvDirection::kCausal, 0.0f, /*training=*/true, rng);
  };
  c.ref = [&](const std::vector<std::vector<double>>& in) {
    std::vector<double> z = reference::LayerNorm(in[0], in[1], in[2], b * l, h, 1e-5);
    for (int i = 0; i < b; ++i)
      for (int t = lengths[i]; t < l; ++t)
        for (int j = 0; j < h; ++j) z[(i * l + t) * h + j] = 0.0;
    std::vector<double> y(z.size());
    for (int i = 0; i < b; ++i)
      for (int t = 0; t < l; ++t)
        for (int j = 0; j < h; ++j) {
          double v = in[4][j] * z[(i * l + t) * h + j];
          for (int s = 0; s <= t; ++s) v += in[3][j * l + s] * z[(i * l + t - s) * h + j];
          y[(i * l + t) * h + j] = reference::GeluErf(v);
        }
    return y;
  };
  // LayerNorm's rounding amplified by rstd (4 h, as LayerNormTest) feeding the FFT convolution
  // (L log2(2L) per transform, 4 of them, as FftConvOpTest); the backward adds the batch sums of
  // dk and the column sums of dgain / dbias over B L rows.
  const double fft = l * std::log2(2.0 * l + 1) * 4;
  c.reduction_length = 4 * h + fft;
  c.grad_reduction_length = 4 * std::max(b * l, h) + b * fft;
  c.c = 32;
  testing::CheckOp(c, {x, g, bias, k, d});
}

// Statistics handed in (as the previous block's LinearGluResidual forms them) give the same
// bits as statistics computed inside.
TEST(PreNormConvSkipGeluTest, GivenStatsAreUsedBitwise) {
  Rng init(9);
  const Tensor x0 = RandomUniform({2, 48, 16}, -1, 2, init);
  const Tensor k0 = RandomUniform({16, 48}, -0.3, 0.3, init);
  const Tensor w = RandomUniform({2, 48, 16}, -1, 1, init);
  Tensor got[2][2];  // [given][y, dx]
  for (int given = 0; given < 2; ++given) {
    Var x = Parameter(x0.Clone(), "x"), gain = Parameter(Tensor::Full({16}, 1.25f), "gain"),
        bias = Parameter(Tensor::Full({16}, 0.1f), "bias"),
        d = Parameter(Tensor::Full({16}, 0.5f), "d"), k = Parameter(k0.Clone(), "k");
    Rng rng(1);
    Var y = PreNormConvSkipGelu(x, gain, bias, 1e-5f, nullptr, k, d, ConvDirection::kCausal,
                                0.0f, /*training=*/true, rng,
                                given ? LayerNormStats(x0, 1e-5f) : Tensor());
    Backward(Sum(Mul(y, Constant(w))));
    got[given][0] = y.value().Clone();
    got[given][1] = x.grad().Clone();
  }
  ExpectBitwise(got[0][0], got[1][0], "y");
  ExpectBitwise(got[0][1], got[1][1], "dx");
  // A perturbed statistic must change the output: the given tensor is the one used.
  Var x = Constant(x0), one = Constant(Tensor::Full({16}, 1.0f)),
      zero = Constant(Tensor::Zeros({16})), k = Constant(k0);
  Tensor stats = LayerNormStats(x0, 1e-5f);
  stats.data<float>()[0] += 0.5f;
  Rng rng(1);
  Var y = PreNormConvSkipGelu(x, one, zero, 1e-5f, nullptr, k, one, ConvDirection::kCausal, 0.0f,
                              /*training=*/false, rng, stats);
  Rng rng2(1);
  Var ref = PreNormConvSkipGelu(x, one, zero, 1e-5f, nullptr, k, one, ConvDirection::kCausal,
                                0.0f, /*training=*/false, rng2);
  EXPECT_NE(y.value().data<float>()[0], ref.value().data<float>()[0]);
}

TEST(PreNormConvSkipGeluTest, NoGradientGivesAConstant) {
  Rng init(3);
  const Tensor x0 = RandomUniform({2, 16, 8}, -1, 1, init);
  Var x = Constant(x0), gain = Constant(Tensor::Full({8}, 1.0f)),
      bias = Constant(Tensor::Zeros({8})), d = Constant(Tensor::Full({8}, 0.5f)),
      k = Constant(RandomUniform({8, 16}, -0.3, 0.3, init));
  Rng rng(1);
  Var y = PreNormConvSkipGelu(x, gain, bias, 1e-5f, nullptr, k, d, ConvDirection::kCausal, 0.0f,
                              /*training=*/false, rng);
  Rng rng2(1);
  Var ref = FftConvSkipGelu(LayerNorm(x, gain, bias, 1e-5f), k, d, ConvDirection::kCausal, 0.0f,
                            /*training=*/false, rng2);
  EXPECT_FALSE(y.requires_grad());
  ExpectBitwise(ref.value(), y.value(), "y");
}

}  // namespace
}  // namespace s4
}  // namespace lra

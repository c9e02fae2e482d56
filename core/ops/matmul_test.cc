#include "core/ops/matmul.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "core/kernels/reference/reference.h"
#include "core/ops/elementwise.h"
#include "core/testing/grad_check.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

TEST(LinearTest, MatchesReferenceWithAndWithoutBias) {
  Rng rng(1);
  for (auto [rows, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {5, 3, 7}, {13, 17, 9}}) {
    for (bool bias : {false, true}) {
      Tensor x = RandomUniform({rows, k}, -1, 1, rng);
      Tensor w = RandomUniform({k, n}, -1, 1, rng);
      Tensor b = RandomUniform({n}, -1, 1, rng);
      OpCheck c;
      c.op = [bias](const std::vector<Var>& in) {
        return Linear(in[0], in[1], bias ? in[2] : Var());
      };
      c.ref = [=](const std::vector<std::vector<double>>& in) {
        auto y = reference::MatMul(in[0], in[1], 1, rows, n, k, false, false);
        if (bias)
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < n; ++j) y[i * n + j] += in[2][j];
        return y;
      };
      c.reduction_length = k + 1;
      c.grad_reduction_length = std::max(rows, n) + 1;  // dw sums over rows, dx over n
      if (bias) {
        CheckOp(c, {x, w, b});
      } else {
        CheckOp(c, {x, w});
      }
    }
  }
}

TEST(LinearTest, Rank3InputIsOneGemm) {
  Rng rng(2);
  Tensor x = RandomUniform({2, 3, 4}, -1, 1, rng);
  Tensor w = RandomUniform({4, 5}, -1, 1, rng);
  OpCheck c;
  c.op = [](const std::vector<Var>& in) { return Linear(in[0], in[1]); };
  c.ref = [](const std::vector<std::vector<double>>& in) {
    return reference::MatMul(in[0], in[1], 1, 6, 5, 4, false, false);
  };
  c.reduction_length = 6;
  CheckOp(c, {x, w});
}

bool SameBits(const Tensor& a, const std::vector<float>& b) {
  return a.numel() == static_cast<int64_t>(b.size()) &&
         std::memcmp(a.data<float>(), b.data(), b.size() * sizeof(float)) == 0;
}

// In bf16 mode a Linear's backward converts dz once for the data and the weight gradient; every
// product must still give the bits of the plain onednn::Gemm call, which converts its own
// operands. Two Linears in a row (h = x w1 + b1, y = h w2) and a third reading the same x
// (z = x w3, as Mamba's in_proj halves), over two steps with x and the weights changed in
// place in between (as an optimizer does): a bf16 copy used past its product, or taken from
// another Linear or the previous step, gives other bits. The shapes run
// every product in bf16 (at least 64 flops per converted element, gemm.cc), the weight
// gradients' K = 600 split in two on 2 or more threads.
TEST(LinearTest, Bf16ModeGivesThePlainGemmBits) {
  if (!onednn::Bf16Supported()) GTEST_SKIP() << "no AVX512-BF16/AMX on this CPU";
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kBf16).ok());
  const int64_t rows = 600, k = 96, n1 = 128, n2 = 96;
  Rng rng(7);
  Var x = Parameter(RandomUniform({2, rows / 2, k}, -1, 1, rng), "x");
  Var w1 = Parameter(RandomUniform({k, n1}, -1, 1, rng), "w1");
  Var b1 = Parameter(RandomUniform({n1}, -1, 1, rng), "b1");
  Var w2 = Parameter(RandomUniform({n1, n2}, -1, 1, rng), "w2");
  Var w3 = Parameter(RandomUniform({k, n2}, -1, 1, rng), "w3");
  const Tensor seed = RandomUniform({2, rows / 2, n2}, -1, 1, rng);
  for (int step = 0; step < 2; ++step) {
    SCOPED_TRACE(::testing::Message() << "step " << step);
    if (step == 1)
      for (const Var& v : {x, w1, w2, w3}) {
        float* p = v.mutable_value().data<float>();
        for (int64_t i = 0; i < v.numel(); ++i) p[i] = 0.5f * p[i] + 0.25f;
      }
    for (Var v : {x, w1, b1, w2, w3}) v.ZeroGrad();
    Var h = Linear(x, w1, b1);
    Var y = Linear(h, w2);
    Var z = Linear(x, w3);
    Backward(Add(y, z), seed);
    // The same products as plain calls, in the tape's order (reverse creation: z, y, h).
    auto gemm = [](int64_t m, int64_t n, int64_t kk, bool ta, bool tb, const float* a,
                   const float* b, const float* bias, std::vector<float>* c, bool acc) {
      onednn::Gemm(1, m, n, kk, ta, tb, a, b, bias, c->data(), acc);
    };
    auto d = [](const Var& v) { return v.value().data<float>(); };
    const float* sp = seed.data<float>();
    std::vector<float> hv(rows * n1), yv(rows * n2), zv(rows * n2), dx(rows * k),
        dh(rows * n1), dw1(k * n1), dw2(n1 * n2), dw3(k * n2);
    gemm(rows, n1, k, false, false, d(x), d(w1), d(b1), &hv, false);
    gemm(rows, n2, n1, false, false, hv.data(), d(w2), nullptr, &yv, false);
    gemm(rows, n2, k, false, false, d(x), d(w3), nullptr, &zv, false);
    gemm(rows, k, n2, false, true, sp, d(w3), nullptr, &dx, false);
    gemm(k, n2, rows, true, false, d(x), sp, nullptr, &dw3, false);
    gemm(rows, n1, n2, false, true, sp, d(w2), nullptr, &dh, false);
    gemm(n1, n2, rows, true, false, hv.data(), sp, nullptr, &dw2, false);
    gemm(rows, k, n1, false, true, dh.data(), d(w1), nullptr, &dx, true);
    gemm(k, n1, rows, true, false, d(x), dh.data(), nullptr, &dw1, false);
    EXPECT_TRUE(SameBits(h.value(), hv));
    EXPECT_TRUE(SameBits(y.value(), yv));
    EXPECT_TRUE(SameBits(z.value(), zv));
    EXPECT_TRUE(SameBits(x.grad(), dx));
    EXPECT_TRUE(SameBits(w1.grad(), dw1));
    EXPECT_TRUE(SameBits(w2.grad(), dw2));
    EXPECT_TRUE(SameBits(w3.grad(), dw3));
  }
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kF32).ok());
}

TEST(MatMulTest, AllTransposesBatchedAndShared) {
  Rng rng(3);
  const int64_t batch = 3, m = 4, n = 5, k = 6;
  for (bool shared : {false, true})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = RandomUniform(ta ? Shape{batch, k, m} : Shape{batch, m, k}, -1, 1, rng);
        Tensor b = shared ? RandomUniform(tb ? Shape{n, k} : Shape{k, n}, -1, 1, rng)
                          : RandomUniform(tb ? Shape{batch, n, k} : Shape{batch, k, n}, -1, 1, rng);
        OpCheck c;
        c.op = [ta, tb](const std::vector<Var>& in) { return MatMul(in[0], in[1], ta, tb); };
        c.ref = [=](const std::vector<std::vector<double>>& in) {
          return reference::MatMul(in[0], in[1], batch, m, n, k, ta, tb, shared);
        };
        c.reduction_length = k;
        c.grad_reduction_length = batch * std::max({m, n, k});
        SCOPED_TRACE(::testing::Message() << "shared " << shared << " ta " << ta << " tb " << tb);
        CheckOp(c, {a, b});
      }
}

TEST(MatMulTest, AccumulatesGradientOfReusedInput) {
  // y = x w + x w: both uses add into dx through the GEMM sum post-op.
  Rng rng(4);
  Var x = Parameter(RandomUniform({3, 2}, -1, 1, rng), "x");
  Var w = Constant(RandomUniform({2, 2}, -1, 1, rng));
  Var y1 = Linear(x, w), y2 = Linear(x, w);
  Tensor ones = Tensor::Full({3, 2}, 1.0f);
  Backward(y1, ones);
  Tensor g1 = x.grad().Clone();
  Backward(y2, ones);
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(x.grad().data<float>()[i], 2 * g1.data<float>()[i]);
}

}  // namespace
}  // namespace lra

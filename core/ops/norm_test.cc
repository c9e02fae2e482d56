#include "core/ops/norm.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "core/kernels/reference/reference.h"
#include "core/testing/grad_check.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

TEST(LayerNormTest, MatchesReference) {
  Rng rng(51);
  for (int64_t h : {1, 5, 32}) {
    const int64_t rows = 7;
    Tensor x = RandomUniform({rows, h}, -2, 2, rng);
    Tensor g = RandomUniform({h}, 0.5, 1.5, rng), b = RandomUniform({h}, -1, 1, rng);
    OpCheck c;
    c.op = [](const std::vector<Var>& in) { return LayerNorm(in[0], in[1], in[2]); };
    c.ref = [=](const std::vector<std::vector<double>>& in) {
      return reference::LayerNorm(in[0], in[1], in[2], rows, h, 1e-5);
    };
    // rstd amplifies rounding by up to 1/std; inputs in [-2, 2] have std >~ 0.3 for h >= 5.
    c.reduction_length = 4 * h;
    c.grad_reduction_length = 4 * std::max(rows, h);
    c.c = 32;
    SCOPED_TRACE(h);
    CheckOp(c, {x, g, b});
  }
}

// LayerNormStats and LayerNormBackward (the halves a fused op uses) against LayerNorm itself:
// the statistics give LayerNorm's output with its expression, and the backward its gradients,
// bit for bit. 133 rows: two 128-row blocks of the backward, the second with an odd row count;
// x's gradient accumulates onto an earlier one.
TEST(LayerNormTest, StatsAndBackwardAreLayerNormsBitwise) {
  Rng rng(53);
  const int64_t rows = 133, h = 40;
  const Tensor x0 = RandomUniform({rows, h}, -2, 3, rng);
  const Tensor g0 = RandomUniform({h}, 0.5, 1.5, rng), b0 = RandomUniform({h}, -1, 1, rng);
  const Tensor dy = RandomUniform({rows, h}, -1, 1, rng);
  const Tensor prior = RandomUniform({rows, h}, -1, 1, rng);
  auto same = [](const Tensor& a, const Tensor& b) {
    int64_t differ = 0;
    for (int64_t i = 0; i < a.numel(); ++i) differ += a.data<float>()[i] != b.data<float>()[i];
    return differ;
  };
  Var x = Parameter(x0.Clone(), "x"), g = Parameter(g0.Clone(), "g"),
      b = Parameter(b0.Clone(), "b");
  Var y = LayerNorm(x, g, b, 1e-5f);
  AccumulateGrad(x, prior);
  Backward(y, dy.Clone());
  const Tensor stats = LayerNormStats(x0, 1e-5f);
  ASSERT_EQ(stats.shape(), Shape({2, rows}));
  Tensor want = Tensor::Empty({rows, h});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < h; ++j)
      want.data<float>()[r * h + j] =
          (x0.data<float>()[r * h + j] - stats.data<float>()[r]) * stats.data<float>()[rows + r] *
              g0.data<float>()[j] +
          b0.data<float>()[j];
#ifdef __FMA__
  // With FMA instructions (--config=native) the compiler contracts a * b + c into one rounding
  // wherever it chooses, and NormRows (statistics and output) and this test choose differently:
  // y then differs from the expression in last bits (measured: 1 ulp in 28% of the elements;
  // the portable build, without FMA, is bitwise, and so are the gradients either way). Two
  // evaluation orders differ by at most a rounding (u = eps / 2) of each of the 4 operations,
  // each relative to a magnitude at most |y| + |b|: 8 u = 4 eps.
  const float tol = 4 * std::numeric_limits<float>::epsilon();
  for (int64_t i = 0; i < rows * h; ++i) {
    const float yv = y.value().data<float>()[i], w = want.data<float>()[i];
    ASSERT_LE(std::abs(yv - w), tol * (std::abs(w) + std::abs(b0.data<float>()[i % h]))) << i;
  }
#else
  EXPECT_EQ(same(y.value(), want), 0);
#endif
  Tensor row_mean = Tensor::Empty({rows}), row_rstd = Tensor::Empty({rows});
  LayerNormRowStats(x0.data<float>(), rows, h, 1e-5f, row_mean.data<float>(),
                    row_rstd.data<float>());
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_EQ(row_mean.data<float>()[r], stats.data<float>()[r]) << r;
    EXPECT_EQ(row_rstd.data<float>()[r], stats.data<float>()[rows + r]) << r;
  }
  Var x2 = Parameter(x0.Clone(), "x"), g2 = Parameter(g0.Clone(), "g"),
      b2 = Parameter(b0.Clone(), "b");
  AccumulateGrad(x2, prior);
  LayerNormBackward(x2, g2, b2, stats, dy.data<float>());
  EXPECT_EQ(same(x.grad(), x2.grad()), 0);
  EXPECT_EQ(same(g.grad(), g2.grad()), 0);
  EXPECT_EQ(same(b.grad(), b2.grad()), 0);
}

// RMSNorm in double: x / sqrt(mean(x^2) + eps) * gain.
std::vector<double> RefRmsNorm(const std::vector<double>& x, const std::vector<double>& g,
                               int64_t rows, int64_t h) {
  std::vector<double> y(rows * h);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t j = 0; j < h; ++j) ss += x[r * h + j] * x[r * h + j];
    const double rs = 1 / std::sqrt(ss / h + 1e-5);
    for (int64_t j = 0; j < h; ++j) y[r * h + j] = x[r * h + j] * rs * g[j];
  }
  return y;
}

TEST(RmsNormTest, MatchesReference) {
  Rng rng(54);
  for (int64_t h : {1, 5, 32}) {
    const int64_t rows = 7;
    Tensor x = RandomUniform({rows, h}, -2, 2, rng);
    Tensor g = RandomUniform({h}, 0.5, 1.5, rng);
    OpCheck c;
    c.op = [](const std::vector<Var>& in) { return RmsNorm(in[0], in[1]); };
    c.ref = [=](const std::vector<std::vector<double>>& in) {
      return RefRmsNorm(in[0], in[1], rows, h);
    };
    // As LayerNorm's (above): rstd amplifies rounding by up to 1 / rms(x); the gradient's
    // longest sums are over the h channels (dx) and the rows (dgain).
    c.reduction_length = 4 * h;
    c.grad_reduction_length = 4 * std::max(rows, h);
    c.c = 32;
    SCOPED_TRACE(h);
    CheckOp(c, {x, g});
  }
}

// Reference batch norm (training statistics) in double.
std::vector<double> RefBatchNorm(const std::vector<std::vector<double>>& in, int64_t n, int64_t h) {
  std::vector<double> y(n * h);
  for (int64_t j = 0; j < h; ++j) {
    double m = 0, v = 0;
    for (int64_t r = 0; r < n; ++r) m += in[0][r * h + j];
    m /= n;
    for (int64_t r = 0; r < n; ++r) v += (in[0][r * h + j] - m) * (in[0][r * h + j] - m);
    v /= n;
    for (int64_t r = 0; r < n; ++r)
      y[r * h + j] = (in[0][r * h + j] - m) / std::sqrt(v + 1e-5) * in[1][j] + in[2][j];
  }
  return y;
}

TEST(BatchNormTest, TrainMatchesReferenceAndUpdatesRunningStats) {
  Rng rng(52);
  const int64_t n = 9, h = 4;
  Tensor x = RandomUniform({3, 3, h}, -2, 2, rng);
  Tensor g = RandomUniform({h}, 0.5, 1.5, rng), b = RandomUniform({h}, -1, 1, rng);
  BatchNormState st = BatchNormState::Create(h);
  OpCheck c;
  c.op = [&](const std::vector<Var>& in) { return BatchNorm(in[0], in[1], in[2], &st, true); };
  c.ref = [=](const std::vector<std::vector<double>>& in) { return RefBatchNorm(in, n, h); };
  c.reduction_length = 4 * n;
  c.c = 32;
  CheckOp(c, {x, g, b});
  // Running stats after one update (momentum 0.1): 0.1 * batch mean, 0.9 + 0.1 * unbiased var.
  for (int64_t j = 0; j < h; ++j) {
    double m = 0, v = 0;
    for (int64_t r = 0; r < n; ++r) m += x.data<float>()[r * h + j];
    m /= n;
    for (int64_t r = 0; r < n; ++r) v += std::pow(x.data<float>()[r * h + j] - m, 2);
    EXPECT_NEAR(st.running_mean.data<float>()[j], 0.1 * m, 1e-6);
    EXPECT_NEAR(st.running_var.data<float>()[j], 0.9 + 0.1 * v / (n - 1), 1e-6);
  }
}

TEST(BatchNormTest, EvalUsesRunningStats) {
  Rng rng(53);
  const int64_t h = 3;
  BatchNormState st = BatchNormState::Create(h);
  st.running_mean = RandomUniform({h}, -1, 1, rng);
  st.running_var = RandomUniform({h}, 0.5, 2, rng);
  Tensor x = RandomUniform({5, h}, -2, 2, rng);
  Tensor g = RandomUniform({h}, 0.5, 1.5, rng), b = RandomUniform({h}, -1, 1, rng);
  OpCheck c;
  c.op = [&](const std::vector<Var>& in) { return BatchNorm(in[0], in[1], in[2], &st, false); };
  c.ref = [&](const std::vector<std::vector<double>>& in) {
    std::vector<double> y;
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t j = 0; j < h; ++j)
        y.push_back((in[0][r * h + j] - st.running_mean.data<float>()[j]) /
                        std::sqrt(double(st.running_var.data<float>()[j]) + 1e-5) * in[1][j] +
                    in[2][j]);
    return y;
  };
  c.grad_reduction_length = 5;
  CheckOp(c, {x, g, b});
}

}  // namespace
}  // namespace lra

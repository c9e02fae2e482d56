#include "core/ops/norm.h"

#include <cmath>

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

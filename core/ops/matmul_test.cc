#include "core/ops/matmul.h"

#include "gtest/gtest.h"
#include "core/kernels/reference/reference.h"
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

#include "core/tape.h"

#include "gtest/gtest.h"
#include "core/ops/ops.h"

namespace lra {
namespace {

TEST(TapeTest, ChainRuleAndAccumulation) {
  Var x = Parameter(Tensor::FromVector({2}, {1.5f, -2.0f}), "x");
  // L = sum(x * x + 3 x) -> dL/dx = 2x + 3; x is used twice, so contributions accumulate.
  Var l = Sum(Add(Mul(x, x), Scale(x, 3.0f)));
  Backward(l);
  EXPECT_FLOAT_EQ(x.grad().data<float>()[0], 6.0f);
  EXPECT_FLOAT_EQ(x.grad().data<float>()[1], -1.0f);
  // A second graph accumulates into the parameter until ZeroGrad.
  Backward(Sum(x));
  EXPECT_FLOAT_EQ(x.grad().data<float>()[0], 7.0f);
  x.ZeroGrad();
  EXPECT_FALSE(x.has_grad());
}

TEST(TapeTest, NoGradRecordsNothing) {
  Var x = Parameter(Tensor::Full({3}, 2.0f), "x");
  NoGrad ng;
  Var y = Mul(x, x);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FALSE(GradEnabled());
}

TEST(TapeTest, ConstantsGetNoGradient) {
  Var c = Constant(Tensor::Full({3}, 2.0f));
  Var p = Parameter(Tensor::Full({3}, 1.0f), "p");
  Backward(Sum(Mul(c, p)));
  EXPECT_FALSE(c.has_grad());
  EXPECT_FLOAT_EQ(p.grad().data<float>()[2], 2.0f);
}

// A custom op defined outside core: y = x^3, dy/dx = 3x^2.
Var Cube(const Var& x) {
  Tensor y = Tensor::Empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.value().data<float>()[i];
    y.data<float>()[i] = v * v * v;
  }
  return MakeOp("Cube", y, {x}, [x](const Tensor& dy) {
    Tensor g = Tensor::Empty(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float v = x.value().data<float>()[i];
      g.data<float>()[i] = 3 * v * v * dy.data<float>()[i];
    }
    AccumulateGrad(x, g);
  });
}

TEST(TapeTest, CustomOp) {
  Var x = Parameter(Tensor::FromVector({2}, {2.0f, -1.0f}), "x");
  Backward(Sum(Cube(x)));
  EXPECT_FLOAT_EQ(x.grad().data<float>()[0], 12.0f);
  EXPECT_FLOAT_EQ(x.grad().data<float>()[1], 3.0f);
}

// Backward frees each op's saved tensors: after it, only the parameters' buffers remain.
TEST(TapeTest, BackwardReleasesSavedTensors) {
  Var x = Parameter(Tensor::Full({256, 256}, 0.5f), "x");
  const int64_t before = BufferPool::Get().stats().bytes_in_use;
  {
    Var l = Sum(Tanh(Mul(x, x)));
    Backward(l);
  }
  const int64_t after = BufferPool::Get().stats().bytes_in_use;
  // Only x's gradient (256 KiB) is new.
  EXPECT_EQ(after - before, static_cast<int64_t>(BufferPool::RoundedSize(256 * 256 * 4)));
}

TEST(TapeTest, DiamondGraphVisitsInTopologicalOrder) {
  Var x = Parameter(Tensor::Full({1}, 3.0f), "x");
  Var a = Scale(x, 2.0f);    // 2x
  Var b = Mul(a, x);         // 2x^2
  Var c = Add(a, b);         // 2x + 2x^2 -> d/dx = 2 + 4x = 14
  Backward(Sum(c));
  EXPECT_FLOAT_EQ(x.grad().data<float>()[0], 14.0f);
}

}  // namespace
}  // namespace lra

// Tests for dropout, embedding, shape ops, pooling and complex ops.
#include <cmath>

#include "gtest/gtest.h"
#include "core/ops/complex.h"
#include "core/ops/dropout.h"
#include "core/ops/embedding.h"
#include "core/ops/pooling.h"
#include "core/ops/shape_ops.h"
#include "core/parallel.h"
#include "core/testing/grad_check.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

TEST(DropoutTest, ScalesKeptValuesAndIsReproducible) {
  Tensor x = Tensor::Full({100, 50}, 1.0f);
  Rng r1(3), r2(3);
  Var a = Dropout(Parameter(x, "x"), 0.25f, true, r1);
  Var b = Dropout(Constant(x), 0.25f, true, r2);
  int64_t kept = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = a.value().data<float>()[i];
    EXPECT_TRUE(v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6f);
    EXPECT_EQ(v, b.value().data<float>()[i]);
    kept += v != 0.0f;
  }
  EXPECT_NEAR(kept / 5000.0, 0.75, 5 * std::sqrt(0.75 * 0.25 / 5000));
  Rng r3(3);
  EXPECT_TRUE(Dropout(Constant(x), 0.25f, false, r3).value().SharesStorageWith(x));
  // Gradient is the mask.
  Backward(a, Tensor::Full(x.shape(), 1.0f));
}

TEST(DropoutTest, TiedSharesMaskAlongAxis) {
  Tensor x = Tensor::Full({4, 6, 8}, 1.0f);
  Rng rng(5);
  Var y = TiedDropout(Constant(x), 0.5f, 1, true, rng);
  const float* p = y.value().data<float>();
  for (int b = 0; b < 4; ++b)
    for (int h = 0; h < 8; ++h)
      for (int l = 1; l < 6; ++l) EXPECT_EQ(p[(b * 6 + l) * 8 + h], p[(b * 6) * 8 + h]);
}

TEST(EmbeddingTest, LookupAndScatterGradient) {
  Rng rng(61);
  Tensor table = RandomUniform({5, 3}, -1, 1, rng);
  const std::vector<int32_t> ids = {4, 0, 4, 2, 2, 2};  // repeats accumulate
  OpCheck c;
  c.op = [&](const std::vector<Var>& in) { return Embedding(in[0], ids, Shape{2, 3}); };
  c.ref = [&](const std::vector<std::vector<double>>& in) {
    std::vector<double> y;
    for (int32_t id : ids)
      for (int j = 0; j < 3; ++j) y.push_back(in[0][id * 3 + j]);
    return y;
  };
  c.grad_reduction_length = 3;
  CheckOp(c, {table});
  EXPECT_EQ(Embedding(Constant(table), ids, Shape{2, 3}).shape(), (Shape{2, 3, 3}));
}

TEST(ShapeOpsTest, PermuteTransposeReshape) {
  Rng rng(62);
  Tensor x = RandomUniform({2, 3, 4}, -1, 1, rng);
  const std::vector<int> perm = {2, 0, 1};
  OpCheck c;
  c.op = [&](const std::vector<Var>& in) { return Permute(in[0], perm); };
  c.ref = [&](const std::vector<std::vector<double>>& in) {
    std::vector<double> y;
    for (int k = 0; k < 4; ++k)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j) y.push_back(in[0][(i * 3 + j) * 4 + k]);
    return y;
  };
  CheckOp(c, {x});
  OpCheck t;
  t.op = [](const std::vector<Var>& in) { return Transpose(in[0], 1, 2); };
  t.ref = [](const std::vector<std::vector<double>>& in) {
    std::vector<double> y;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 3; ++j) y.push_back(in[0][(i * 3 + j) * 4 + k]);
    return y;
  };
  CheckOp(t, {x});
  OpCheck r;
  r.op = [](const std::vector<Var>& in) { return Reshape(in[0], {6, -1}); };
  r.ref = [](const std::vector<std::vector<double>>& in) { return in[0]; };
  CheckOp(r, {x});
}

TEST(ShapeOpsTest, ConcatAndSlice) {
  Rng rng(63);
  Tensor a = RandomUniform({2, 1, 3}, -1, 1, rng), b = RandomUniform({2, 2, 3}, -1, 1, rng);
  OpCheck c;
  c.op = [](const std::vector<Var>& in) { return Concat({in[0], in[1]}, 1); };
  c.ref = [](const std::vector<std::vector<double>>& in) {
    std::vector<double> y;
    for (int i = 0; i < 2; ++i) {
      for (int k = 0; k < 3; ++k) y.push_back(in[0][i * 3 + k]);
      for (int k = 0; k < 6; ++k) y.push_back(in[1][i * 6 + k]);
    }
    return y;
  };
  CheckOp(c, {a, b});
  OpCheck s;
  s.op = [](const std::vector<Var>& in) { return Slice(in[0], 1, 1, 1); };
  s.ref = [](const std::vector<std::vector<double>>& in) {
    std::vector<double> y;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 3; ++k) y.push_back(in[0][(i * 2 + 1) * 3 + k]);
    return y;
  };
  CheckOp(s, {b});
}

// Large enough for ParallelFor to split the rows over two threads: every element of the slice
// and of its gradient (accumulated onto a gradient already holding 1) lands where it belongs.
TEST(ShapeOpsTest, SliceOnTwoThreadsPlacesEveryRow) {
  const int prev = NumThreads();
  SetNumThreads(2);
  const int64_t outer = 64, len = 40, inner = 32, start = 7, length = 20;
  Tensor t = Tensor::Empty({outer, len, inner}, DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  Var x = Parameter(t, "x");
  Var y = Slice(x, 1, start, length);
  Tensor dy = Tensor::Empty(y.shape(), DType::kF32);
  for (int64_t i = 0; i < dy.numel(); ++i) dy.data<float>()[i] = static_cast<float>(i + 1);
  x.GradForAccumulate().Fill(1.0f);
  Backward(y, dy);
  const float* g = x.grad().data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t l = 0; l < len; ++l)
      for (int64_t c = 0; c < inner; ++c) {
        const int64_t xi = (o * len + l) * inner + c;
        const bool inside = l >= start && l < start + length;
        const int64_t yi = (o * length + (l - start)) * inner + c;
        if (inside) ASSERT_EQ(y.value().data<float>()[yi], static_cast<float>(xi));
        ASSERT_EQ(g[xi], inside ? 1.0f + static_cast<float>(yi + 1) : 1.0f) << o << " " << l;
      }
  SetNumThreads(prev);
}

TEST(MeanPoolTest, RespectsLengths) {
  Rng rng(64);
  const int64_t b = 3, l = 4, h = 2;
  Tensor x = RandomUniform({b, l, h}, -1, 1, rng);
  for (std::vector<int32_t> lengths : {std::vector<int32_t>{}, {1, 4, 0}}) {
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) { return MeanPool(in[0], lengths); };
    c.ref = [&](const std::vector<std::vector<double>>& in) {
      std::vector<double> y(b * h, 0.0);
      for (int64_t i = 0; i < b; ++i) {
        const int64_t n = lengths.empty() ? l : lengths[i];
        for (int64_t t = 0; t < n; ++t)
          for (int64_t j = 0; j < h; ++j) y[i * h + j] += in[0][(i * l + t) * h + j] / n;
      }
      return y;
    };
    c.reduction_length = l;
    CheckOp(c, {x});
  }
}

TEST(ComplexTest, ExpMulRealImag) {
  Rng rng(65);
  Tensor re = RandomUniform({3, 4}, -1, 1, rng), im = RandomUniform({3, 4}, -1, 1, rng);
  Tensor bre = RandomUniform({4}, -1, 1, rng), bim = RandomUniform({4}, -1, 1, rng);
  // f = Re(exp(a) * b) and Im(...), a = re + i im, b broadcast over rows.
  for (bool imag : {false, true}) {
    OpCheck c;
    c.op = [imag](const std::vector<Var>& in) {
      Var z = CMul(CExp(MakeComplex(in[0], in[1])), MakeComplex(in[2], in[3]));
      return imag ? Imag(z) : Real(z);
    };
    c.ref = [imag](const std::vector<std::vector<double>>& in) {
      std::vector<double> y;
      for (int i = 0; i < 12; ++i) {
        const std::complex<double> z =
            std::exp(std::complex<double>(in[0][i], in[1][i])) *
            std::complex<double>(in[2][i % 4], in[3][i % 4]);
        y.push_back(imag ? z.imag() : z.real());
      }
      return y;
    };
    c.grad_reduction_length = 3;
    CheckOp(c, {re, im, bre, bim});
  }
}

}  // namespace
}  // namespace lra

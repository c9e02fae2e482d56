#include "core/kernels/vmath/vmath.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace lra {
namespace {

constexpr double kEps = 1.1920928955078125e-07;

std::vector<float> Grid(float lo, float hi, int n) {
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = lo + (hi - lo) * i / (n - 1);
  return x;
}

TEST(VmathTest, ExpRelativeError) {
  auto x = Grid(-87.0f, 88.0f, 200001);
  std::vector<float> y(x.size());
  vmath::Exp(x.data(), y.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = std::exp(double(x[i]));
    ASSERT_LE(std::abs(y[i] - r), 4 * kEps * r) << x[i];
  }
  float big = 100, tiny = -100, yb, yt;
  vmath::Exp(&big, &yb, 1);
  vmath::Exp(&tiny, &yt, 1);
  EXPECT_GT(yb, 1e38f);
  EXPECT_LT(yt, 1e-37f);
}

TEST(VmathTest, TanhErfGeluAbsoluteError) {
  auto x = Grid(-12.0f, 12.0f, 100001);
  const size_t n = x.size();
  std::vector<float> t(n), s(n), gt(n), dgt(n), ge(n), dge(n), bt(n), be(n), ones(n, 1.0f);
  vmath::Tanh(x.data(), t.data(), n);
  vmath::Sigmoid(x.data(), s.data(), n);
  vmath::GeluTanh(x.data(), gt.data(), dgt.data(), n);
  vmath::GeluErf(x.data(), ge.data(), dge.data(), n);
  vmath::GeluTanhBackward(x.data(), ones.data(), bt.data(), false, n);
  vmath::GeluErfBackward(x.data(), ones.data(), be.data(), false, n);
  const double c = std::sqrt(2 / M_PI);
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i];
    ASSERT_NEAR(t[i], std::tanh(v), 3e-7) << v;
    ASSERT_NEAR(s[i], 1 / (1 + std::exp(-v)), 3e-7) << v;
    const double th = std::tanh(c * (v + 0.044715 * v * v * v));
    const double tol = 1e-6 * std::max(1.0, std::abs(v));
    ASSERT_NEAR(gt[i], 0.5 * v * (1 + th), tol) << v;
    ASSERT_NEAR(dgt[i], 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * c * (1 + 3 * 0.044715 * v * v),
                tol) << v;
    ASSERT_NEAR(ge[i], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), tol) << v;
    ASSERT_NEAR(dge[i], 0.5 * (1 + std::erf(v / std::sqrt(2.0))) +
                            v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI), tol) << v;
    ASSERT_NEAR(bt[i], dgt[i], 1e-6 * std::max(1.0, std::abs(v)));
    ASSERT_NEAR(be[i], dge[i], 1e-6 * std::max(1.0, std::abs(v)));
  }
}

}  // namespace
}  // namespace lra

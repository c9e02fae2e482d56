#include "core/kernels/vmath/vmath.h"

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "core/kernels/vmath/exp_poly.h"
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

// Exp2Poly (2^r on [-1/2, 1/2], shared by the Mamba scan and the attention softmax): its
// documented 2.1e-7 relative error is for FMA Horner steps; a build without FMA rounds each
// product too, at most eps/2 |p r| more per step, about eps/2 in all (the last step's |p r| <=
// 0.41 against a result >= 0.70 dominates), so 3e-7 holds either way.
TEST(VmathTest, Exp2PolyRelativeError) {
  for (float r : Grid(-0.5f, 0.5f, 200001)) {
    const double want = std::exp2(double(r));
    ASSERT_LE(std::abs(vmath::Exp2Poly(r) - want), 3e-7 * want) << r;
  }
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

// The tanh GELU's negative tail keeps its relative accuracy (vmath.cc GeluTanhF: gelu = v s with
// s = 1 / (1 + 2^z), z = -2 log2(e) u): the reference is the same logistic form in double, since
// 0.5 v (1 + tanh(u)) cancels there even in double. Bound: z = -log2(e) (v (2kC + 2kC kA v^2))
// carries 5 roundings (v^2, the product with 2kC kA, the sum, the product with v, the product
// with -log2(e)) and 2 of the constants, 7 eps relative to |z|, which 2^z turns into |z| ln 2 x 7
// eps = 4.9 |z| eps relative; plus Exp2Poly's 2.1e-7 (under 2 eps), the sum with 1, the division
// and the product with v (1 eps each): (4.9 |z| + 5) eps, taken as (5 |z| + 8) eps. Below v =
// -9.2, z reaches the clamp at 125 and gelu is under 1e-36 (checked in absolute terms by the
// test above). The former 0.5 v (1 + tanh(u)) was 30% off at v = -5 and 2000x at v = -6.
TEST(VmathTest, GeluTanhNegativeTailRelativeError) {
  auto x = Grid(-9.0f, -0.5f, 20001);
  const size_t n = x.size();
  std::vector<float> y(n);
  vmath::GeluTanh(x.data(), y.data(), nullptr, n);
  const double c = std::sqrt(2 / M_PI);
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double u = c * (v + 0.044715 * v * v * v);
    const double want = v / (1 + std::exp(-2 * u));
    const double z = -2 * u / std::log(2.0);
    ASSERT_LE(std::abs(y[i] - want), (5 * std::abs(z) + 8) * kEps * std::abs(want)) << v;
  }
}

// An element's result must not depend on where the call's range starts or ends: one call over
// 1000 elements and ten calls over 100 (so each ends in a partial vector) agree bitwise. Before
// the fixed-length blocks, GeluErfBackward's remainder loop rounded differently, so the
// threads' split of an array (and the rows of the fused S4 kernel) changed last bits.
TEST(VmathTest, ResultsDoNotDependOnTheCallsRange) {
  const int n = 1000;
  const std::vector<float> x = Grid(-6.0f, 5.0f, n), dy = Grid(-1.0f, 2.0f, n);
  using Fn = void (*)(const float*, const float*, float*, int64_t);
  const std::vector<std::pair<const char*, Fn>> fns = {
      {"Exp", [](const float* x, const float*, float* y, int64_t n) { vmath::Exp(x, y, n); }},
      {"Tanh", [](const float* x, const float*, float* y, int64_t n) { vmath::Tanh(x, y, n); }},
      {"Sigmoid",
       [](const float* x, const float*, float* y, int64_t n) { vmath::Sigmoid(x, y, n); }},
      {"GeluErf",
       [](const float* x, const float*, float* y, int64_t n) { vmath::GeluErf(x, y, nullptr, n); }},
      {"GeluTanh", [](const float* x, const float*, float* y,
                      int64_t n) { vmath::GeluTanh(x, y, nullptr, n); }},
      {"GeluErf'", [](const float* x, const float*, float* y, int64_t n) {
         std::vector<float> g(n);
         vmath::GeluErf(x, g.data(), y, n);
       }},
      {"GeluErfBackward", [](const float* x, const float* dy, float* y,
                             int64_t n) { vmath::GeluErfBackward(x, dy, y, false, n); }},
      {"GeluErfBackward+=", [](const float* x, const float* dy, float* y,
                               int64_t n) { vmath::GeluErfBackward(x, dy, y, true, n); }},
      {"GeluTanhBackward", [](const float* x, const float* dy, float* y,
                              int64_t n) { vmath::GeluTanhBackward(x, dy, y, false, n); }},
      {"GeluTanhBackward+=", [](const float* x, const float* dy, float* y,
                                int64_t n) { vmath::GeluTanhBackward(x, dy, y, true, n); }},
      {"Glu", [](const float* x, const float* dy, float* y, int64_t n) { vmath::Glu(x, dy, y, n); }},
      {"GluBackward", [](const float* x, const float* dy, float* y, int64_t n) {
         std::vector<float> gb(n);
         vmath::GluBackward(x, dy, x, y, gb.data(), false, n);
       }},
      {"GluAdd", [](const float* x, const float* dy, float* y,
                    int64_t n) { vmath::GluAdd(x, dy, dy, y, n); }},
      {"GeluErfWithGrad'", [](const float* x, const float*, float* y, int64_t n) {
         std::vector<float> g(n);
         vmath::GeluErfWithGrad(x, g.data(), y, n);
       }},
  };
  for (const auto& [name, fn] : fns) {
    std::vector<float> whole(n, 0.25f), parts(n, 0.25f);
    fn(x.data(), dy.data(), whole.data(), n);
    for (int s = 0; s < n; s += 100) fn(x.data() + s, dy.data() + s, parts.data() + s, 100);
    int differ = 0;
    for (int i = 0; i < n; ++i) differ += whole[i] != parts[i];
    EXPECT_EQ(differ, 0) << name;
  }
}

// The fused kernels are bitwise the passes they replace: GluAdd is Glu then a float add;
// GeluErfWithGrad's y is GeluErf's and dy times its derivative is GeluErfBackward's gradient.
TEST(VmathTest, FusedKernelsAreBitwiseTheirParts) {
  const int n = 1000;  // 62 whole blocks and a partial one
  std::vector<float> x(n), b(n), r(n), dy(n);
  for (int i = 0; i < n; ++i) {
    x[i] = -9.0f + 18.0f * i / n;
    b[i] = 7.0f * std::sin(0.37f * i);
    r[i] = 0.5f * std::cos(0.11f * i);
    dy[i] = std::cos(0.23f * i);
  }
  std::vector<float> glu(n), fused(n);
  vmath::Glu(x.data(), b.data(), glu.data(), n);
  vmath::GluAdd(x.data(), b.data(), r.data(), fused.data(), n);
  std::vector<float> y(n), y2(n), d(n), g(n);
  vmath::GeluErf(x.data(), y.data(), nullptr, n);
  vmath::GeluErfWithGrad(x.data(), y2.data(), d.data(), n);
  vmath::GeluErfBackward(x.data(), dy.data(), g.data(), false, n);
  int differ[3] = {0, 0, 0};
  for (int i = 0; i < n; ++i) {
    const float sum = r[i] + glu[i], prod = dy[i] * d[i];
    differ[0] += std::memcmp(&fused[i], &sum, sizeof(float)) != 0;
    differ[1] += std::memcmp(&y2[i], &y[i], sizeof(float)) != 0;
    differ[2] += std::memcmp(&prod, &g[i], sizeof(float)) != 0;
  }
  EXPECT_EQ(differ[0], 0) << "GluAdd != r + Glu";
  EXPECT_EQ(differ[1], 0) << "GeluErfWithGrad's y != GeluErf";
  EXPECT_EQ(differ[2], 0) << "dy * GeluErfWithGrad's d != GeluErfBackward";
}

}  // namespace
}  // namespace lra

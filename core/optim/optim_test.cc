#include <cmath>

#include "gtest/gtest.h"
#include "core/optim/adam.h"
#include "core/optim/schedule.h"

namespace lra {
namespace {

// Reference Adam / AdamW in double, textbook form (bias-corrected m_hat, v_hat).
void RefAdam(std::vector<double>& w, const std::vector<std::vector<double>>& grads, double lr,
             double wd, bool decoupled, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8) {
  std::vector<double> m(w.size(), 0), v(w.size(), 0);
  for (size_t t = 1; t <= grads.size(); ++t)
    for (size_t i = 0; i < w.size(); ++i) {
      double g = grads[t - 1][i] + (decoupled ? 0 : wd * w[i]);
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double mh = m[i] / (1 - std::pow(b1, t)), vh = v[i] / (1 - std::pow(b2, t));
      if (decoupled) w[i] -= lr * wd * w[i];
      w[i] -= lr * mh / (std::sqrt(vh) + eps);
    }
}

TEST(AdamTest, MatchesReferenceForBothDecayModesAndGroups) {
  for (bool decoupled : {false, true}) {
    Var a = Parameter(Tensor::FromVector({3}, {0.5f, -1.0f, 2.0f}), "a");
    Var b = Parameter(Tensor::FromVector({2}, {1.0f, -0.25f}), "b");
    Adam opt({{{a}, 0.01f, 0.1f}, {{b}, 0.02f, 0.0f}}, AdamOptions{0.9f, 0.999f, 1e-8f, decoupled});
    std::vector<std::vector<double>> ga, gb;
    for (int t = 0; t < 5; ++t) {
      ga.push_back({0.1 * t - 0.2, 0.3, -0.5 + 0.05 * t});
      gb.push_back({0.01 * t, -1.0});
      AccumulateGrad(a, Tensor::FromVector({3}, {float(ga[t][0]), float(ga[t][1]), float(ga[t][2])}));
      AccumulateGrad(b, Tensor::FromVector({2}, {float(gb[t][0]), float(gb[t][1])}));
      opt.Step(0.5f);
      opt.ZeroGrad();
    }
    std::vector<double> wa = {0.5, -1.0, 2.0}, wb = {1.0, -0.25};
    RefAdam(wa, ga, 0.005, 0.1, decoupled);
    RefAdam(wb, gb, 0.01, 0.0, decoupled);
    // 5 steps of O(1) float arithmetic on values of size ~1: error ~ 5 * few ulp.
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(a.value().data<float>()[i], wa[i], 1e-6);
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(b.value().data<float>()[i], wb[i], 1e-6);
    EXPECT_EQ(opt.step(), 5);
  }
}

TEST(AdamTest, SkipsParametersWithoutGradient) {
  Var a = Parameter(Tensor::Full({2}, 1.0f), "a");
  Adam opt({{{a}, 0.1f, 0.5f}});
  opt.Step();
  EXPECT_EQ(a.value().data<float>()[0], 1.0f);
}

// A complex parameter is updated as its real and imaginary parts, each with its own moments:
// exactly the float Adam on the interleaved (re, im) values.
TEST(AdamTest, ComplexParameterIsAdamOnItsRealAndImaginaryParts) {
  Var z = Parameter(Tensor::FromComplex({2}, {c64(0.5f, -1.0f), c64(2.0f, 0.25f)}), "z");
  Var r = Parameter(Tensor::FromVector({4}, {0.5f, -1.0f, 2.0f, 0.25f}), "r");
  Adam opt({{{z}, 0.01f, 0.1f}, {{r}, 0.01f, 0.1f}}, AdamOptions{.decoupled_weight_decay = true});
  std::vector<std::vector<double>> g;
  for (int t = 0; t < 4; ++t) {
    g.push_back({0.1 * t - 0.2, 0.3, -0.5 + 0.05 * t, 1.0 - 0.3 * t});
    AccumulateGrad(z, Tensor::FromComplex({2}, {c64(g[t][0], g[t][1]), c64(g[t][2], g[t][3])}));
    AccumulateGrad(r, Tensor::FromVector({4}, {float(g[t][0]), float(g[t][1]), float(g[t][2]),
                                               float(g[t][3])}));
    opt.Step();
    opt.ZeroGrad();
  }
  std::vector<double> w = {0.5, -1.0, 2.0, 0.25};
  RefAdam(w, g, 0.01, 0.1, true);
  const c64* zv = z.value().data<c64>();
  const float* rv = r.value().data<float>();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(zv[i].real(), rv[2 * i]) << "same float arithmetic, same bits";
    EXPECT_EQ(zv[i].imag(), rv[2 * i + 1]);
    EXPECT_NEAR(zv[i].real(), w[2 * i], 1e-6);
    EXPECT_NEAR(zv[i].imag(), w[2 * i + 1], 1e-6);
  }
  EXPECT_EQ(opt.moments()[0].m.dtype(), DType::kC64);
}

TEST(ClipTest, ComplexGradientsCountTheirModulus) {
  Var z = Parameter(Tensor::FromComplex({1}, {c64(0, 0)}), "z");
  AccumulateGrad(z, Tensor::FromComplex({1}, {c64(3.0f, 4.0f)}));
  EXPECT_FLOAT_EQ(ClipGradNorm({z}, 1.0f), 5.0f);
  EXPECT_FLOAT_EQ(z.grad().data<c64>()[0].real(), 0.6f);
  EXPECT_FLOAT_EQ(z.grad().data<c64>()[0].imag(), 0.8f);
}

TEST(ClipTest, ScalesToMaxNorm) {
  Var a = Parameter(Tensor::Zeros({2}), "a"), b = Parameter(Tensor::Zeros({1}), "b");
  AccumulateGrad(a, Tensor::FromVector({2}, {3.0f, 0.0f}));
  AccumulateGrad(b, Tensor::FromVector({1}, {4.0f}));
  EXPECT_FLOAT_EQ(ClipGradNorm({a, b}, 1.0f), 5.0f);
  EXPECT_FLOAT_EQ(a.grad().data<float>()[0], 0.6f);
  EXPECT_FLOAT_EQ(b.grad().data<float>()[0], 0.8f);
  EXPECT_FLOAT_EQ(ClipGradNorm({a, b}, 10.0f), 1.0f);  // below max: unchanged
  EXPECT_FLOAT_EQ(b.grad().data<float>()[0], 0.8f);
}

TEST(ScheduleTest, Shapes) {
  EXPECT_DOUBLE_EQ(LrSchedule::Constant().Factor(7), 1.0);
  EXPECT_DOUBLE_EQ(LrSchedule::Constant(10).Factor(5), 0.5);
  // LRA's schedules see flax's step s = (our update index) - 1 (schedule.h).
  const LrSchedule lra = LrSchedule::LraRsqrt(100);
  EXPECT_DOUBLE_EQ(lra.Factor(1), 0.0);  // s = 0: linear_warmup gives 0
  EXPECT_DOUBLE_EQ(lra.Factor(51), 0.5 / 10.0);
  EXPECT_DOUBLE_EQ(lra.Factor(101), 0.1);
  EXPECT_DOUBLE_EQ(lra.Factor(401), 0.05);
  const LrSchedule s4 = LrSchedule::S4Cosine(10, 110);
  EXPECT_DOUBLE_EQ(s4.Factor(5), 0.5);
  EXPECT_DOUBLE_EQ(s4.Factor(10), 1.0);
  EXPECT_NEAR(s4.Factor(60), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(s4.Factor(110), 0.0);
}

// LRA's cosine_decay (train_utils.py create_learning_rate_scheduler at cd31e5c): progress =
// (s - warmup) / steps_per_cycle over the whole cycle, so at the last step of a 1000-step run
// with warmup 200 the factor is 0.5 (1 + cos(0.8 pi)) = 0.0955, not 0 as with (total - warmup)
// (S4's `cosine`, which would give 0 there and 0.5 at s = 600).
TEST(ScheduleTest, LraCosineDividesByTheWholeCycle) {
  const LrSchedule c = LrSchedule::LraCosine(200, 1000);
  EXPECT_DOUBLE_EQ(c.Factor(1), 0.0);                     // s = 0
  EXPECT_DOUBLE_EQ(c.Factor(101), 0.5);                   // s = 100: half the warmup
  EXPECT_DOUBLE_EQ(c.Factor(201), 1.0);                   // s = 200: progress 0
  EXPECT_NEAR(c.Factor(701), 0.5 * (1 + std::cos(M_PI * 0.5)), 1e-15);  // s = 700
  EXPECT_NEAR(c.Factor(1000), 0.5 * (1 + std::cos(M_PI * 799.0 / 1000)), 1e-15);
  EXPECT_GT(c.Factor(1000), 0.09);
  EXPECT_NEAR(c.Factor(1201), 1.0, 1e-15);  // s = 1200: a new cycle starts
  // The S4 cosine with the same warmup and total is a different curve.
  EXPECT_NEAR(LrSchedule::S4Cosine(200, 1000).Factor(600), 0.5, 1e-12);
  EXPECT_GT(std::abs(c.Factor(600) - 0.5), 0.1);
}

}  // namespace
}  // namespace lra

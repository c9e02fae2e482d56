#include "models/s4/ssm_init.h"

#include <cmath>
#include <complex>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace lra::s4 {
namespace {

using cd = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;

TEST(S4dInit, LinAndInvAndRealClosedForm) {
  const auto lin = S4dInitA(DiagInit::kLin, 8);
  const auto inv = S4dInitA(DiagInit::kInv, 8);
  const auto real = S4dInitA(DiagInit::kReal, 8);
  ASSERT_EQ(lin.size(), 4u);
  for (int n = 0; n < 4; ++n) {
    EXPECT_EQ(lin[n], cd(-0.5, -kPi * n));
    EXPECT_NEAR(inv[n].imag(), -(8.0 / kPi) * (8.0 / (2 * n + 1) - 1), 1e-12);
    EXPECT_EQ(inv[n].real(), -0.5);
    EXPECT_EQ(real[n], cd(-(n + 1.0), 0.0));
  }
  for (auto b : S4dInitB(DiagInit::kLin, 8)) EXPECT_EQ(b, cd(1.0));
}

TEST(HippoLegs, NplrReconstructsA) {
  for (int n : {4, 16, 64}) {
    const NplrInit init = HippoLegsNplr(n);
    const int m = n / 2;
    const auto a = HippoLegsA(n), p = HippoLegsP(n), b = HippoLegsB(n);
    double a_norm = 0;
    for (double x : a) a_norm = std::max(a_norm, std::abs(x));
    // A = 2 Re(V_h diag(lambda) V_h*) - P P^T.
    double err = 0;
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < n; ++k) {
        cd s = 0;
        for (int j = 0; j < m; ++j) {
          s += init.v[i * m + j] * init.lambda[j] * std::conj(init.v[k * m + j]);
        }
        err = std::max(err, std::abs(2 * s.real() - p[i] * p[k] - a[i * n + k]));
      }
    }
    // Hermitian eigensolvers are backward stable: error ~ n u_d ||A||; 1e3 u_d ||A|| leaves
    // a wide margin for n <= 64 (measured ~1e-13 * ||A||).
    EXPECT_LT(err, 1e3 * std::numeric_limits<double>::epsilon() * a_norm * n) << "n=" << n;
    // The kept half: Re = -1/2, Im < 0 ascending, orthonormal columns, p = V_h* P, b = V_h* B.
    for (int j = 0; j < m; ++j) {
      EXPECT_NEAR(init.lambda[j].real(), -0.5, 1e-12);
      EXPECT_LT(init.lambda[j].imag(), 0);
      if (j > 0) {
        EXPECT_LE(init.lambda[j - 1].imag(), init.lambda[j].imag());
      }
      cd pj = 0, bj = 0;
      for (int i = 0; i < n; ++i) {
        pj += std::conj(init.v[i * m + j]) * p[i];
        bj += std::conj(init.v[i * m + j]) * b[i];
      }
      EXPECT_LT(std::abs(pj - init.p[j]), 1e-12 * n);
      EXPECT_LT(std::abs(bj - init.b[j]), 1e-12 * n);
      for (int j2 = 0; j2 < m; ++j2) {
        cd dot = 0, dotc = 0;  // <v_j, v_j2> and <v_j, conj v_j2> (the dropped half)
        for (int i = 0; i < n; ++i) {
          dot += std::conj(init.v[i * m + j]) * init.v[i * m + j2];
          dotc += std::conj(init.v[i * m + j]) * std::conj(init.v[i * m + j2]);
        }
        EXPECT_LT(std::abs(dot - (j == j2 ? 1.0 : 0.0)), 1e-12);
        EXPECT_LT(std::abs(dotc), 1e-12);
      }
    }
    // S4D-LegS uses the same eigenvalues; its B is V_h* B with Im clipped to [-2, 2].
    const auto diag_a = S4dInitA(DiagInit::kLegs, n);
    const auto diag_b = S4dInitB(DiagInit::kLegs, n);
    for (int j = 0; j < m; ++j) {
      EXPECT_EQ(diag_a[j], init.lambda[j]);
      EXPECT_EQ(diag_b[j].real(), init.b[j].real());
      EXPECT_LE(std::abs(diag_b[j].imag()), 2.0);
    }
  }
}

TEST(Transforms, InversesAndDerivatives) {
  for (DtTransform t : {DtTransform::kExp, DtTransform::kSoftplus}) {
    for (double dt : {1e-4, 1e-3, 0.05, 0.1}) {
      EXPECT_NEAR(DtValue(t, DtInverse(t, dt)), dt, 1e-12 * dt / 1e-4);
      const double raw = DtInverse(t, dt), h = 1e-6;
      const double fd = (DtValue(t, raw + h) - DtValue(t, raw - h)) / (2 * h);
      EXPECT_NEAR(DtDeriv(t, raw), fd, 1e-8);
    }
  }
  for (RealTransform t : {RealTransform::kExp, RealTransform::kRelu, RealTransform::kNone}) {
    const cd a(-0.5, -3.0);
    float re, im;
    AToRaw(t, &a, 1, &re, &im);
    EXPECT_NEAR(std::abs(AFromRaw(t, re, im) - a), 0.0, 1e-6);
    const double h = 1e-6;
    const double fd = (RealTransformValue(t, re + h) - RealTransformValue(t, re - h)) / (2 * h);
    EXPECT_NEAR(RealTransformDeriv(t, re), fd, 1e-8);
  }
}

TEST(RandomInit, DtRangeAndCVariance) {
  std::mt19937_64 rng(3333);
  std::vector<float> raw(1000);
  InitDtRaw(DtTransform::kSoftplus, 1e-3, 1e-1, 1000, rng, raw.data());
  double lo = 1, hi = 0;
  for (float r : raw) {
    const double dt = DtValue(DtTransform::kSoftplus, r);
    lo = std::min(lo, dt);
    hi = std::max(hi, dt);
  }
  EXPECT_GE(lo, 1e-3 * (1 - 1e-5));
  EXPECT_LE(hi, 1e-1 * (1 + 1e-5));
  EXPECT_LT(lo, 1.2e-3);  // log-uniform: 1000 draws reach both ends
  EXPECT_GT(hi, 0.08);
  std::vector<std::complex<float>> c(20000);
  InitC(20000, rng, c.data());
  double e2 = 0, mean_re = 0;
  for (auto x : c) {
    e2 += std::norm(x);
    mean_re += x.real();
  }
  // E|C|^2 = 1 with sd 1/sqrt(20000) = 0.007 for the mean; 0.05 is 7 sd.
  EXPECT_NEAR(e2 / c.size(), 1.0, 0.05);
  EXPECT_NEAR(mean_re / c.size(), 0.0, 0.05);
}

}  // namespace
}  // namespace lra::s4

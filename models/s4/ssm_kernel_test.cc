#include "models/s4/ssm_kernel.h"

#include <cmath>
#include <cstdio>
#include <complex>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include <omp.h>

#include "gtest/gtest.h"
#include "models/s4/ssm_recurrent.h"
#include "models/s4/ssm_test_util.h"

namespace lra::s4 {
namespace {

using cd = std::complex<double>;
constexpr double kEpsF = std::numeric_limits<float>::epsilon();

std::vector<double> RandomVec(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

// ---------------------------------------------------------------------------------------------
// S4D

// Closed form at init, written independently of the library: S4D-Lin, B = 1, ZOH,
// K[h,l] = 2 Re sum_n C[h,n] (exp(dt A_n) - 1)/A_n exp(dt A_n l), A_n = -1/2 - i pi n.
TEST(S4dKernel, MatchesClosedFormAtInit) {
  SsmDims d;
  d.q = 1, d.h = 3, d.m = 8, d.s = 1, d.l = 300;
  SsmOptions o;
  OwnedParams<float> p = ZerosLike<float>(d);
  const double kPi = 3.14159265358979323846;
  for (int n = 0; n < d.m; ++n) {
    p.a_re_raw[n] = static_cast<float>(std::log(0.5));
    p.a_im[n] = static_cast<float>(kPi * n);
    p.b[n] = 1.0f;
  }
  std::mt19937_64 rng(1);
  InitC(d.h * d.m, rng, p.c.data());
  const float dts[3] = {1e-3f, 1e-2f, 1e-1f};
  for (int h = 0; h < d.h; ++h) p.dt_raw[h] = std::log(dts[h]);

  std::vector<float> k(static_cast<size_t>(d.h) * d.l);
  S4dKernelForward(d, o, p.View(), k.data());
  const OwnedParams<double> pd = ToDouble(p);
  std::vector<double> kref(k.size());
  S4dKernelReference(d, o, pd.View(), kref.data());
  for (int h = 0; h < d.h; ++h) {
    const double dt = std::exp(static_cast<double>(p.dt_raw[h]));
    for (int l = 0; l < d.l; ++l) {
      double want = 0, bound = 0;
      for (int n = 0; n < d.m; ++n) {
        // The float parameters are the truth: A uses the float-rounded pi*n and log(0.5).
        const cd a(-std::exp(static_cast<double>(p.a_re_raw[n])), -static_cast<double>(p.a_im[n]));
        const cd e = (std::exp(dt * a) - 1.0) / a;
        const cd term = cd(p.c[h * d.m + n]) * e * std::exp(dt * a * static_cast<double>(l));
        want += 2 * term.real();
        bound += 2 * std::abs(term);
      }
      EXPECT_NEAR(kref[h * d.l + l], want, 1e-12 * bound + 1e-300);
      // Fast path: see the error analysis in ssm_kernel_s4d.cc: <= c * 2M * u_f * 2 sum |Ct||z|^l,
      // with c = 2 for the two roundings before the sum.
      EXPECT_NEAR(k[h * d.l + l], want, 2 * (2 * d.m + 2) * kEpsF * bound + 1e-30)
          << "h=" << h << " l=" << l;
    }
  }
}

struct S4dCase {
  const char* name;
  int q, h, m, s, l;
  Discretization disc;
  DtTransform dt_t;
  RealTransform re_t;
  DiagInit init;
  double dt_min, dt_max;
};

class S4dFastVsReference : public ::testing::TestWithParam<S4dCase> {};

TEST_P(S4dFastVsReference, ForwardAndBackward) {
  const S4dCase& c = GetParam();
  SsmDims d;
  d.q = c.q, d.h = c.h, d.m = c.m, d.s = c.s, d.l = c.l;
  SsmOptions o;
  o.disc = c.disc, o.dt_transform = c.dt_t, o.real_transform = c.re_t;
  const OwnedParams<float> p = RandomParams(d, o, c.init, c.dt_min, c.dt_max, 7);
  const OwnedParams<double> pd = ToDouble(p);
  const size_t kn = static_cast<size_t>(d.q) * d.h * d.l;
  std::vector<float> k(kn);
  std::vector<double> kref(kn);
  S4dKernelForward(d, o, p.View(), k.data());
  S4dKernelReference(d, o, pd.View(), kref.data());
  // Forward bound: |K_fast - K| <= 2 (2M + 2) u_f * 2 sum_n |Ct_n| |z_n|^l (ssm_kernel_s4d.cc).
  // Bound per row from |K| alone is not available, so use the reference's own scale
  // sum_n |Ct_n| (|z|^l <= 1) as an upper bound of that sum: computed through the reference by
  // evaluating the kernel of |Ct| at l = 0 would need internals, so take the max over the row of
  // |K| plus the modes' count: tol = 4 (2M + 2) u_f * max(sqrt(2M) * max_l |K|, 1e-30).
  double worst = 0;
  for (int row = 0; row < d.q * d.h; ++row) {
    double kmax = 0;
    for (int l = 0; l < d.l; ++l) kmax = std::max(kmax, std::abs(kref[row * d.l + l]));
    const double tol = 4 * (2 * d.m + 2) * kEpsF * std::sqrt(2.0 * d.m) * kmax + 1e-30;
    for (int l = 0; l < d.l; ++l) {
      ASSERT_NEAR(k[row * d.l + l], kref[row * d.l + l], tol) << c.name << " row=" << row << " l=" << l;
      worst = std::max(worst, std::abs(k[row * d.l + l] - kref[row * d.l + l]) / kmax);
    }
  }
  std::printf("%s: forward max |K_fast - K_ref| / max|K| = %.2e\n", c.name, worst);
  // Backward with a random dK, against the double reference backward.
  const std::vector<double> dkd = RandomVec(kn, 11);
  std::vector<float> dk(dkd.begin(), dkd.end());
  OwnedParams<float> g = ZerosLike<float>(d);
  OwnedParams<double> gref = ZerosLike<double>(d);
  S4dKernelBackward(d, o, p.View(), dk.data(), g.Grads());
  S4dKernelBackwardReference(d, o, pd.View(), dkd.data(), gref.Grads());
  // The fast backward sums J-term blocks in float and combines them in double, so each G has
  // error <= J u_f sum_l |dK_l| |z|^l <= J u_f sqrt(L) |G|-scale for random dK (|G| ~ sqrt(L)
  // times the terms); all later algebra is double. Compare each parameter group against its
  // largest gradient: tol = 4 J sqrt(L) u_f max|g|.
  const double rel = 4.0 * S4dBlockSize(d.l) * std::sqrt(static_cast<double>(d.l)) * kEpsF;
  auto check = [&](const char* what, const std::vector<float*>& got, const std::vector<double*>& want) {
    double gmax = 0;
    for (double* w : want) gmax = std::max(gmax, std::abs(*w));
    ASSERT_GT(gmax, 0) << what;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(*got[i], *want[i], rel * gmax) << c.name << " " << what << "[" << i << "]";
    }
  };
  auto gs = g.Scalars();
  auto ws = gref.Scalars();
  // Scalars() order: dt [H], a_re [S M], a_im [S M], b [2 S M], p [2 S M], c [2 Q H M].
  size_t off = 0;
  auto group = [&](const char* what, size_t n) {
    check(what, std::vector<float*>(gs.begin() + off, gs.begin() + off + n),
          std::vector<double*>(ws.begin() + off, ws.begin() + off + n));
    off += n;
  };
  const size_t sm = static_cast<size_t>(d.s) * d.m;
  group("dt_raw", d.h);
  group("a_re_raw", sm);
  group("a_im", sm);
  group("b", 2 * sm);
  off += 2 * sm;  // p: unused by S4D (stays zero)
  group("c", 2 * static_cast<size_t>(d.q) * d.h * d.m);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, S4dFastVsReference,
    ::testing::Values(
        S4dCase{"lin_zoh", 1, 4, 8, 4, 257, Discretization::kZoh, DtTransform::kExp,
                RealTransform::kExp, DiagInit::kLin, 1e-3, 1e-1},
        S4dCase{"inv_bilinear_bidir_shared", 2, 4, 8, 1, 1000, Discretization::kBilinear,
                DtTransform::kSoftplus, RealTransform::kExp, DiagInit::kInv, 1e-3, 1e-1},
        S4dCase{"inv_zoh_long", 1, 2, 32, 2, 4096, Discretization::kZoh, DtTransform::kExp,
                RealTransform::kExp, DiagInit::kInv, 1e-4, 1e-2},
        S4dCase{"real_relu_fast_decay", 1, 2, 16, 2, 700, Discretization::kZoh,
                DtTransform::kExp, RealTransform::kRelu, DiagInit::kReal, 1e-2, 1e-1},
        S4dCase{"legs_none_short", 2, 2, 4, 2, 5, Discretization::kBilinear, DtTransform::kExp,
                RealTransform::kNone, DiagInit::kLegs, 1e-3, 1e-1}),
    [](const auto& info) { return std::string(info.param.name); });

// Central differences in double on the reference forward, F = sum dK * K.
template <typename Fwd, typename Bwd>
void GradCheck(const SsmDims& d, const SsmOptions& o, OwnedParams<double> p, Fwd fwd, Bwd bwd,
               double tol) {
  const size_t kn = static_cast<size_t>(d.q) * d.h * d.l;
  const std::vector<double> dk = RandomVec(kn, 5);
  OwnedParams<double> g = ZerosLike<double>(d);
  bwd(d, o, p.View(), dk.data(), g.Grads());
  auto loss = [&]() {
    std::vector<double> k(kn);
    fwd(d, o, p.View(), k.data());
    double f = 0;
    for (size_t i = 0; i < kn; ++i) f += dk[i] * k[i];
    return f;
  };
  auto xs = p.Scalars();
  auto gs = g.Scalars();
  double gmax = 0;
  for (double* x : gs) gmax = std::max(gmax, std::abs(*x));
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x0 = *xs[i];
    // h = 1e-5 (relative): central-difference truncation O(h^2 f''') ~ 1e-10 and rounding
    // O(u_d |F| / h) ~ 1e-11, both well under tol.
    const double h = 1e-5 * std::max(1.0, std::abs(x0));
    *xs[i] = x0 + h;
    const double fp = loss();
    *xs[i] = x0 - h;
    const double fm = loss();
    *xs[i] = x0;
    const double fd = (fp - fm) / (2 * h);
    EXPECT_NEAR(*gs[i], fd, tol * std::max(gmax, 1.0)) << "scalar " << i;
  }
}

TEST(S4dKernel, ReferenceGradientMatchesFiniteDifferences) {
  for (Discretization disc : {Discretization::kZoh, Discretization::kBilinear}) {
    for (DtTransform dt_t : {DtTransform::kExp, DtTransform::kSoftplus}) {
      SsmDims d;
      d.q = 2, d.h = 2, d.m = 3, d.s = 1, d.l = 16;
      SsmOptions o;
      o.disc = disc, o.dt_transform = dt_t;
      // Large dt so that every term of dK/dparams is well above the FD noise.
      const OwnedParams<double> p = ToDouble(RandomParams(d, o, DiagInit::kLin, 0.05, 0.5, 3));
      GradCheck(d, o, p, S4dKernelReference, S4dKernelBackwardReference, 1e-7);
    }
  }
}

TEST(S4dKernel, SmallDtSeriesBranch) {
  // |dt A| < 1e-4 takes the series for (e^x - 1)/A; check value and gradient continuity.
  SsmDims d;
  d.q = 1, d.h = 1, d.m = 2, d.s = 1, d.l = 6;
  SsmOptions o;
  OwnedParams<double> p = ToDouble(RandomParams(d, o, DiagInit::kLin, 1e-5, 1e-5, 9));
  p.a_im[1] = 1.0;  // |dtA| ~ 1e-5
  GradCheck(d, o, p, S4dKernelReference, S4dKernelBackwardReference, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// DPLR

// HiPPO-LegS NPLR (Lambda, P, B) for every copy, plus a random perturbation so the copies and
// modes differ; C ~ CN(0, 1) is the TRUE C (tests convert it to C-tilde).
OwnedParams<double> NplrParams(const SsmDims& d, const SsmOptions& o, double jitter, uint64_t seed) {
  OwnedParams<float> f = RandomParams(d, o, DiagInit::kLegs, 1e-2, 2e-1, seed);
  OwnedParams<double> p = ToDouble(f);
  const NplrInit init = HippoLegsNplr(2 * d.m);
  std::mt19937_64 rng(seed + 1);
  std::normal_distribution<double> normal(0.0, jitter);
  for (int s = 0; s < d.s; ++s) {
    for (int n = 0; n < d.m; ++n) {
      p.p[s * d.m + n] = init.p[n] * cd(1 + normal(rng), normal(rng));
      p.b[s * d.m + n] = init.b[n] * cd(1 + normal(rng), normal(rng));
    }
  }
  return p;
}

// The kernel from the generating function equals K[l] = C^T dA^l dB computed by materializing
// the bilinear dA, dB (2M x 2M) and stepping the powers, with C-tilde built from C.
TEST(DplrKernel, EqualsMaterializedStateSpaceKernel) {
  for (int l : {1, 2, 8, 33, 64}) {
    SsmDims d;
    d.q = 2, d.h = 2, d.m = 4, d.s = 1, d.l = l;
    SsmOptions o;
    o.disc = Discretization::kBilinear;
    OwnedParams<double> p = NplrParams(d, o, 0.2, 21);
    const std::vector<cd> c_true = p.c;
    DplrCTildeFromC(d, o, p.View(), c_true.data(), p.c.data());
    std::vector<double> k(static_cast<size_t>(d.q) * d.h * l);
    DplrKernelReference(d, o, p.View(), k.data());
    for (int h = 0; h < d.h; ++h) {
      const DenseSsm s = DplrDiscretizeDense(d, o, p.View(), h);
      for (int q = 0; q < d.q; ++q) {
        std::vector<cd> cf(s.n);
        for (int i = 0; i < d.m; ++i) {
          cf[i] = c_true[(q * d.h + h) * d.m + i];
          cf[d.m + i] = std::conj(cf[i]);
        }
        std::vector<cd> x = s.db;  // dA^l dB
        double kmax = 0;
        std::vector<double> want(l);
        for (int t = 0; t < l; ++t) {
          cd y = 0;
          for (int i = 0; i < s.n; ++i) y += cf[i] * x[i];
          EXPECT_LT(std::abs(y.imag()), 1e-12 * (1 + std::abs(y.real())));  // real system
          want[t] = y.real();
          kmax = std::max(kmax, std::abs(want[t]));
          std::vector<cd> nx(s.n, 0.0);
          for (int i = 0; i < s.n; ++i)
            for (int j = 0; j < s.n; ++j) nx[i] += s.da[i * s.n + j] * x[j];
          x = nx;
        }
        // Both sides are double; the generating function goes through an LU (condition of
        // I - dA^L and of the Woodbury denominator, both O(10) here) and O(L M) sums: 1e-11.
        for (int t = 0; t < l; ++t) {
          ASSERT_NEAR(k[(q * d.h + h) * l + t], want[t], 1e-11 * std::max(kmax, 1.0))
              << "L=" << l << " h=" << h << " q=" << q << " t=" << t;
        }
      }
    }
  }
}

TEST(DplrKernel, ReferenceGradientMatchesFiniteDifferences) {
  // The tiny case of the brief: N = 4 (M = 2), L = 8, H = 2; Q = 2 and one shared (Lambda, P, B)
  // copy so the n_ssm reduction is covered; both dt transforms.
  for (DtTransform dt_t : {DtTransform::kExp, DtTransform::kSoftplus}) {
    SsmDims d;
    d.q = 2, d.h = 2, d.m = 2, d.s = 1, d.l = 8;
    SsmOptions o;
    o.disc = Discretization::kBilinear;
    o.dt_transform = dt_t;
    OwnedParams<double> p = NplrParams(d, o, 0.3, 5);
    for (int l : {8, 7}) {  // odd L has no Nyquist bin
      d.l = l;
      GradCheck(d, o, p, DplrKernelReference, DplrKernelBackwardReference, 1e-7);
    }
  }
}

TEST(DplrKernel, FastMatchesReference) {
  SsmDims d;
  d.q = 2, d.h = 3, d.m = 8, d.s = 3, d.l = 512;
  SsmOptions o;
  o.disc = Discretization::kBilinear;
  const OwnedParams<double> pd0 = NplrParams(d, o, 0.2, 8);
  // Round the double parameters to float and use those exact values on both sides.
  OwnedParams<float> p;
  p.dt_raw.assign(pd0.dt_raw.begin(), pd0.dt_raw.end());
  p.a_re_raw.assign(pd0.a_re_raw.begin(), pd0.a_re_raw.end());
  p.a_im.assign(pd0.a_im.begin(), pd0.a_im.end());
  for (auto x : pd0.b) p.b.emplace_back(x);
  for (auto x : pd0.p) p.p.emplace_back(x);
  for (auto x : pd0.c) p.c.emplace_back(x);
  const OwnedParams<double> pd = ToDouble(p);
  const size_t kn = static_cast<size_t>(d.q) * d.h * d.l;
  std::vector<float> k(kn);
  std::vector<double> kref(kn);
  DplrKernelForward(d, o, p.View(), k.data());
  DplrKernelReference(d, o, pd.View(), kref.data());
  // Error budget: each Cauchy sum has 2M terms with a few roundings each (<= 4 (2M) u_f of the
  // sum of magnitudes), the Woodbury step a few more, and the float FFT adds ~log2(L) u_f of
  // the spectrum's norm; the spectrum's norm is sqrt(L) times the kernel's rms, so relative to
  // max|K|: tol = (8 (2M) + 2 log2 L) u_f sqrt(L) max|K|.
  for (int row = 0; row < d.q * d.h; ++row) {
    double kmax = 0;
    for (int t = 0; t < d.l; ++t) kmax = std::max(kmax, std::abs(kref[row * d.l + t]));
    const double tol = (8.0 * 2 * d.m + 2 * std::log2(d.l)) * kEpsF * std::sqrt(d.l) * kmax;
    for (int t = 0; t < d.l; ++t) {
      ASSERT_NEAR(k[row * d.l + t], kref[row * d.l + t], tol) << "row=" << row << " t=" << t;
    }
  }
  const std::vector<double> dkd = RandomVec(kn, 3);
  std::vector<float> dk(dkd.begin(), dkd.end());
  OwnedParams<float> g = ZerosLike<float>(d);
  OwnedParams<double> gref = ZerosLike<double>(d);
  DplrKernelBackward(d, o, p.View(), dk.data(), g.Grads());
  DplrKernelBackwardReference(d, o, pd.View(), dkd.data(), gref.Grads());
  // Same per-term budget as the forward, accumulated over L/2 + 1 frequencies in float
  // (random-sign sums: sqrt(L) growth): tol = (8 (2M) + 2 log2 L) u_f sqrt(L) max|g| per group.
  auto gs = g.Scalars();
  auto ws = gref.Scalars();
  const size_t sm = static_cast<size_t>(d.s) * d.m;
  const std::vector<std::pair<const char*, size_t>> groups = {
      {"dt_raw", d.h}, {"a_re_raw", sm}, {"a_im", sm}, {"b", 2 * sm}, {"p", 2 * sm},
      {"c", 2 * static_cast<size_t>(d.q) * d.h * d.m}};
  const double rel = (8.0 * 2 * d.m + 2 * std::log2(d.l)) * kEpsF * std::sqrt(d.l);
  size_t off = 0;
  for (const auto& [name, count] : groups) {
    double gmax = 0;
    for (size_t i = off; i < off + count; ++i) gmax = std::max(gmax, std::abs(*ws[i]));
    ASSERT_GT(gmax, 0) << name;
    for (size_t i = off; i < off + count; ++i) {
      ASSERT_NEAR(*gs[i], *ws[i], rel * gmax) << name << "[" << i - off << "]";
    }
    off += count;
  }
}

// Every channel is computed by one thread with the same code and the shared (A, B, P)
// gradients are reduced in channel order, so results are bitwise identical for any thread count.
TEST(SsmKernels, BitwiseIdenticalAcrossThreadCounts) {
  SsmDims d;
  d.q = 2, d.h = 6, d.m = 8, d.s = 2, d.l = 300;
  SsmOptions o;
  o.disc = Discretization::kBilinear;
  const OwnedParams<float> p = RandomParams(d, o, DiagInit::kInv, 1e-3, 1e-1, 12);
  const size_t kn = static_cast<size_t>(d.q) * d.h * d.l;
  const std::vector<double> dkd = RandomVec(kn, 2);
  const std::vector<float> dk(dkd.begin(), dkd.end());
  auto run = [&](int threads, bool dplr) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> k(kn);
    OwnedParams<float> g = ZerosLike<float>(d);
    if (dplr) {
      DplrKernelForward(d, o, p.View(), k.data());
      DplrKernelBackward(d, o, p.View(), dk.data(), g.Grads());
    } else {
      S4dKernelForward(d, o, p.View(), k.data());
      S4dKernelBackward(d, o, p.View(), dk.data(), g.Grads());
    }
    omp_set_num_threads(saved);
    std::vector<float> out = k;
    for (float* x : g.Scalars()) out.push_back(*x);
    return out;
  };
  for (bool dplr : {false, true}) {
    const std::vector<float> one = run(1, dplr), three = run(3, dplr);
    ASSERT_EQ(one.size(), three.size());
    for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], three[i]) << "dplr=" << dplr << " i=" << i;
  }
}

}  // namespace
}  // namespace lra::s4

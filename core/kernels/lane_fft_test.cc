#include "core/kernels/lane_fft.h"

#include <fftw3.h>

#include <cmath>
#include <complex>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace lra::kernels {
namespace {

constexpr int kL = LaneFft::kLanes;
constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr double kU = 5.9604644775390625e-8;  // unit roundoff of float, 2^-24

// The sizes of the task: every radix and pairing of radices, odd and even m, the S4 sizes.
const int kSizes[] = {4,   6,    14,   16,   18,   20,   28,   30,   32,    42,
                      64,  98,   210,  2000, 2048, 4000, 4096, 8000, 8192,  32768};

// 64-byte aligned floats (as the header asks), freed on destruction.
struct Buffer {
  explicit Buffer(int64_t count)
      : p(static_cast<float*>(std::aligned_alloc(64, ((count * 4 + 63) / 64) * 64))),
        n(count) {}
  ~Buffer() { std::free(p); }
  Buffer(const Buffer&) = delete;
  float* p;
  int64_t n;
  float& operator[](int64_t i) { return p[i]; }
};

void Fill(Buffer& b, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int64_t i = 0; i < b.n; ++i) b[i] = d(gen);
}

// Double-precision references, lane by lane: the O(n^2) sum for small n, FFTW's double plans
// (an independent implementation) for large n.
std::vector<std::complex<double>> RefForward(const std::vector<double>& x) {
  const int n = static_cast<int>(x.size());
  std::vector<std::complex<double>> X(n / 2 + 1);
  if (n <= 256) {
    for (int k = 0; k <= n / 2; ++k) {
      for (int j = 0; j < n; ++j) {
        X[k] += x[j] * std::polar(1.0, -kTwoPi * static_cast<double>((int64_t{j} * k) % n) / n);
      }
    }
    return X;
  }
  std::vector<double> in(x);
  fftw_plan p = fftw_plan_dft_r2c_1d(n, in.data(), reinterpret_cast<fftw_complex*>(X.data()),
                                     FFTW_ESTIMATE);
  fftw_execute(p);
  fftw_destroy_plan(p);
  return X;
}

// n times the inverse DFT of the Hermitian extension of X (imaginary parts of bins 0 and n/2
// taken as 0).
std::vector<double> RefInverse(std::vector<std::complex<double>> X, int n) {
  X[0].imag(0);
  X[n / 2].imag(0);
  std::vector<double> y(n);
  if (n <= 256) {
    for (int j = 0; j < n; ++j) {
      double s = X[0].real() + ((j % 2) ? -1 : 1) * X[n / 2].real();
      for (int k = 1; k < n / 2; ++k) {
        s += 2 * (X[k] * std::polar(1.0, kTwoPi * static_cast<double>((int64_t{j} * k) % n) / n))
                     .real();
      }
      y[j] = s;
    }
    return y;
  }
  fftw_plan p = fftw_plan_dft_c2r_1d(n, reinterpret_cast<fftw_complex*>(X.data()), y.data(),
                                     FFTW_ESTIMATE);
  fftw_execute(p);
  fftw_destroy_plan(p);
  return y;
}

// Error bounds (first order in u; the factor 1.01 covers the higher-order terms, which are
// below 0.5% for the largest size here).
//
// One radix-P butterfly of a pass, b_r = w^r sum_t a_t exp(-+2 pi i t r/P) (|w| = 1), computes
// each output within K_P u sum_t |a_t|:
//   radix 2: a0 +- a1, one rounding per component (sqrt2 u), then the twiddle product: the
//     stored (cos, sin), each rounded once, are within u |w| of w, and the product rounds each
//     component twice (mul, mul-add or FMA), within 2 sqrt2 u |b| in modulus: K_2 = sqrt2 + 1 +
//     2 sqrt2 = 5.3 -> 6.
//   radix 4: two levels of additions (2 sqrt2 u) and the twiddle (1 + 2 sqrt2) u: K_4 = 6.7 -> 7.
//   odd P = 2h + 1: S_t, D_t (1 rounding), A = a0 + sum S_t cos and B = sum D_t sin (h
//     products, h additions, constants rounded once: h + 2, so a component of A or B is within
//     (h + 3) u sum|a_t|), A -+ iB adds the errors of both and one rounding: (2h + 8) u per
//     component, sqrt2 (2h + 8) u in modulus, then the twiddle (1 + 2 sqrt2) u:
//     K_3 = 18, K_5 = 21, K_7 = 24 (rounded up).
// Over one butterfly's P outputs that is sqrt(P) K_P u sum|a_t| <= P K_P u |a|_2, and
// butterflies read disjoint inputs, so a pass (exact norm growth sqrt(P)) adds relative error
// at most sqrt(P) K_P u. A radix-16 (radix-8) pass is two stages in registers, each a radix-4
// (radix-2) butterfly followed by one twiddle product (internal constants rounded once, then
// the pass's twiddles), so by the same count it adds 2 K_4 + 2 K_4 = 28 u (2 K_4 + sqrt2 K_2 =
// 22.5 u) (the normwise form of Higham, "Accuracy and Stability of Numerical
// Algorithms", 2nd ed., 2002, section 24.1, Theorem 24.2, derived per radix). The inverse's
// last pass multiplies by its twiddles before the butterfly (decimation in time): the same
// roundings in the other order, within the same K_P u sum|a_t|. Errors of
// earlier passes travel through later exact passes without relative growth, so the size-m
// complex FFT is within eta_Z |Z|_2 with eta_Z = sum over passes sqrt(P) K_P u, |Z|_2 =
// sqrt(m) |x|_2.
//
// Forward's split: X[k] = ((Z[k] + conj Z[m-k]) - i W^k (Z[k] - conj Z[m-k])) / 2. Propagated:
// |dX[k]| <= |dZ[k]| + |dZ[m-k]|, so |dX|_2 <= 2 |dZ|_2 (each Z enters at most two bins). Its own
// rounding: the sums (sqrt2 u each), the twiddle product (1 + 2 sqrt2) u and the last sum
// (2 sqrt2 u) of |Z[k]| + |Z[m-k]|, halved: (6 sqrt2 + 1) / 2 u (|Z[k]| + |Z[m-k]|) <= 4.75 u
// (...), 9.5 u |Z|_2 in norm. Hence per lane
//   |X^ - X|_2 <= (2 eta_Z + 9.5 u) sqrt(m) |x|_2.
// Inverse: Z' = 2Z from the spectrum has |Z'[k]| <= 2 (|X[k]| + |X[m-k]|), |Z'|_2 <= 4 |X|_2
// (X: bins 0..m), and the same count of roundings gives |dZ'|_2 <= 19 u |X|_2; the inverse
// complex FFT (norm sqrt(m)) then gives
//   |y^ - y|_2 <= sqrt(m) (19 u + 4 eta_Z) |X|_2.
double EtaZ(const LaneFft& fft) {
  double eta = 0;
  for (int p : fft.Radices()) {
    if (p == 16) {
      eta += 28 * kU;
    } else if (p == 8) {
      eta += (2 * 7 + std::sqrt(2.0) * 6) * kU;
    } else {
      const double k = p == 2 ? 6 : p == 4 ? 7 : p == 3 ? 18 : p == 5 ? 21 : 24;
      eta += std::sqrt(static_cast<double>(p)) * k * kU;
    }
  }
  return eta;
}
double ForwardBound(const LaneFft& fft, double x_norm) {
  return 1.01 * (2 * EtaZ(fft) + 9.5 * kU) * std::sqrt(fft.size() / 2.0) * x_norm;
}
double InverseBound(const LaneFft& fft, double spec_norm) {
  return 1.01 * (19 * kU + 4 * EtaZ(fft)) * std::sqrt(fft.size() / 2.0) * spec_norm;
}

std::vector<double> LaneOf(const float* x, int rows, int c) {
  std::vector<double> v(rows);
  for (int j = 0; j < rows; ++j) v[j] = x[j * kL + c];
  return v;
}
std::vector<std::complex<double>> SpecLane(const float* spec, int bins, int c) {
  std::vector<std::complex<double>> v(bins);
  for (int k = 0; k < bins; ++k) v[k] = {spec[k * 2 * kL + c], spec[k * 2 * kL + kL + c]};
  return v;
}
double Norm(const std::vector<double>& v) {
  double s = 0;
  for (double a : v) s += a * a;
  return std::sqrt(s);
}
// |X|_2 over bins 0..n/2, the imaginary parts of bins 0 and n/2 left out (Inverse ignores them).
double SpecNorm(std::vector<std::complex<double>> X) {
  X.front().imag(0);
  X.back().imag(0);
  double s = 0;
  for (auto a : X) s += std::norm(a);
  return std::sqrt(s);
}

TEST(LaneFftTest, SupportsTheSizesOfFftConv) {
  for (int n : kSizes) EXPECT_TRUE(LaneFft::Supports(n)) << n;
  for (int n : {0, 2, 3, 17, 22, 26, 34}) EXPECT_FALSE(LaneFft::Supports(n)) << n;
  EXPECT_EQ(LaneFft::Get(2048).Radices(), (std::vector<int>{16, 16, 4}));
  EXPECT_EQ(LaneFft::Get(2000).Radices(), (std::vector<int>{8, 5, 5, 5}));
  EXPECT_EQ(LaneFft::Get(64).Radices(), (std::vector<int>{16, 2}));
  EXPECT_EQ(LaneFft::Get(210).Radices(), (std::vector<int>{3, 5, 7}));
  EXPECT_EQ(&LaneFft::Get(2048), &LaneFft::Get(2048));
}

// The accuracy tests run on each instruction set the CPU has (LaneFftIsa): the FMA builds and
// the baseline round differently, and each must meet the bounds.
class LaneFftIsaTest : public ::testing::TestWithParam<LaneFftIsa> {
 protected:
  void SetUp() override {
    SetLaneFftIsaForTesting(LaneFftIsa::kAvx512);
    if (static_cast<int>(GetParam()) > static_cast<int>(LaneFftIsaInUse())) {
      GTEST_SKIP() << "the CPU lacks this instruction set";
    }
    SetLaneFftIsaForTesting(GetParam());
    ASSERT_EQ(LaneFftIsaInUse(), GetParam());
  }
  void TearDown() override { SetLaneFftIsaForTesting(LaneFftIsa::kAvx512); }
};

INSTANTIATE_TEST_SUITE_P(Isas, LaneFftIsaTest,
                         ::testing::Values(LaneFftIsa::kBaseline, LaneFftIsa::kAvx2,
                                           LaneFftIsa::kAvx512));

TEST_P(LaneFftIsaTest, ForwardMatchesDoubleDftWithinDerivedBound) {
  for (int n : kSizes) {
    const LaneFft& fft = LaneFft::Get(n);
    Buffer x(int64_t{n} * kL), spec(fft.SpecFloats()), work(fft.WorkFloats());
    Fill(x, n);
    std::vector<float> x0(x.p, x.p + x.n);
    fft.Forward(x.p, spec.p, work.p);
    for (int c = 0; c < kL; ++c) {
      const std::vector<double> xc = LaneOf(x.p, n, c);
      const auto want = RefForward(xc);
      const auto got = SpecLane(spec.p, n / 2 + 1, c);
      double err = 0;
      for (int k = 0; k <= n / 2; ++k) err += std::norm(got[k] - want[k]);
      err = std::sqrt(err);
      EXPECT_LE(err, ForwardBound(fft, Norm(xc))) << "n=" << n << " lane " << c;
      // Bins 0 and n/2 of a real input are real.
      EXPECT_EQ(got[0].imag(), 0.0);
      EXPECT_EQ(got[n / 2].imag(), 0.0);
    }
    for (int64_t i = 0; i < x.n; ++i) ASSERT_EQ(x[i], x0[i]) << "Forward modified x, n=" << n;
  }
}

TEST_P(LaneFftIsaTest, InverseMatchesDoubleDftWithinDerivedBound) {
  for (int n : kSizes) {
    const LaneFft& fft = LaneFft::Get(n);
    Buffer spec(fft.SpecFloats()), y(int64_t{n} * kL), work(fft.WorkFloats());
    // Random bins, including nonzero imaginary parts at bins 0 and n/2, which must be ignored.
    Fill(spec, 1000 + n);
    std::vector<float> spec0(spec.p, spec.p + spec.n);
    fft.Inverse(spec.p, y.p, work.p);
    for (int c = 0; c < kL; ++c) {
      const auto X = SpecLane(spec.p, n / 2 + 1, c);
      const std::vector<double> want = RefInverse(X, n);
      double err = 0;
      for (int j = 0; j < n; ++j) err += std::pow(y[j * kL + c] - want[j], 2);
      EXPECT_LE(std::sqrt(err), InverseBound(fft, SpecNorm(X))) << "n=" << n << " lane " << c;
    }
    for (int64_t i = 0; i < spec.n; ++i) {
      ASSERT_EQ(spec[i], spec0[i]) << "Inverse modified spec, n=" << n;
    }
  }
}

TEST(LaneFftTest, InverseIgnoresImaginaryPartsOfFirstAndLastBin) {
  for (int n : {16, 18, 30, 2048, 4000}) {
    const LaneFft& fft = LaneFft::Get(n);
    Buffer spec(fft.SpecFloats()), y1(int64_t{n} * kL), y2(int64_t{n} * kL),
        work(fft.WorkFloats());
    Fill(spec, 7 + n);
    fft.Inverse(spec.p, y1.p, work.p);
    for (int c = 0; c < kL; ++c) {
      spec[kL + c] = 0;
      spec[(n / 2) * 2 * kL + kL + c] = 0;
    }
    fft.Inverse(spec.p, y2.p, work.p);
    for (int64_t i = 0; i < y1.n; ++i) ASSERT_EQ(y1[i], y2[i]) << "n=" << n << " i=" << i;
  }
}

// Inverse(Forward(x)) = n x: the forward error travels through the exact inverse, whose norm on
// a half spectrum is at most sqrt(2n) (Parseval on the Hermitian extension), plus the inverse's
// own rounding of the computed spectrum.
TEST_P(LaneFftIsaTest, InverseOfForwardIsNTimesInput) {
  for (int n : kSizes) {
    const LaneFft& fft = LaneFft::Get(n);
    Buffer x(int64_t{n} * kL), spec(fft.SpecFloats()), y(int64_t{n} * kL),
        work(fft.WorkFloats());
    Fill(x, 99 + n);
    fft.Forward(x.p, spec.p, work.p);
    fft.Inverse(spec.p, y.p, work.p);
    for (int c = 0; c < kL; ++c) {
      const std::vector<double> xc = LaneOf(x.p, n, c);
      double err = 0;
      for (int j = 0; j < n; ++j) {
        err += std::pow(y[j * kL + c] - static_cast<double>(n) * xc[j], 2);
      }
      const double bound = std::sqrt(2.0 * n) * ForwardBound(fft, Norm(xc)) +
                           InverseBound(fft, SpecNorm(SpecLane(spec.p, n / 2 + 1, c)));
      EXPECT_LE(std::sqrt(err), bound) << "n=" << n << " lane " << c;
    }
  }
}

// Lanes never mix: with one lane nonzero every other lane's output is exactly 0, and the
// nonzero lane's output does not depend on what the other lanes hold.
TEST_P(LaneFftIsaTest, LanesAreIndependent) {
  for (int n : {16, 30, 42, 2000, 4096}) {
    const LaneFft& fft = LaneFft::Get(n);
    Buffer x(int64_t{n} * kL), spec(fft.SpecFloats()), y(int64_t{n} * kL),
        work(fft.WorkFloats()), full(int64_t{n} * kL), full_spec(fft.SpecFloats());
    Fill(full, 5 + n);
    for (int lane : {0, 5, 15}) {
      for (int64_t i = 0; i < x.n; ++i) x[i] = i % kL == lane ? full[i] : 0.0f;
      fft.Forward(full.p, full_spec.p, work.p);
      fft.Forward(x.p, spec.p, work.p);
      for (int64_t i = 0; i < spec.n; ++i) {
        if (i % kL == lane) {
          ASSERT_EQ(spec[i], full_spec[i]) << "n=" << n << " lane " << lane;
        } else {
          ASSERT_EQ(spec[i], 0.0f) << "n=" << n << " lane " << lane << " i=" << i;
        }
      }
      fft.Inverse(spec.p, y.p, work.p);
      for (int64_t i = 0; i < y.n; ++i) {
        if (i % kL != lane) {
          ASSERT_EQ(y[i], 0.0f) << "n=" << n << " lane " << lane;
        }
      }
    }
  }
}

// Unaligned arrays (the header allows them) give the same bits as aligned ones, and
// WorkFloats() is enough: a work array of exactly that size, followed by a guard, keeps it.
TEST(LaneFftTest, UnalignedArraysAndExactWorkSize) {
  for (int n : {30, 2048, 8000}) {
    const LaneFft& fft = LaneFft::Get(n);
    EXPECT_EQ(fft.WorkFloats(), 32 * int64_t{n} + 64 * fft.Radices()[0]);
    Buffer x(int64_t{n} * kL + 1), spec(fft.SpecFloats() + 1), y(int64_t{n} * kL + 1),
        work(fft.WorkFloats() + 1 + kL);
    Buffer ref_spec(fft.SpecFloats()), ref_y(int64_t{n} * kL), ref_work(fft.WorkFloats());
    Fill(x, 11 + n);
    for (int i = 0; i < kL; ++i) work[1 + fft.WorkFloats() + i] = 12345.0f;
    fft.Forward(x.p, ref_spec.p, ref_work.p);
    fft.Inverse(ref_spec.p, ref_y.p, ref_work.p);
    // x + 1 is 4 bytes past a 64-byte boundary; copy so the data are the same.
    std::vector<float> x0(x.p, x.p + int64_t{n} * kL);
    std::copy(x0.begin(), x0.end(), x.p + 1);
    fft.Forward(x.p + 1, spec.p + 1, work.p + 1);
    fft.Inverse(spec.p + 1, y.p + 1, work.p + 1);
    for (int64_t i = 0; i < ref_spec.n; ++i) ASSERT_EQ(spec[i + 1], ref_spec[i]) << n;
    for (int64_t i = 0; i < ref_y.n; ++i) ASSERT_EQ(y[i + 1], ref_y[i]) << n;
    for (int i = 0; i < kL; ++i) ASSERT_EQ(work[1 + fft.WorkFloats() + i], 12345.0f) << n;
  }
}

// Bitwise the same on every call and thread, whatever the work array held before.
TEST(LaneFftTest, ResultsAreBitwiseReproducibleAcrossCallsAndThreads) {
  const int n = 8000;
  const LaneFft& fft = LaneFft::Get(n);
  Buffer x(int64_t{n} * kL), ref_spec(fft.SpecFloats()), ref_y(int64_t{n} * kL),
      work(fft.WorkFloats());
  Fill(x, 3);
  fft.Forward(x.p, ref_spec.p, work.p);
  fft.Inverse(ref_spec.p, ref_y.p, work.p);
  auto check = [&](float garbage) {
    Buffer spec(fft.SpecFloats()), y(int64_t{n} * kL), w(fft.WorkFloats());
    for (int64_t i = 0; i < w.n; ++i) w[i] = garbage;
    fft.Forward(x.p, spec.p, w.p);
    fft.Inverse(spec.p, y.p, w.p);
    for (int64_t i = 0; i < spec.n; ++i) ASSERT_EQ(spec[i], ref_spec[i]);
    for (int64_t i = 0; i < y.n; ++i) ASSERT_EQ(y[i], ref_y[i]);
  };
  check(1e30f);
  std::thread a(check, -3.0f), b(check, 0.0f);
  a.join();
  b.join();
}

}  // namespace
}  // namespace lra::kernels

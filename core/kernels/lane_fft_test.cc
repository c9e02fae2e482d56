#include "core/kernels/lane_fft.h"

#include <fftw3.h>

#include <cmath>
#include <complex>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "core/kernels/lane_fft_bounds.h"
#include "gtest/gtest.h"

namespace lra::kernels {
namespace {

using lane_fft_bounds::ForwardBound;
using lane_fft_bounds::InverseBound;
using lane_fft_bounds::kU;

constexpr int kL = LaneFft::kLanes;
constexpr double kTwoPi = 6.283185307179586476925286766559;

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

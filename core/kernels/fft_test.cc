#include "core/kernels/fft.h"

#include <cmath>
#include <complex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace lra::kernels {
namespace {

constexpr double kTwoPi = 6.28318530717958647692;

std::vector<float> Signal(int n) {
  std::vector<float> x(n);
  for (int j = 0; j < n; ++j) x[j] = std::sin(0.37 * j) + 0.25f * (j % 5) - 0.5f;
  return x;
}

// A float FFT of size n has error about log2(n) u_f |x|_2 per bin (u_f = 6e-8); for n <= 1000
// and |x|_2 < 40 that is below 3e-5, so 1e-4 (absolute) leaves room without hiding a wrong sign
// or scale, which would be off by O(1).
constexpr double kTolerance = 1e-4;

class RealFftTest : public ::testing::TestWithParam<FftAlignment> {};

TEST_P(RealFftTest, ForwardIsTheDftWithNegativeExponent) {
  for (int n : {1, 2, 7, 16, 1000}) {
    const RealFft& fft = RealFft::Get(n, FftRigor::kEstimate, GetParam());
    ASSERT_EQ(fft.size(), n);
    float* x = FftAllocFloats(n);
    std::vector<float> src = Signal(n);
    std::copy(src.begin(), src.end(), x);
    std::vector<std::complex<float>> out(n / 2 + 1);
    fft.Forward(x, out.data());
    for (int k = 0; k <= n / 2; ++k) {
      std::complex<double> want = 0;
      for (int j = 0; j < n; ++j) want += double(src[j]) * std::polar(1.0, -kTwoPi * j * k / n);
      EXPECT_NEAR(out[k].real(), want.real(), kTolerance) << "n=" << n << " k=" << k;
      EXPECT_NEAR(out[k].imag(), want.imag(), kTolerance) << "n=" << n << " k=" << k;
    }
    for (int j = 0; j < n; ++j) EXPECT_EQ(x[j], src[j]) << "Forward modified its input";
    FftFree(x);
  }
}

TEST_P(RealFftTest, InverseOfForwardIsNTimesTheInput) {
  for (int n : {2, 9, 64, 1000}) {
    const RealFft& fft = RealFft::Get(n, FftRigor::kEstimate, GetParam());
    std::vector<float> src = Signal(n), back(n);
    std::vector<std::complex<float>> spectrum(n / 2 + 1);
    fft.Forward(src.data(), spectrum.data());
    fft.Inverse(spectrum.data(), back.data());
    for (int j = 0; j < n; ++j) EXPECT_NEAR(back[j] / n, src[j], kTolerance) << "n=" << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Alignments, RealFftTest,
                         ::testing::Values(FftAlignment::kSimd, FftAlignment::kAny));

TEST(RealFft, PlansAreCachedPerSizeRigorAndAlignment) {
  const RealFft& a = RealFft::Get(48);
  EXPECT_EQ(&a, &RealFft::Get(48, FftRigor::kEstimate, FftAlignment::kSimd));
  EXPECT_NE(&a, &RealFft::Get(48, FftRigor::kEstimate, FftAlignment::kAny));
  EXPECT_NE(&a, &RealFft::Get(50));
}

// fft.h "Shipped plans": the default plans of the shipped sizes come from fft_wisdom.inc, other
// requests (another size, unaligned arrays) from FFTW_ESTIMATE, and the shipped plans compute the
// same transforms. Skipped where this FFTW build rejects the wisdom (then every plan is an
// FFTW_ESTIMATE plan, as before).
TEST(RealFft, ShippedSizesUseTheShippedPlans) {
  if (!RealFft::ShippedWisdomLoaded())
    GTEST_SKIP() << "this FFTW build rejects core/kernels/fft_wisdom.inc; plans use FFTW_ESTIMATE";
  for (int n : {2048, 4000, 4096, 8000, 8192, 32768}) EXPECT_TRUE(RealFft::Get(n).shipped()) << n;
  EXPECT_FALSE(RealFft::Get(2048, FftRigor::kEstimate, FftAlignment::kAny).shipped());
  EXPECT_FALSE(RealFft::Get(1000).shipped());
  // Against the DFT in double. A float FFT's error per bin is about log2(n) u_f |x|_2
  // (u_f = 6e-8); the tolerance is 4x that.
  for (int n : {2048, 4000}) {
    const RealFft& fft = RealFft::Get(n);
    std::vector<float> src = Signal(n);
    double norm = 0;
    for (float v : src) norm += double(v) * v;
    const double tol = 4 * std::log2(n) * 6e-8 * std::sqrt(norm);
    float* x = FftAllocFloats(n);
    float* back = FftAllocFloats(n);
    float* spec = FftAllocFloats(n + 2);
    auto* out = reinterpret_cast<std::complex<float>*>(spec);
    std::copy(src.begin(), src.end(), x);
    fft.Forward(x, out);
    for (int k = 0; k <= n / 2; k += 7) {
      std::complex<double> want = 0;
      for (int j = 0; j < n; ++j)
        want += double(src[j]) * std::polar(1.0, -kTwoPi * double(j) * k / n);
      EXPECT_NEAR(out[k].real(), want.real(), tol) << "n=" << n << " k=" << k;
      EXPECT_NEAR(out[k].imag(), want.imag(), tol) << "n=" << n << " k=" << k;
    }
    fft.Inverse(out, back);
    for (int j = 0; j < n; ++j) EXPECT_NEAR(back[j] / n, src[j], tol) << "n=" << n;
    FftFree(x);
    FftFree(back);
    FftFree(spec);
  }
}

// Planning from many threads at once, then executing one plan from all of them, gives every
// thread the same plan and the same bits as a single-threaded run.
TEST(RealFft, ConcurrentGetAndExecuteAgree) {
  constexpr int kThreads = 8;
  const int n = 3 * 1024;
  std::vector<float> src = Signal(n);
  std::vector<std::complex<float>> want(n / 2 + 1);
  std::vector<const RealFft*> got(kThreads);
  std::vector<std::vector<std::complex<float>>> outs(kThreads,
                                                     std::vector<std::complex<float>>(n / 2 + 1));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread also plans a size of its own, so the planner runs concurrently.
      RealFft::Get(100 + t, FftRigor::kEstimate, FftAlignment::kAny);
      got[t] = &RealFft::Get(n, FftRigor::kEstimate, FftAlignment::kAny);
      got[t]->Forward(src.data(), outs[t].data());
    });
  }
  for (std::thread& th : threads) th.join();
  RealFft::Get(n, FftRigor::kEstimate, FftAlignment::kAny).Forward(src.data(), want.data());
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(got[t], got[0]);
    EXPECT_EQ(outs[t], want) << "thread " << t;
  }
}

}  // namespace
}  // namespace lra::kernels

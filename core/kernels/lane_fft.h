// TEMPORARY development shim (laneconv branch): the lane FFT interface FftConv uses, implemented
// with RealFft one lane at a time, so the lane-layout FftConv can be checked bitwise against the
// row-layout one before the real 16-lane kernel replaces this file.
#ifndef LRA_CORE_KERNELS_LANE_FFT_H_
#define LRA_CORE_KERNELS_LANE_FFT_H_

#include <complex>
#include <cstdint>
#include <cstring>

#include "core/kernels/fft.h"

namespace lra {
namespace kernels {

class LaneFft {
 public:
  static constexpr int kLanes = 16;
  static const LaneFft& Get(int n, FftRigor rigor = FftRigor::kEstimate) {
    thread_local LaneFft f;
    f.fft_ = &RealFft::Get(n, rigor);
    f.n_ = n;
    return f;
  }
  static int64_t WorkFloats(int n) { return RoundUp(n) + 2 * RoundUp(n / 2 + 1); }
  // x [n][16] -> spec [n/2+1][2][16].
  void Forward(const float* x, float* spec, float* work) const {
    float* row = work;
    auto* c = reinterpret_cast<std::complex<float>*>(work + RoundUp(n_));
    const int bins = n_ / 2 + 1;
    for (int lane = 0; lane < kLanes; ++lane) {
      for (int j = 0; j < n_; ++j) row[j] = x[j * kLanes + lane];
      fft_->Forward(row, c);
      for (int q = 0; q < bins; ++q) {
        spec[q * 2 * kLanes + lane] = c[q].real();
        spec[q * 2 * kLanes + kLanes + lane] = c[q].imag();
      }
    }
  }
  void Inverse(float* spec, float* y, float* work) const {
    float* row = work;
    auto* c = reinterpret_cast<std::complex<float>*>(work + RoundUp(n_));
    const int bins = n_ / 2 + 1;
    for (int lane = 0; lane < kLanes; ++lane) {
      for (int q = 0; q < bins; ++q)
        c[q] = {spec[q * 2 * kLanes + lane], spec[q * 2 * kLanes + kLanes + lane]};
      fft_->Inverse(c, row);
      for (int j = 0; j < n_; ++j) y[j * kLanes + lane] = row[j];
    }
  }

 private:
  static int64_t RoundUp(int64_t x) { return (x + 15) / 16 * 16; }
  const RealFft* fft_ = nullptr;
  int n_ = 0;
};

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_LANE_FFT_H_

// LaneFft's normwise rounding-error bounds, derived pass by pass (below), for the tests of
// LaneFft itself (lane_fft_test.cc) and of what is built on it (fft_conv_test.cc).
#ifndef LRA_CORE_KERNELS_LANE_FFT_BOUNDS_H_
#define LRA_CORE_KERNELS_LANE_FFT_BOUNDS_H_

#include <cmath>

#include "core/kernels/lane_fft.h"

namespace lra::kernels::lane_fft_bounds {

constexpr double kU = 5.9604644775390625e-8;  // unit roundoff of float, 2^-24

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
inline double EtaZ(const LaneFft& fft) {
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
inline double ForwardBound(const LaneFft& fft, double x_norm) {
  return 1.01 * (2 * EtaZ(fft) + 9.5 * kU) * std::sqrt(fft.size() / 2.0) * x_norm;
}
inline double InverseBound(const LaneFft& fft, double spec_norm) {
  return 1.01 * (19 * kU + 4 * EtaZ(fft)) * std::sqrt(fft.size() / 2.0) * spec_norm;
}

}  // namespace lra::kernels::lane_fft_bounds

#endif  // LRA_CORE_KERNELS_LANE_FFT_BOUNDS_H_

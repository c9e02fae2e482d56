// The range reduction and polynomial of vmath's exp, for a float or a GCC vector of floats
// (core/ops/ssm.cc inlines it on 16 lanes in its recurrence).
#ifndef LRA_CORE_KERNELS_VMATH_EXP_POLY_H_
#define LRA_CORE_KERNELS_VMATH_EXP_POLY_H_

namespace lra {
namespace vmath {

// exp(x) = 2^k * exp(r): clamps x to [-87.3, 88.3], so k = round(x / ln2) lies in [-126, 127];
// r = x - k ln2 in [-ln2/2, ln2/2] (ln2 split in two parts so r is exact); returns exp(r) by its
// degree-6 Taylor polynomial (truncation < 2e-8 relative on that interval) and sets *k (an
// integer value, as F). F: float, or a GCC vector of floats (the same operations lane by lane).
template <typename F>
inline F ExpMantissa(F x, F* k) {
  const F lo = F{} - 87.3f, hi = F{} + 88.3f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const float kLog2e = 1.44269504088896341f;
  const float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  *k = (x * kLog2e + kRound) - kRound;
  F r = x - *k * 0.693145751953125f;  // high bits of ln2
  r = r - *k * 1.428606765330187045e-06f;  // low bits
  F p = F{} + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p;
}

// 2^r for r in [-1/2, 1/2]: the minimax polynomial of degree 5 for relative error (Remez
// exchange on 20001 points, coefficients rounded to float; max relative error 7.5e-8 before
// the rounding of the coefficients and of the evaluation, 2.1e-7 after, FMA Horner). F: float,
// a GCC vector of floats or __m512 (GCC's vector operators); always inlined, so it compiles for
// the caller's target (core/ops/ssm.cc's recurrence, core/kernels/attention.cc's softmax).
template <typename F>
inline __attribute__((always_inline)) F Exp2Poly(F r) {
  F p = F{} + 1.327647245e-03f;
  p = p * r + 9.675540961e-03f;
  p = p * r + 5.550713092e-02f;
  p = p * r + 2.402212024e-01f;
  p = p * r + 6.931469440e-01f;
  return p * r + 1.000000119e+00f;
}

}  // namespace vmath
}  // namespace lra

#endif  // LRA_CORE_KERNELS_VMATH_EXP_POLY_H_

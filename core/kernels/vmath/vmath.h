// Vectorized float transcendentals for elementwise ops.
//
// std::exp/std::tanh/std::erf are scalar library calls (about 5-20 ns each); GELU over a
// [B*L, H] = 4M-element activation would cost 40+ ms per call. These functions evaluate
// branch-free polynomials that the compiler vectorizes; each is compiled for AVX-512, AVX2 and
// baseline x86-64 and picked at load time (GCC target_clones), so the portable build is fast on
// this machine too.
//
// Accuracy (checked in vmath_test against double): exp relative error < 4 ulp for
// x in [-87, 88] (underflows to 0 below, inf above); tanh absolute error < 3e-7; erf absolute
// error < 3e-7; the GELU variants inherit these (absolute error < 1e-6 * max(1, |x|)). The
// sigmoid, the GLUs and the tanh GELU (as x / (1 + e^-2u)) take their exponential as one 2^z
// (Exp2Poly, exp_poly.h); the erf GELU's erf and derivative share one; the tanh GELU is also
// relatively accurate in its negative tail (vmath_test GeluTanhNegativeTailRelativeError).
#ifndef LRA_CORE_KERNELS_VMATH_VMATH_H_
#define LRA_CORE_KERNELS_VMATH_VMATH_H_

#include <cstdint>

namespace lra {
namespace vmath {

void Exp(const float* x, float* y, int64_t n);
void Tanh(const float* x, float* y, int64_t n);
void Sigmoid(const float* x, float* y, int64_t n);
// y = gelu(x); if dgelu != nullptr also writes d gelu / dx.
void GeluTanh(const float* x, float* y, float* dgelu, int64_t n);
void GeluErf(const float* x, float* y, float* dgelu, int64_t n);
// y = gelu(x) bitwise as GeluErf(x, y, nullptr, n), and d = the derivative that GeluErfBackward
// recomputes from x, so dy * d is bitwise GeluErfBackward's g: a forward that keeps d spares
// the backward its erf and exp.
void GeluErfWithGrad(const float* x, float* y, float* d, int64_t n);
// g (= or +=) dy * gelu'(x), recomputing the derivative from x.
void GeluTanhBackward(const float* x, const float* dy, float* g, bool accumulate, int64_t n);
void GeluErfBackward(const float* x, const float* dy, float* g, bool accumulate, int64_t n);
// GLU of the halves a, b: y = a * sigmoid(b), evaluated as a / (1 + exp(-b)).
void Glu(const float* a, const float* b, float* y, int64_t n);
// y = x + a * sigmoid(b): Glu then a residual add, with the same two roundings as Glu followed by
// a separate add (the quotient is rounded, then the sum), so bitwise that pair.
void GluAdd(const float* a, const float* b, const float* x, float* y, int64_t n);
// ga (= or +=) dy * s and gb (= or +=) dy * a * s * (1 - s), s = sigmoid(b) = 1 / (1 + exp(-b)).
void GluBackward(const float* a, const float* b, const float* dy, float* ga, float* gb,
                 bool accumulate, int64_t n);

}  // namespace vmath
}  // namespace lra

#endif  // LRA_CORE_KERNELS_VMATH_VMATH_H_

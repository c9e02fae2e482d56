#include "core/kernels/vmath/vmath.h"

#include <cstring>

#include "core/kernels/vmath/exp_poly.h"

#pragma GCC optimize("O3")

#define LRA_VMATH_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))

namespace lra {
namespace vmath {
namespace {

inline float AsFloat(int32_t i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}

// exp(x) = 2^k * exp(r), exp(r) by ExpMantissa (exp_poly.h).
inline float ExpF(float x) {
  float k;
  const float p = ExpMantissa(x, &k);
  // 2^k: split in two factors (exact), each a normal exponent field.
  const int32_t ki = static_cast<int32_t>(k);
  const int32_t k1 = ki >> 1, k2 = ki - k1;
  return p * AsFloat((k1 + 127) << 23) * AsFloat((k2 + 127) << 23);
}

// tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)); saturates to +-1 beyond |x| = 9.
inline float TanhF(float x) {
  const float a = x < 0 ? -x : x;
  const float e = ExpF(2.0f * (a > 9.0f ? 9.0f : a));
  const float t = 1.0f - 2.0f / (e + 1.0f);
  // Near 0 the form above cancels; there tanh(x) = x - x^3/3 + 2x^5/15 (error < 3e-9 at 0.05).
  const float x2 = x * x;
  const float small = x * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15)));
  return a < 0.05f ? small : (x < 0 ? -t : t);
}

// 2^z for z in [-125, 125] (the caller clamps): k = round(z) (adding 1.5 * 2^23 rounds), r = z - k
// in [-1/2, 1/2] (exact), 2^r by Exp2Poly (relative error 2.1e-7) and 2^k from its exponent bits.
inline float Exp2F(float z) {
  constexpr float kRound = 12582912.0f;
  const float k = (z + kRound) - kRound;
  return Exp2Poly(z - k) * AsFloat((static_cast<int32_t>(k) + 127) << 23);
}

constexpr float kC = 0.79788456080286536f;  // sqrt(2/pi)
constexpr float kA = 0.044715f;
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr double kLog2eD = 1.4426950408889634;  // log2(e)

// erf(v / sqrt 2) by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7):
// erf(a) = 1 - (a1 t + ... + a5 t^5) exp(-a^2), t = 1 / (1 + p a), a = |v| / sqrt 2; also sets
// *gauss = exp(-a^2) = e^(-v^2 / 2), the erf GELU's derivative's own factor, so the two share
// one exponential: 2^(-log2(e) v^2 / 2), clamped at 2^-125 (beyond |v| = 13.1, where erf is 1
// in float and the derivative's term below 1e-36).
inline float ErfGaussF(float v, float* gauss) {
  const float a = (v < 0 ? -v : v) * kInvSqrt2;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  float z = static_cast<float>(-0.5 * kLog2eD) * v * v;
  z = z < -125.0f ? -125.0f : z;
  *gauss = Exp2F(z);
  const float r = 1.0f - p * t * *gauss;
  return v < 0 ? -r : r;
}

// 1 + e^-x, the logistic's denominator (sigmoid(x) = 1 / it, a GLU's a sigmoid(b) = a / it):
// e^-x = 2^z, z = -log2(e) x clamped to [-125, 125] (|x| > 86.6: sigmoid is then 1 in float or
// below 3e-38).
inline float LogisticDenominator(float x) {
  float z = static_cast<float>(-kLog2eD) * x;
  z = z < -125.0f ? -125.0f : z;
  z = z > 125.0f ? 125.0f : z;
  return 1.0f + Exp2F(z);
}

// The tanh GELU as a logistic: with u = kC (v + kA v^3), 0.5 (1 + tanh(u)) = s = 1 / (1 + e^-2u)
// and 1 - tanh(u)^2 = 4 s (1 - s), so gelu = v s and gelu' = s + 2 kC v s (1 - s) (1 + 3 kA v^2).
// One exp2 of 8 operations and one division, where tanh(u) took a natural-log exp, a division
// and a separate small-|u| branch; in the far negative tail v s keeps its relative accuracy,
// which 0.5 v (1 + tanh(u)) lost to cancellation.
constexpr float k2C = 2 * kC;
constexpr float k2CA = static_cast<float>(2.0 * 0.79788456080286536 * 0.044715);  // one rounding

inline float GeluTanhF(float v, float* d) {
  const float v2 = v * v;
  const float s = 1.0f / LogisticDenominator(v * (k2C + k2CA * v2));  // 2u
  *d = s + 2.0f * kC * v * s * (1.0f - s) * (1.0f + 3.0f * kA * v2);
  return v * s;
}

inline float GeluErfF(float v, float* d) {
  float gauss;
  const float phi = 0.5f * (1.0f + ErfGaussF(v, &gauss));
  *d = phi + v * kInvSqrt2Pi * gauss;
  return v * phi;
}

// Every element goes through the same vector code, whatever its position in the call: blocks of
// kLanes elements are copied into local arrays, evaluated by one fixed-length loop (vectorized
// whole, no remainder loop) and copied out; the last, partial block is zero-padded. A plain
// loop over n leaves the last n mod VF elements to a remainder loop that GCC compiles
// differently (FMA contraction, operation order), so an element's result used to depend on
// where a call's range ended: splitting one array into other ranges (threads, or the rows of a
// fused kernel) changed last bits. vmath_test checks the results are position independent.
constexpr int kLanes = 16;

// f(const float (&in)[kIn][kLanes], float (&out)[kOut][kLanes]) over [0, n).
// always_inline: the helper and the lambdas must be compiled inside each target clone (an
// out-of-line copy would be baseline x86-64 code for every clone).
template <int kIn, int kOut, typename F>
__attribute__((always_inline)) inline void ForBlocks(int64_t n, const float* const (&in)[kIn], float* const (&out)[kOut], F f) {
  alignas(64) float a[kIn][kLanes];
  alignas(64) float r[kOut][kLanes];
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kIn; ++k) std::memcpy(a[k], in[k] + i, sizeof(a[k]));
    f(a, r);
    for (int k = 0; k < kOut; ++k) std::memcpy(out[k] + i, r[k], sizeof(r[k]));
  }
  if (i == n) return;
  const size_t bytes = static_cast<size_t>(n - i) * sizeof(float);
  std::memset(a, 0, sizeof(a));
  for (int k = 0; k < kIn; ++k) std::memcpy(a[k], in[k] + i, bytes);
  f(a, r);
  for (int k = 0; k < kOut; ++k) std::memcpy(out[k] + i, r[k], bytes);
}

using Block = float[kLanes];

}  // namespace

LRA_VMATH_CLONES void Exp(const float* x, float* y, int64_t n) {
  ForBlocks<1, 1>(n, {x}, {y}, [](const Block* a, Block* r) __attribute__((always_inline)) {
    for (int j = 0; j < kLanes; ++j) r[0][j] = ExpF(a[0][j]);
  });
}

LRA_VMATH_CLONES void Tanh(const float* x, float* y, int64_t n) {
  ForBlocks<1, 1>(n, {x}, {y}, [](const Block* a, Block* r) __attribute__((always_inline)) {
    for (int j = 0; j < kLanes; ++j) r[0][j] = TanhF(a[0][j]);
  });
}

LRA_VMATH_CLONES void Sigmoid(const float* x, float* y, int64_t n) {
  ForBlocks<1, 1>(n, {x}, {y}, [](const Block* a, Block* r) __attribute__((always_inline)) {
    for (int j = 0; j < kLanes; ++j) r[0][j] = 1.0f / LogisticDenominator(a[0][j]);
  });
}

LRA_VMATH_CLONES void GeluTanh(const float* x, float* y, float* dgelu, int64_t n) {
  if (dgelu) {
    ForBlocks<1, 2>(n, {x}, {y, dgelu}, [](const Block* a, Block* r) __attribute__((always_inline)) {
      for (int j = 0; j < kLanes; ++j) r[0][j] = GeluTanhF(a[0][j], &r[1][j]);
    });
  } else {
    ForBlocks<1, 1>(n, {x}, {y}, [](const Block* a, Block* r) __attribute__((always_inline)) {
      for (int j = 0; j < kLanes; ++j) {
        float d;
        r[0][j] = GeluTanhF(a[0][j], &d);
      }
    });
  }
}

LRA_VMATH_CLONES void GeluErf(const float* x, float* y, float* dgelu, int64_t n) {
  if (dgelu) {
    ForBlocks<1, 2>(n, {x}, {y, dgelu}, [](const Block* a, Block* r) __attribute__((always_inline)) {
      for (int j = 0; j < kLanes; ++j) r[0][j] = GeluErfF(a[0][j], &r[1][j]);
    });
  } else {
    ForBlocks<1, 1>(n, {x}, {y}, [](const Block* a, Block* r) __attribute__((always_inline)) {
      for (int j = 0; j < kLanes; ++j) {
        const float v = a[0][j];
        float gauss;
        r[0][j] = 0.5f * v * (1.0f + ErfGaussF(v, &gauss));
      }
    });
  }
}

LRA_VMATH_CLONES void GeluErfWithGrad(const float* x, float* y, float* d, int64_t n) {
  ForBlocks<1, 2>(n, {x}, {y, d}, [](const Block* a, Block* r) __attribute__((always_inline)) {
    for (int j = 0; j < kLanes; ++j) {
      const float v = a[0][j];
      // GeluErf's expression for y (not GeluErfF's v * phi, which rounds differently) and
      // GeluErfF's derivative, as GeluBackward<GeluErfF> computes it.
      float gauss;
      r[0][j] = 0.5f * v * (1.0f + ErfGaussF(v, &gauss));
      GeluErfF(v, &r[1][j]);
    }
  });
}

// g (= or +=) dy * gelu'(x) with gelu' from kGelu (GeluTanhF or GeluErfF).
template <float (*kGelu)(float, float*)>
__attribute__((always_inline)) inline void GeluBackward(const float* x, const float* dy, float* g,
                                                        bool accumulate, int64_t n) {
  if (accumulate) {
    ForBlocks<3, 1>(n, {x, dy, g}, {g}, [](const Block* a, Block* r) __attribute__((always_inline)) {
      for (int j = 0; j < kLanes; ++j) {
        float d;
        kGelu(a[0][j], &d);
        r[0][j] = a[2][j] + a[1][j] * d;
      }
    });
  } else {
    ForBlocks<2, 1>(n, {x, dy}, {g}, [](const Block* a, Block* r) __attribute__((always_inline)) {
      for (int j = 0; j < kLanes; ++j) {
        float d;
        kGelu(a[0][j], &d);
        r[0][j] = a[1][j] * d;
      }
    });
  }
}

LRA_VMATH_CLONES void GeluTanhBackward(const float* x, const float* dy, float* g, bool accumulate,
                                       int64_t n) {
  GeluBackward<GeluTanhF>(x, dy, g, accumulate, n);
}

LRA_VMATH_CLONES void GeluErfBackward(const float* x, const float* dy, float* g, bool accumulate,
                                      int64_t n) {
  GeluBackward<GeluErfF>(x, dy, g, accumulate, n);
}

LRA_VMATH_CLONES void Glu(const float* a, const float* b, float* y, int64_t n) {
  ForBlocks<2, 1>(n, {a, b}, {y}, [](const Block* in, Block* r) __attribute__((always_inline)) {
    for (int j = 0; j < kLanes; ++j) r[0][j] = in[0][j] / LogisticDenominator(in[1][j]);
  });
}

LRA_VMATH_CLONES void GluAdd(const float* a, const float* b, const float* x, float* y,
                             int64_t n) {
  ForBlocks<3, 1>(n, {a, b, x}, {y}, [](const Block* in, Block* r) __attribute__((always_inline)) {
    for (int j = 0; j < kLanes; ++j) {
      const float g = in[0][j] / LogisticDenominator(in[1][j]);
      r[0][j] = in[2][j] + g;
    }
  });
}

LRA_VMATH_CLONES void GluBackward(const float* a, const float* b, const float* dy, float* ga,
                                  float* gb, bool accumulate, int64_t n) {
  if (accumulate) {
    ForBlocks<5, 2>(n, {a, b, dy, ga, gb}, {ga, gb},
                    [](const Block* in, Block* r) __attribute__((always_inline)) {
      for (int j = 0; j < kLanes; ++j) {
        const float s = 1.0f / LogisticDenominator(in[1][j]), d = in[2][j];
        r[0][j] = in[3][j] + d * s;
        r[1][j] = in[4][j] + d * in[0][j] * s * (1.0f - s);
      }
    });
  } else {
    ForBlocks<3, 2>(n, {a, b, dy}, {ga, gb},
                    [](const Block* in, Block* r) __attribute__((always_inline)) {
      for (int j = 0; j < kLanes; ++j) {
        const float s = 1.0f / LogisticDenominator(in[1][j]), d = in[2][j];
        r[0][j] = d * s;
        r[1][j] = d * in[0][j] * s * (1.0f - s);
      }
    });
  }
}

}  // namespace vmath
}  // namespace lra

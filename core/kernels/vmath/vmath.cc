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

// erf by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7):
// erf(a) = 1 - (a1 t + ... + a5 t^5) exp(-a^2), t = 1 / (1 + p a), a = |x|.
inline float ErfF(float x) {
  const float a = x < 0 ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float r = 1.0f - p * t * ExpF(-a * a);
  return x < 0 ? -r : r;
}

constexpr float kC = 0.79788456080286536f;  // sqrt(2/pi)
constexpr float kA = 0.044715f;
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

inline float GeluTanhF(float v, float* d) {
  const float t = TanhF(kC * (v + kA * v * v * v));
  *d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * kC * (1.0f + 3.0f * kA * v * v);
  return 0.5f * v * (1.0f + t);
}

inline float GeluErfF(float v, float* d) {
  const float phi = 0.5f * (1.0f + ErfF(v * kInvSqrt2));
  *d = phi + v * kInvSqrt2Pi * ExpF(-0.5f * v * v);
  return v * phi;
}

}  // namespace

LRA_VMATH_CLONES void Exp(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = ExpF(x[i]);
}

LRA_VMATH_CLONES void Tanh(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = TanhF(x[i]);
}

LRA_VMATH_CLONES void Sigmoid(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + ExpF(-x[i]));
}

LRA_VMATH_CLONES void GeluTanh(const float* x, float* y, float* dgelu, int64_t n) {
  if (dgelu) {
    for (int64_t i = 0; i < n; ++i) y[i] = GeluTanhF(x[i], &dgelu[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      float d;
      y[i] = GeluTanhF(x[i], &d);
    }
  }
}

LRA_VMATH_CLONES void GeluErf(const float* x, float* y, float* dgelu, int64_t n) {
  if (dgelu) {
    for (int64_t i = 0; i < n; ++i) y[i] = GeluErfF(x[i], &dgelu[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      y[i] = 0.5f * v * (1.0f + ErfF(v * kInvSqrt2));
    }
  }
}

LRA_VMATH_CLONES void GeluTanhBackward(const float* x, const float* dy, float* g, bool accumulate,
                                       int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float d;
    GeluTanhF(x[i], &d);
    g[i] = accumulate ? g[i] + dy[i] * d : dy[i] * d;
  }
}

LRA_VMATH_CLONES void GeluErfBackward(const float* x, const float* dy, float* g, bool accumulate,
                                      int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float d;
    GeluErfF(x[i], &d);
    g[i] = accumulate ? g[i] + dy[i] * d : dy[i] * d;
  }
}

}  // namespace vmath
}  // namespace lra

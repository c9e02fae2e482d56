#include "core/ops/activation.h"

#include <cmath>

#include "core/check.h"
#include "core/ops/unary_internal.h"
#include "core/parallel.h"

namespace lra {

using ops_internal::Unary;

// Saves x (and y, unused): d relu = [x > 0].
Var Relu(const Var& x) {
  return Unary("Relu", x, [](float v) { return v > 0.0f ? v : 0.0f; },
               [](float v, float) { return v > 0.0f ? 1.0f : 0.0f; }, 1);
}

// Saves x; the derivative is recomputed from x in backward.
Var Gelu(const Var& x, GeluKind kind) {
  constexpr float kInvSqrt2 = 0.70710678118654752f;
  constexpr float kInvSqrt2Pi = 0.39894228040143268f;
  constexpr float kC = 0.79788456080286536f;  // sqrt(2/pi)
  constexpr float kA = 0.044715f;
  if (kind == GeluKind::kErf) {
    return Unary(
        "GeluErf", x, [](float v) { return 0.5f * v * (1.0f + std::erf(v * kInvSqrt2)); },
        [](float v, float) {
          // d/dx x Phi(x) = Phi(x) + x phi(x).
          return 0.5f * (1.0f + std::erf(v * kInvSqrt2)) +
                 v * kInvSqrt2Pi * std::exp(-0.5f * v * v);
        },
        16);
  }
  return Unary(
      "GeluTanh", x,
      [](float v) { return 0.5f * v * (1.0f + std::tanh(kC * (v + kA * v * v * v))); },
      [](float v, float) {
        const float t = std::tanh(kC * (v + kA * v * v * v));
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * kC * (1.0f + 3.0f * kA * v * v);
      },
      16);
}

// Saves x: da = dy * s, db = dy * a * s * (1 - s), s = sigmoid(b).
Var Glu(const Var& x) {
  const int64_t two_h = x.dim(-1);
  LRA_CHECK(two_h % 2 == 0) << "Glu: last dim " << two_h << " is odd";
  const int64_t h = two_h / 2, rows = x.numel() / std::max<int64_t>(1, two_h);
  std::vector<int64_t> od = x.shape().ToVector();
  od.back() = h;
  Tensor y = Tensor::Empty(Shape(od));
  const float* xp = x.value().data<float>();
  float* yp = y.data<float>();
  ParallelFor(
      rows, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t j = 0; j < h; ++j) {
            const float a = xp[r * two_h + j], b = xp[r * two_h + h + j];
            yp[r * h + j] = a / (1.0f + std::exp(-b));
          }
      },
      8 * h);
  return MakeOp("Glu", y, {x}, [x, rows, h](const Tensor& dy) {
    const int64_t two_h = 2 * h;
    bool ow;
    Tensor& g = x.GradForWrite(&ow);
    float* gp = g.data<float>();
    const float* xp = x.value().data<float>();
    const float* dp = dy.data<float>();
    ParallelFor(
        rows, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t j = 0; j < h; ++j) {
              const float a = xp[r * two_h + j], b = xp[r * two_h + h + j];
              const float s = 1.0f / (1.0f + std::exp(-b));
              const float d = dp[r * h + j];
              const float ga = d * s, gb = d * a * s * (1.0f - s);
              if (ow) {
                gp[r * two_h + j] = ga;
                gp[r * two_h + h + j] = gb;
              } else {
                gp[r * two_h + j] += ga;
                gp[r * two_h + h + j] += gb;
              }
            }
        },
        8 * h);
  });
}

}  // namespace lra

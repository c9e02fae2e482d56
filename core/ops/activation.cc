#include "core/ops/activation.h"

#include <cmath>

#include "core/check.h"
#include "core/kernels/vmath/vmath.h"
#include "core/ops/unary_internal.h"
#include "core/parallel.h"

namespace lra {

using ops_internal::Unary;

// Saves x (and y, unused): d relu = [x > 0].
Var Relu(const Var& x) {
  return Unary("Relu", x, [](float v) { return v > 0.0f ? v : 0.0f; },
               [](float v, float) { return v > 0.0f ? 1.0f : 0.0f; }, 1);
}

// Saves x; the derivative is recomputed from x in backward (vectorized, core/kernels/vmath).
Var Gelu(const Var& x, GeluKind kind) {
  const int64_t n = x.numel();
  Tensor y = Tensor::Empty(x.shape());
  const float* xp = x.value().data<float>();
  float* yp = y.data<float>();
  ParallelFor(
      n, [&](int64_t b, int64_t e) {
        if (kind == GeluKind::kErf) {
          vmath::GeluErf(xp + b, yp + b, nullptr, e - b);
        } else {
          vmath::GeluTanh(xp + b, yp + b, nullptr, e - b);
        }
      },
      8);
  return MakeOp(kind == GeluKind::kErf ? "GeluErf" : "GeluTanh", y, {x}, [x, kind, n](const Tensor& dy) {
    bool ow;
    Tensor& g = x.GradForWrite(&ow);
    const float* xp = x.value().data<float>();
    const float* dp = dy.data<float>();
    float* gp = g.data<float>();
    ParallelFor(
        n, [&](int64_t b, int64_t e) {
          if (kind == GeluKind::kErf) {
            vmath::GeluErfBackward(xp + b, dp + b, gp + b, !ow, e - b);
          } else {
            vmath::GeluTanhBackward(xp + b, dp + b, gp + b, !ow, e - b);
          }
        },
        8);
  });
}

// Saves x: da = dy * s, db = dy * a * s * (1 - s), s = sigmoid(b). Both passes run vmath's
// vectorized exp, one row at a time.
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
          vmath::Glu(xp + r * two_h, xp + r * two_h + h, yp + r * h, h);
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
            vmath::GluBackward(xp + r * two_h, xp + r * two_h + h, dp + r * h, gp + r * two_h,
                               gp + r * two_h + h, !ow, h);
        },
        8 * h);
  });
}

}  // namespace lra

#include "core/ops/softmax.h"

#include <cmath>

#include "core/check.h"
#include "core/parallel.h"

namespace lra {

// Saves the output y: dx = y * (dy - sum_j dy_j y_j) (masked entries have y = 0, so get 0).
Var Softmax(const Var& x, const Tensor& mask) {
  const int64_t n = x.dim(-1);
  const int64_t rows = n ? x.numel() / n : 0;
  int64_t mask_rows = 0;
  const float* mp = nullptr;
  if (mask.defined()) {
    LRA_CHECK(mask.dim(-1) == n && mask.numel() > 0 && rows % (mask.numel() / n) == 0)
        << "Softmax: mask " << mask.shape().ToString() << " for x " << x.shape().ToString();
    mask_rows = mask.numel() / n;
    mp = mask.data<float>();
  }
  Tensor y = Tensor::Empty(x.shape());
  const float* xp = x.value().data<float>();
  float* yp = y.data<float>();
  ParallelFor(
      rows, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = xp + r * n;
          float* yr = yp + r * n;
          const float* mr = mp ? mp + (r % mask_rows) * n : nullptr;
          float mx = -INFINITY;
          for (int64_t j = 0; j < n; ++j)
            if (!mr || mr[j] != 0.0f) mx = std::max(mx, xr[j]);
          if (mx == -INFINITY) {  // fully masked (or all -inf)
            for (int64_t j = 0; j < n; ++j) yr[j] = 0.0f;
            continue;
          }
          float s = 0.0f;
          for (int64_t j = 0; j < n; ++j) {
            const float e = (!mr || mr[j] != 0.0f) ? std::exp(xr[j] - mx) : 0.0f;
            yr[j] = e;
            s += e;
          }
          const float inv = 1.0f / s;
          for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
        }
      },
      8 * n);
  return MakeOp("Softmax", y, {x}, [x, y, rows, n](const Tensor& dy) {
    bool ow;
    Tensor& g = x.GradForWrite(&ow);
    float* gp = g.data<float>();
    const float* yp = y.data<float>();
    const float* dp = dy.data<float>();
    ParallelFor(
        rows, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const float* yr = yp + r * n;
            const float* dr = dp + r * n;
            float dot = 0.0f;
            for (int64_t j = 0; j < n; ++j) dot += dr[j] * yr[j];
            float* gr = gp + r * n;
            for (int64_t j = 0; j < n; ++j) {
              const float v = yr[j] * (dr[j] - dot);
              gr[j] = ow ? v : gr[j] + v;
            }
          }
        },
        4 * n);
  });
}

}  // namespace lra

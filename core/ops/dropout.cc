#include "core/ops/dropout.h"

#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace lra {
namespace {

// y = x * m with m the scaled mask of x's shape; saves m (gradient: dx = dy * m).
Var ApplyMask(const char* name, const Var& x, Tensor m) {
  Tensor y = Tensor::Empty(x.shape());
  const float* xp = x.value().data<float>();
  const float* mp = m.data<float>();
  float* yp = y.data<float>();
  ParallelFor(x.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) yp[i] = xp[i] * mp[i];
  });
  return MakeOp(name, y, {x}, [x, m](const Tensor& dy) {
    bool ow;
    Tensor& g = x.GradForWrite(&ow);
    float* gp = g.data<float>();
    const float* mp = m.data<float>();
    const float* dp = dy.data<float>();
    ParallelFor(m.numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) gp[i] = ow ? dp[i] * mp[i] : gp[i] + dp[i] * mp[i];
    });
  });
}

}  // namespace

Var Dropout(const Var& x, float p, bool training, Rng& rng) {
  LRA_CHECK(p >= 0.0f && p < 1.0f) << "Dropout p = " << p;
  if (!training || p == 0.0f) return x;
  const int64_t n = x.numel();
  std::vector<uint8_t> keep(n);
  rng.FillBernoulli(keep.data(), n, 1.0f - p);
  Tensor m = Tensor::Empty(x.shape());
  float* mp = m.data<float>();
  const float scale = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; ++i) mp[i] = keep[i] ? scale : 0.0f;
  return ApplyMask("Dropout", x, m);
}

Var TiedDropout(const Var& x, float p, int axis, bool training, Rng& rng) {
  LRA_CHECK(p >= 0.0f && p < 1.0f) << "TiedDropout p = " << p;
  if (!training || p == 0.0f) return x;
  const int ax = x.shape().Axis(axis);
  const int64_t outer = x.shape().Rows(ax), len = x.dim(ax);
  const int64_t inner = len ? x.shape().Cols(ax) / len : 0;
  std::vector<uint8_t> keep(outer * inner);
  rng.FillBernoulli(keep.data(), outer * inner, 1.0f - p);
  Tensor m = Tensor::Empty(x.shape());
  float* mp = m.data<float>();
  const float scale = 1.0f / (1.0f - p);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t l = 0; l < len; ++l)
      for (int64_t j = 0; j < inner; ++j)
        mp[(o * len + l) * inner + j] = keep[o * inner + j] ? scale : 0.0f;
  return ApplyMask("TiedDropout", x, m);
}

}  // namespace lra

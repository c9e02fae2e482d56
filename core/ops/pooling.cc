#include "core/ops/pooling.h"

#include "core/check.h"
#include "core/parallel.h"

namespace lra {

// Saves the lengths: dx[b, l < len_b, :] = dy[b, :] / len_b, zero on padding.
Var MeanPool(const Var& x, const std::vector<int32_t>& lengths_in) {
  LRA_CHECK(x.rank() == 3) << "MeanPool: x " << x.shape().ToString() << " must be [B, L, H]";
  const int64_t b = x.dim(0), l = x.dim(1), h = x.dim(2);
  std::vector<int32_t> lengths = lengths_in;
  if (lengths.empty()) lengths.assign(b, static_cast<int32_t>(l));
  LRA_CHECK(static_cast<int64_t>(lengths.size()) == b) << "MeanPool: " << lengths.size() << " lengths for batch " << b;
  for (int32_t n : lengths) LRA_CHECK(n >= 0 && n <= l) << "MeanPool: length " << n << " not in [0, " << l << "]";
  Tensor y = Tensor::Empty({b, h});
  const float* xp = x.value().data<float>();
  float* yp = y.data<float>();
  ParallelFor(
      b, [&](int64_t b0, int64_t b1) {
        for (int64_t i = b0; i < b1; ++i) {
          float* dst = yp + i * h;
          for (int64_t j = 0; j < h; ++j) dst[j] = 0.0f;
          for (int64_t t = 0; t < lengths[i]; ++t)
            for (int64_t j = 0; j < h; ++j) dst[j] += xp[(i * l + t) * h + j];
          const float inv = lengths[i] ? 1.0f / lengths[i] : 0.0f;
          for (int64_t j = 0; j < h; ++j) dst[j] *= inv;
        }
      },
      l * h);
  return MakeOp("MeanPool", y, {x}, [x, lengths, b, l, h](const Tensor& dy) {
    bool ow;
    Tensor& g = x.GradForWrite(&ow);
    float* gp = g.data<float>();
    const float* dp = dy.data<float>();
    ParallelFor(
        b, [&](int64_t b0, int64_t b1) {
          for (int64_t i = b0; i < b1; ++i) {
            const float inv = lengths[i] ? 1.0f / lengths[i] : 0.0f;
            for (int64_t t = 0; t < l; ++t)
              for (int64_t j = 0; j < h; ++j) {
                const float v = t < lengths[i] ? dp[i * h + j] * inv : 0.0f;
                float& dst = gp[(i * l + t) * h + j];
                dst = ow ? v : dst + v;
              }
          }
        },
        l * h);
  });
}

}  // namespace lra

// The attention-dropout mask of core/kernels/attention.h restricted to a window of keys, shared
// by the kernels that attend within blocks (core/kernels/block_sparse_attention.h, which local
// attention runs on, and core/kernels/sinkhorn_attention.h): M_ij is a pure function of (seed, b, head, i, j) for
// global query and key indices i, j (Philox4x32-10, counter (j / 4, i, head, b), key (seed low,
// seed high), word j % 4; kept iff word >= round(p 2^32)), so a kernel regenerates it in
// backward and two kernels with one seed drop the same pairs.
#ifndef LRA_CORE_KERNELS_WINDOW_DROPOUT_H_
#define LRA_CORE_KERNELS_WINDOW_DROPOUT_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace lra {
namespace kernels {

struct WindowDropout {
  bool on = false;
  uint32_t threshold = 0;
  float scale = 1.0f;
  uint64_t seed = 0;

  // rate in [0, 1) (the caller checks); 0 turns dropout off.
  WindowDropout(float rate, uint64_t s) : seed(s) {
    if (rate == 0.0f) return;
    on = true;
    threshold = static_cast<uint32_t>(std::min(4294967295.0, std::round(rate * 4294967296.0)));
    scale = 1.0f / (1.0f - rate);
  }

  // factor[c] = M_{i, j0 + c} / (1 - p) for c < n. Vectorised across Philox blocks
  // (window_dropout.cc): the words are those of the scalar definition above, bit for bit.
  void Row(int b, int h, int i, int j0, int n, float* factor) const;

  // pd = p o M / (1 - p) over queries i0 + r (r < rows) and keys j0 + c (c < cols), both
  // row-major with row stride `stride`.
  void Apply(int b, int h, int i0, int rows, int j0, int cols, int stride, const float* p,
             float* pd) const {
    std::vector<float> f(cols);
    for (int r = 0; r < rows; ++r) {
      Row(b, h, i0 + r, j0, cols, f.data());
      for (int c = 0; c < cols; ++c) pd[r * stride + c] = p[r * stride + c] * f[c];
    }
  }
};

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_WINDOW_DROPOUT_H_

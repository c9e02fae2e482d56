#include "core/kernels/local_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "absl/base/internal/raw_logging.h"
#include "core/kernels/strided_view.h"
#include "core/kernels/window_dropout.h"

namespace lra {
namespace kernels {
namespace {

void CheckShape(const LocalAttentionShape& s, float rate) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.length >= 1 && s.heads >= 1 && s.head_dim >= 1 && s.block >= 1,
                 "LocalAttention: batch, length, heads, head_dim and block must be >= 1");
  ABSL_RAW_CHECK(rate >= 0.0f && rate < 1.0f, "LocalAttention: dropout rate must be in [0, 1)");
}

int Length(const LocalAttentionShape& s, const int* lengths, int b) {
  if (lengths == nullptr) return s.length;
  ABSL_RAW_CHECK(lengths[b] >= 0 && lengths[b] <= s.length,
                 "LocalAttention: lengths[b] must lie in [0, L]");
  return lengths[b];
}

// One (batch, head, window) task: where its rows live and which positions are valid.
struct Window {
  int b, h, start, n;   // rows [start, start + n) of batch b, head h
  int64_t row_stride;   // heads * d
  int64_t offset;       // of (b, start, h, 0) in the [B, L, heads, d] arrays
  const float* p;       // saved probabilities of row `start`: [n, block] (stride block)
};

// pd = P o M / (1 - p) for a window's rows (stride block): core/kernels/window_dropout.h.
void ApplyDrop(const WindowDropout& drop, const LocalAttentionShape& s, const Window& w,
               const float* p, float* pd) {
  drop.Apply(w.b, w.h, w.start, w.n, w.start, w.n, s.block, p, pd);
}

template <typename Fn>
void ForEachWindow(const LocalAttentionShape& s, const float* saved, Fn fn) {
  const int windows = (s.length + s.block - 1) / s.block;
  const int64_t tasks = static_cast<int64_t>(s.batch) * s.heads * windows;
  const int64_t stride = static_cast<int64_t>(s.heads) * s.head_dim;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tasks; ++t) {
    const int wi = static_cast<int>(t % windows);
    const int h = static_cast<int>((t / windows) % s.heads);
    const int b = static_cast<int>(t / windows / s.heads);
    Window w;
    w.b = b;
    w.h = h;
    w.start = wi * s.block;
    w.n = std::min(s.block, s.length - w.start);
    w.row_stride = stride;
    w.offset = (static_cast<int64_t>(b) * s.length + w.start) * stride + int64_t{h} * s.head_dim;
    w.p = saved + ((static_cast<int64_t>(b) * s.heads + h) * s.length + w.start) * s.block;
    fn(w);
  }
}

}  // namespace

int64_t LocalAttentionSavedFloats(const LocalAttentionShape& s) {
  return static_cast<int64_t>(s.batch) * s.heads * s.length * s.block;
}

void LocalAttentionForward(const LocalAttentionShape& s, const float* q, const float* k,
                           const float* v, const int* lengths, const uint8_t* mask,
                           float dropout_rate, uint64_t dropout_seed, float* out, float* saved) {
  CheckShape(s, dropout_rate);
  for (int b = 0; b < s.batch; ++b) Length(s, lengths, b);
  const WindowDropout drop(dropout_rate, dropout_seed);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const int d = s.head_dim;
  ForEachWindow(s, saved, [&](const Window& w) {
    const int len = lengths ? lengths[w.b] : s.length;
    const uint8_t* m = mask ? mask + static_cast<int64_t>(w.b) * s.length : nullptr;
    auto valid = [&](int t) { return t < len && (!m || m[t]); };
    float* p = const_cast<float*>(w.p);
    MatView pm = View(p, w.n, w.n, s.block);
    pm.noalias() = scale * View(q + w.offset, w.n, d, w.row_stride) *
                   View(k + w.offset, w.n, d, w.row_stride).transpose();
    for (int r = 0; r < w.n; ++r) {
      float* row = p + static_cast<int64_t>(r) * s.block;
      if (!valid(w.start + r)) {  // flax: every score -1e10, so uniform over the window
        std::fill(row, row + w.n, 1.0f / w.n);
        continue;
      }
      float mx = -INFINITY;
      for (int c = 0; c < w.n; ++c)
        if (valid(w.start + c)) mx = std::max(mx, row[c]);
      float z = 0;
      for (int c = 0; c < w.n; ++c) z += row[c] = valid(w.start + c) ? std::exp(row[c] - mx) : 0.0f;
      const float inv = 1.0f / z;
      for (int c = 0; c < w.n; ++c) row[c] *= inv;
    }
    MatView o = View(out + w.offset, w.n, d, w.row_stride);
    const ConstMatView vv = View(v + w.offset, w.n, d, w.row_stride);
    if (drop.on) {
      std::vector<float> pd(static_cast<size_t>(w.n) * s.block);
      ApplyDrop(drop, s, w, p, pd.data());
      o.noalias() = View(pd.data(), w.n, w.n, s.block) * vv;
    } else {
      o.noalias() = View(static_cast<const float*>(p), w.n, w.n, s.block) * vv;
    }
  });
}

void LocalAttentionBackward(const LocalAttentionShape& s, const float* q, const float* k,
                            const float* v, const int* lengths, const uint8_t* mask,
                            float dropout_rate, uint64_t dropout_seed, const float* saved,
                            const float* dout, float* dq, float* dk, float* dv) {
  CheckShape(s, dropout_rate);
  (void)mask;  // the saved probabilities carry the mask (0 on masked keys, uniform rows)
  for (int b = 0; b < s.batch; ++b) Length(s, lengths, b);
  const WindowDropout drop(dropout_rate, dropout_seed);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const int d = s.head_dim;
  ForEachWindow(s, saved, [&](const Window& w) {
    const ConstMatView p = View(w.p, w.n, w.n, s.block);
    std::vector<float> pd_buf;
    const float* pd_ptr = w.p;
    if (drop.on) {
      pd_buf.resize(static_cast<size_t>(w.n) * s.block);
      ApplyDrop(drop, s, w, w.p, pd_buf.data());
      pd_ptr = pd_buf.data();
    }
    const ConstMatView pd = View(pd_ptr, w.n, w.n, s.block);  // P~ = P o M / (1 - p)
    const ConstMatView go = View(dout + w.offset, w.n, d, w.row_stride);
    View(dv + w.offset, w.n, d, w.row_stride).noalias() = pd.transpose() * go;
    // dP~ = dO V^T; D_i = sum_j P~_ij dP~_ij; dS = P~ o dP~ - P o D.
    RowMat ds = go * View(v + w.offset, w.n, d, w.row_stride).transpose();
    for (int r = 0; r < w.n; ++r) {
      float di = 0;
      for (int c = 0; c < w.n; ++c) di += pd(r, c) * ds(r, c);
      for (int c = 0; c < w.n; ++c) ds(r, c) = pd(r, c) * ds(r, c) - p(r, c) * di;
    }
    View(dq + w.offset, w.n, d, w.row_stride).noalias() =
        scale * ds * View(k + w.offset, w.n, d, w.row_stride);
    View(dk + w.offset, w.n, d, w.row_stride).noalias() =
        scale * ds.transpose() * View(q + w.offset, w.n, d, w.row_stride);
  });
}

}  // namespace kernels
}  // namespace lra

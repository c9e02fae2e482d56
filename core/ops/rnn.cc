#include "core/ops/rnn.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/kernels/onednn/gemm.h"
#include "core/kernels/vmath/vmath.h"
#include "core/ops/recurrent_internal.h"
#include "core/parallel.h"

#pragma GCC optimize("O3")

namespace lra {
namespace {

// out[r, c0 + c] += sum_kk a[r, kk] w[kk, c0 + c] for R rows and kC columns, the R x kC
// accumulators held in registers (8 x 32 floats = 16 AVX-512 registers) while w's rows stream
// through once. Sums run over kk in order.
constexpr int kCols = 32;
template <int R>
__attribute__((always_inline)) inline void RowBlock(int64_t k, int64_t n, int64_t c0,
                                                    const float* __restrict__ a,
                                                    const float* __restrict__ w,
                                                    float* __restrict__ out) {
  float acc[R][kCols];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < kCols; ++c) acc[r][c] = out[r * n + c0 + c];
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* wr = w + kk * n + c0;
    for (int r = 0; r < R; ++r) {
      const float ar = a[r * k + kk];
      for (int c = 0; c < kCols; ++c) acc[r][c] += ar * wr[c];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < kCols; ++c) out[r * n + c0 + c] = acc[r][c];
}

// out [rows, n] += a [rows, k] w [k, n] on the calling thread: the per-step hidden-to-hidden
// product ([8, 128] x [128, 512] for the LSTM at H = 128 is 0.5 MFMA, a few microseconds). A
// oneDNN call per step would cost its dispatch and, from 1 MFLOP, a parallel region per step;
// this loop costs neither, and every step (training or streaming) sums in the same order.
__attribute__((target_clones("avx512f", "avx2,fma", "default"))) void RowsTimesMatrix(
    int64_t rows, int64_t k, int64_t n, const float* a, const float* w, float* out) {
  constexpr int kRows = 8;
  const int64_t ncol = n / kCols * kCols;
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    for (int64_t c0 = 0; c0 < ncol; c0 += kCols)
      RowBlock<kRows>(k, n, c0, a + r * k, w, out + r * n);
  // A thread's share of the batch rows (Lstm, Gru) is often 4 or fewer: blocks of 4 and 2 rows
  // still read each row of w once for several rows.
  for (; r + 4 <= rows; r += 4)
    for (int64_t c0 = 0; c0 < ncol; c0 += kCols) RowBlock<4>(k, n, c0, a + r * k, w, out + r * n);
  for (; r + 2 <= rows; r += 2)
    for (int64_t c0 = 0; c0 < ncol; c0 += kCols) RowBlock<2>(k, n, c0, a + r * k, w, out + r * n);
  for (; r < rows; ++r)
    for (int64_t c0 = 0; c0 < ncol; c0 += kCols) RowBlock<1>(k, n, c0, a + r * k, w, out + r * n);
  if (ncol == n) return;
  for (int64_t i = 0; i < rows; ++i)  // columns beyond the last full block of 32
    for (int64_t c = ncol; c < n; ++c) {
      float s = out[i * n + c];
      for (int64_t kk = 0; kk < k; ++kk) s += a[i * k + kk] * w[kk * n + c];
      out[i * n + c] = s;
    }
}

// ParallelFor cost per batch row of a whole recurrence: always worth a second thread.
constexpr int64_t kRecurrenceGrain = kParallelGrain;

// out[j] = sum over rows of m[r, j] for a [rows, n] matrix; each column sums its rows in order
// (thread-count independent); columns split over threads in blocks of 64.
void ColumnSums(const float* m, int64_t rows, int64_t n, float* out) {
  constexpr int64_t kCols = 64;
  ParallelFor((n + kCols - 1) / kCols,
              [&](int64_t c0, int64_t c1) {
                for (int64_t cb = c0; cb < c1; ++cb) {
                  const int64_t j0 = cb * kCols, j1 = std::min(n, j0 + kCols);
                  std::fill(out + j0, out + j1, 0.0f);
                  for (int64_t r = 0; r < rows; ++r)
                    for (int64_t j = j0; j < j1; ++j) out[j] += m[r * n + j];
                }
              },
              rows * kCols);
}

void CheckRnn(const char* op, const Var& xproj, const Var& w, const Var& b, int gates) {
  LRA_CHECK(xproj.rank() == 3 && xproj.dim(2) % gates == 0)
      << op << ": xproj " << xproj.shape().ToString() << " must be [B, L, " << gates << "H]";
  const int64_t h = xproj.dim(2) / gates;
  LRA_CHECK(w.shape() == (Shape{h, gates * h}))
      << op << ": w_hh " << w.shape().ToString() << ", want [" << h << ", " << gates * h << "]";
  if (b.defined())
    LRA_CHECK(b.shape() == Shape{gates * h})
        << op << ": b_hh " << b.shape().ToString() << ", want [" << gates * h << "]";
}

// gates[r, :] = x[r * xstride, :] (+ bias) for rows r < bsz; then += hprev w (if hprev).
void Preactivation(const float* x, int64_t xstride, const float* bias, const float* hprev,
                   const float* w, int64_t bsz, int64_t h, int64_t g, float* gates) {
  for (int64_t r = 0; r < bsz; ++r) {
    float* o = gates + r * g;
    if (x) {
      std::memcpy(o, x + r * xstride, g * sizeof(float));
    } else {
      std::fill(o, o + g, 0.0f);
    }
    if (bias)
      for (int64_t j = 0; j < g; ++j) o[j] += bias[j];
  }
  if (hprev) RowsTimesMatrix(bsz, h, g, hprev, w, gates);
}

// LSTM cell on one row: a = [a_i | a_f | a_g | a_o] -> activations in place; c = f cprev + i g;
// tc = tanh(c); h = o tc. cprev may be null (zero).
void LstmCell(float* a, const float* cprev, float* c, float* tc, float* hout, int64_t h) {
  vmath::Sigmoid(a, a, 2 * h);
  vmath::Tanh(a + 2 * h, a + 2 * h, h);
  vmath::Sigmoid(a + 3 * h, a + 3 * h, h);
  for (int64_t j = 0; j < h; ++j) c[j] = (cprev ? a[h + j] * cprev[j] : 0.0f) + a[j] * a[2 * h + j];
  vmath::Tanh(c, tc, h);
  for (int64_t j = 0; j < h; ++j) hout[j] = a[3 * h + j] * tc[j];
}

// GRU cell on one row: x = [x_r | x_z | x_n], s = [s_r | s_z | s_n] (h w_hh + b_hh). Writes
// act = [r | z | n | s_n] and h = (1 - z) n + z hprev (hprev null: zero).
void GruCell(const float* x, const float* s, const float* hprev, float* act, float* hout,
             int64_t h) {
  for (int64_t j = 0; j < 2 * h; ++j) act[j] = x[j] + s[j];
  vmath::Sigmoid(act, act, 2 * h);
  for (int64_t j = 0; j < h; ++j) {
    act[3 * h + j] = s[2 * h + j];
    act[2 * h + j] = x[2 * h + j] + act[j] * s[2 * h + j];
  }
  vmath::Tanh(act + 2 * h, act + 2 * h, h);
  for (int64_t j = 0; j < h; ++j) {
    const float z = act[h + j], n = act[2 * h + j];
    hout[j] = (1.0f - z) * n + (hprev ? z * hprev[j] : 0.0f);
  }
}

// Weight and bias gradients from the per-step gate gradients dg [L, B, G] and the states
// hs [L, B, H]: dw = sum_{t >= 1} h_{t-1}^T dg_t (one GEMM), db = column sums of dg.
void WeightGrads(const Var& w, const Var& b, const Tensor& hs, const Tensor& dg, int64_t len,
                 int64_t bsz, int64_t h, int64_t g) {
  if (w.requires_grad()) {
    Tensor dw = Tensor::Zeros(w.shape());
    if (len > 1)
      onednn::Gemm(1, h, g, (len - 1) * bsz, true, false, hs.data<float>(),
                   dg.data<float>() + bsz * g, nullptr, dw.data<float>(), false);
    AccumulateGrad(w, dw);
  }
  if (b.defined() && b.requires_grad()) {
    Tensor db = Tensor::Empty(b.shape());
    ColumnSums(dg.data<float>(), len * bsz, g, db.data<float>());
    AccumulateGrad(b, db);
  }
}

}  // namespace

// Saves the gate activations [L, B, 4H], c and h [L, B, H] (time-major).
Var Lstm(const Var& xproj, const Var& w_hh, const Var& b_hh) {
  CheckRnn("Lstm", xproj, w_hh, b_hh, 4);
  const int64_t bsz = xproj.dim(0), len = xproj.dim(1), g = xproj.dim(2), h = g / 4;
  Tensor act = Tensor::Empty({len, bsz, g});
  Tensor cs = Tensor::Empty({len, bsz, h});
  Tensor hs = Tensor::Empty({len, bsz, h});
  Tensor out = Tensor::Empty({bsz, len, h});
  const float* xp = xproj.value().data<float>();
  const float* wp = w_hh.value().data<float>();
  const float* bp = b_hh.defined() ? b_hh.value().data<float>() : nullptr;
  // Batch rows are independent through time: each thread runs the whole recurrence for its
  // rows (one parallel region, no synchronisation per step).
  ParallelFor(
      bsz,
      [&](int64_t r0, int64_t r1) {
        std::vector<float> tc(h);
        for (int64_t t = 0; t < len; ++t) {
          float* a = act.data<float>() + (t * bsz + r0) * g;
          const float* hprev = t > 0 ? hs.data<float>() + ((t - 1) * bsz + r0) * h : nullptr;
          Preactivation(xp + (r0 * len + t) * g, len * g, bp, hprev, wp, r1 - r0, h, g, a);
          for (int64_t r = r0; r < r1; ++r) {
            float* c = cs.data<float>() + (t * bsz + r) * h;
            const float* cprev = t > 0 ? c - bsz * h : nullptr;
            float* hr = hs.data<float>() + (t * bsz + r) * h;
            LstmCell(a + (r - r0) * g, cprev, c, tc.data(), hr, h);
            std::memcpy(out.data<float>() + (r * len + t) * h, hr, h * sizeof(float));
          }
        }
      },
      kRecurrenceGrain);
  return MakeOp(
      "Lstm", out,
      b_hh.defined() ? std::vector<Var>{xproj, w_hh, b_hh} : std::vector<Var>{xproj, w_hh},
      [xproj, w_hh, b_hh, act, cs, hs, bsz, len, h, g](const Tensor& dout) {
        Tensor dg = Tensor::Empty({len, bsz, g});
        const Tensor wt = recurrent_internal::Transposed2d(w_hh.value());  // [4H, H]
        const float* dp = dout.data<float>();
        ParallelFor(
            bsz,
            [&](int64_t r0, int64_t r1) {
              const int64_t rows = r1 - r0;
              std::vector<float> dh_rec(rows * h, 0.0f), dc_next(rows * h, 0.0f), tc(h);
              for (int64_t t = len - 1; t >= 0; --t) {
                for (int64_t r = r0; r < r1; ++r) {
                  const int64_t i = r - r0;
                  const float* a = act.data<float>() + (t * bsz + r) * g;
                  const float* c = cs.data<float>() + (t * bsz + r) * h;
                  const float* cprev = t > 0 ? c - bsz * h : nullptr;
                  float* d = dg.data<float>() + (t * bsz + r) * g;
                  vmath::Tanh(c, tc.data(), h);
                  for (int64_t j = 0; j < h; ++j) {
                    const float ig = a[j], f = a[h + j], gg = a[2 * h + j], o = a[3 * h + j];
                    const float dh = dp[(r * len + t) * h + j] + dh_rec[i * h + j];
                    const float dc = dh * o * (1.0f - tc[j] * tc[j]) + dc_next[i * h + j];
                    d[j] = dc * gg * ig * (1.0f - ig);
                    d[h + j] = (cprev ? dc * cprev[j] : 0.0f) * f * (1.0f - f);
                    d[2 * h + j] = dc * ig * (1.0f - gg * gg);
                    d[3 * h + j] = dh * tc[j] * o * (1.0f - o);
                    dc_next[i * h + j] = dc * f;
                  }
                }
                // dh_{t-1} = dg_t w_hh^T.
                std::fill(dh_rec.begin(), dh_rec.end(), 0.0f);
                if (t > 0)
                  RowsTimesMatrix(rows, g, h, dg.data<float>() + (t * bsz + r0) * g,
                                  wt.data<float>(), dh_rec.data());
              }
            },
            kRecurrenceGrain);
        if (xproj.requires_grad()) {
          recurrent_internal::GradBuffer dx(xproj, xproj.shape());
          for (int64_t t = 0; t < len; ++t)
            for (int64_t r = 0; r < bsz; ++r)
              std::memcpy(dx.data() + (r * len + t) * g, dg.data<float>() + (t * bsz + r) * g,
                          g * sizeof(float));
          dx.Finish();
        }
        WeightGrads(w_hh, b_hh, hs, dg, len, bsz, h, g);
      });
}

// Saves [r | z | n | s_n] [L, B, 4H] and h [L, B, H] (time-major).
Var Gru(const Var& xproj, const Var& w_hh, const Var& b_hh) {
  CheckRnn("Gru", xproj, w_hh, b_hh, 3);
  const int64_t bsz = xproj.dim(0), len = xproj.dim(1), g = xproj.dim(2), h = g / 3;
  Tensor act = Tensor::Empty({len, bsz, 4 * h});
  Tensor hs = Tensor::Empty({len, bsz, h});
  Tensor out = Tensor::Empty({bsz, len, h});
  const float* xp = xproj.value().data<float>();
  const float* wp = w_hh.value().data<float>();
  const float* bp = b_hh.defined() ? b_hh.value().data<float>() : nullptr;
  ParallelFor(  // rows independent through time, as in Lstm
      bsz,
      [&](int64_t r0, int64_t r1) {
        std::vector<float> s((r1 - r0) * g);
        for (int64_t t = 0; t < len; ++t) {
          const float* hprev = t > 0 ? hs.data<float>() + ((t - 1) * bsz + r0) * h : nullptr;
          Preactivation(nullptr, 0, bp, hprev, wp, r1 - r0, h, g, s.data());
          for (int64_t r = r0; r < r1; ++r) {
            float* hr = hs.data<float>() + (t * bsz + r) * h;
            GruCell(xp + (r * len + t) * g, s.data() + (r - r0) * g,
                    hprev ? hprev + (r - r0) * h : nullptr,
                    act.data<float>() + (t * bsz + r) * 4 * h, hr, h);
            std::memcpy(out.data<float>() + (r * len + t) * h, hr, h * sizeof(float));
          }
        }
      },
      kRecurrenceGrain);
  return MakeOp(
      "Gru", out,
      b_hh.defined() ? std::vector<Var>{xproj, w_hh, b_hh} : std::vector<Var>{xproj, w_hh},
      [xproj, w_hh, b_hh, act, hs, bsz, len, h, g](const Tensor& dout) {
        Tensor dgh = Tensor::Empty({len, bsz, g});  // d(h w_hh + b_hh) per step
        recurrent_internal::GradBuffer dx(xproj, xproj.shape());
        const Tensor wt = recurrent_internal::Transposed2d(w_hh.value());  // [3H, H]
        const float* dp = dout.data<float>();
        float* dxp = dx.data();
        ParallelFor(
            bsz,
            [&](int64_t r0, int64_t r1) {
              const int64_t rows = r1 - r0;
              std::vector<float> dh_rec(rows * h, 0.0f), dh_direct(rows * h);
              for (int64_t t = len - 1; t >= 0; --t) {
                for (int64_t r = r0; r < r1; ++r) {
                  const int64_t i = r - r0;
                  const float* a = act.data<float>() + (t * bsz + r) * 4 * h;
                  const float* hprev =
                      t > 0 ? hs.data<float>() + ((t - 1) * bsz + r) * h : nullptr;
                  float* dsh = dgh.data<float>() + (t * bsz + r) * g;
                  float* dxr = dxp + (r * len + t) * g;
                  for (int64_t j = 0; j < h; ++j) {
                    const float rr = a[j], z = a[h + j], n = a[2 * h + j], sn = a[3 * h + j];
                    const float dh = dp[(r * len + t) * h + j] + dh_rec[i * h + j];
                    const float hp = hprev ? hprev[j] : 0.0f;
                    const float dnp = dh * (1.0f - z) * (1.0f - n * n);
                    const float drp = dnp * sn * rr * (1.0f - rr);
                    const float dzp = dh * (hp - n) * z * (1.0f - z);
                    dxr[j] = drp;
                    dxr[h + j] = dzp;
                    dxr[2 * h + j] = dnp;
                    dsh[j] = drp;
                    dsh[h + j] = dzp;
                    dsh[2 * h + j] = dnp * rr;
                    dh_direct[i * h + j] = dh * z;
                  }
                }
                // dh_{t-1} = dh_t z + ds_t w_hh^T.
                dh_rec.swap(dh_direct);
                if (t > 0)
                  RowsTimesMatrix(rows, g, h, dgh.data<float>() + (t * bsz + r0) * g,
                                  wt.data<float>(), dh_rec.data());
              }
            },
            kRecurrenceGrain);
        dx.Finish();
        WeightGrads(w_hh, b_hh, hs, dgh, len, bsz, h, g);
      });
}

Tensor LstmStep(const Tensor& xproj_t, const Tensor& w_hh, const Tensor& b_hh, Tensor& h,
                Tensor& c) {
  LRA_CHECK(xproj_t.rank() == 2 && h.rank() == 2 && xproj_t.dim(1) == 4 * h.dim(1) &&
            h.shape() == c.shape() && xproj_t.dim(0) == h.dim(0))
      << "LstmStep: xproj_t " << xproj_t.shape().ToString() << " must be [batch, 4H], h "
      << h.shape().ToString() << " and c " << c.shape().ToString() << " [batch, H]";
  const int64_t bsz = h.dim(0), hd = h.dim(1), g = 4 * hd;
  LRA_CHECK(w_hh.shape() == (Shape{hd, g}) && (!b_hh.defined() || b_hh.shape() == Shape{g}))
      << "LstmStep: w_hh " << w_hh.shape().ToString() << " / b_hh";
  std::vector<float> a(bsz * g), tc(hd);
  Preactivation(xproj_t.data<float>(), g, b_hh.defined() ? b_hh.data<float>() : nullptr,
                h.data<float>(), w_hh.data<float>(), bsz, hd, g, a.data());
  for (int64_t r = 0; r < bsz; ++r)
    LstmCell(a.data() + r * g, c.data<float>() + r * hd, c.data<float>() + r * hd, tc.data(),
             h.data<float>() + r * hd, hd);
  return h.Clone();
}

Tensor GruStep(const Tensor& xproj_t, const Tensor& w_hh, const Tensor& b_hh, Tensor& h) {
  LRA_CHECK(xproj_t.rank() == 2 && h.rank() == 2 && xproj_t.dim(1) == 3 * h.dim(1) &&
            xproj_t.dim(0) == h.dim(0))
      << "GruStep: xproj_t " << xproj_t.shape().ToString() << " must be [batch, 3H], h "
      << h.shape().ToString() << " [batch, H]";
  const int64_t bsz = h.dim(0), hd = h.dim(1), g = 3 * hd;
  LRA_CHECK(w_hh.shape() == (Shape{hd, g}) && (!b_hh.defined() || b_hh.shape() == Shape{g}))
      << "GruStep: w_hh " << w_hh.shape().ToString() << " / b_hh";
  std::vector<float> s(bsz * g), act(4 * hd);
  Preactivation(nullptr, 0, b_hh.defined() ? b_hh.data<float>() : nullptr, h.data<float>(),
                w_hh.data<float>(), bsz, hd, g, s.data());
  for (int64_t r = 0; r < bsz; ++r) {
    float* hr = h.data<float>() + r * hd;
    GruCell(xproj_t.data<float>() + r * g, s.data() + r * g, hr, act.data(), hr, hd);
  }
  return h.Clone();
}

namespace {

// dst[b, t] = src[b, L - 1 - t] over rows of `inner` floats.
void Reverse(const float* src, int64_t bsz, int64_t len, int64_t inner, float* dst) {
  ParallelFor(
      bsz * len,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t b = r / len, t = r % len;
          std::memcpy(dst + r * inner, src + (b * len + len - 1 - t) * inner,
                      inner * sizeof(float));
        }
      },
      inner);
}

}  // namespace

Var ReverseTime(const Var& x) {
  LRA_CHECK(x.rank() >= 2) << "ReverseTime: x " << x.shape().ToString() << " must be [B, L, ...]";
  const int64_t bsz = x.dim(0), len = x.dim(1), inner = x.numel() / std::max<int64_t>(1, bsz * len);
  Tensor y = Tensor::Empty(x.shape());
  Reverse(x.value().data<float>(), bsz, len, inner, y.data<float>());
  return MakeOp("ReverseTime", y, {x}, [x, bsz, len, inner](const Tensor& dy) {
    recurrent_internal::GradBuffer dx(x, x.shape());
    Reverse(dy.data<float>(), bsz, len, inner, dx.data());
    dx.Finish();
  });
}

}  // namespace lra

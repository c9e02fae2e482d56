#include "core/ops/matmul.h"

#include <vector>

#include "core/check.h"
#include "core/kernels/onednn/gemm.h"
#include "core/parallel.h"

namespace lra {

// Sums the rows of a [rows, n] matrix into out[n] (out = or += sum). Fixed blocks of rows summed
// in block order, so the result does not depend on the thread count.
static void ColumnSum(const float* d, int64_t rows, int64_t n, float* out, bool accumulate) {
  constexpr int64_t kBlock = 256;
  const int64_t nb = (rows + kBlock - 1) / kBlock;
  std::vector<float> part(nb * n, 0.0f);
  ParallelFor(
      nb,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          float* p = part.data() + b * n;
          const int64_t r1 = std::min(rows, (b + 1) * kBlock);
          for (int64_t r = b * kBlock; r < r1; ++r)
            // omp simd: -O2 leaves it scalar; column-wise adds give the same bits.
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) p[j] += d[r * n + j];
        }
      },
      kBlock * n);
  for (int64_t j = 0; j < n; ++j) {
    float s = 0.0f;
    for (int64_t b = 0; b < nb; ++b) s += part[b * n + j];
    out[j] = accumulate ? out[j] + s : s;
  }
}

// Forward saves x and w (shared storage, no copies): dx = dy w^T needs w, dw = x^T dy needs x.
// In bf16 mode x is converted twice, by the forward and by the weight gradient. Keeping the
// forward's bf16 copy of x for the backward was measured (BM_TransformerTrain/1024 with
// --matmul_precision=bf16, perf samples): the conversions' share of the step fell from 3.7% to
// 2.6% (about 8 of ~800 CPU-ms per step), but the pool peak rose from 367 to 433 MB (S4D at 1K:
// 153 to 165 MB), two bytes per element of every Linear's input; not kept.
void LinearBackwardXW(const Var& x, const Var& w, const float* dz, int64_t rows) {
  const int64_t k = w.dim(0), n = w.dim(1);
  // dz's bf16 copy, when both products read it in bf16 (otherwise each converts what it needs),
  // in the thread's scratch: a pool tensor instead raised S4D's pool peak at 1K from 153 to
  // 157 MB, and about half of its BM_S4dTrain/1024 runs then took ~4,000 page faults once in
  // the timed steps (none of 12 with the scratch).
  const uint16_t* dz_bf16 = nullptr;
  if (x.requires_grad() && w.requires_grad() && onednn::GemmRunsInBf16(1, rows, k, false, false) &&
      onednn::GemmRunsInBf16(1, k, n, true, false))
    dz_bf16 = onednn::ConvertToBf16Scratch(dz, rows * n);
  if (x.requires_grad()) {
    bool ow;
    Tensor& dx = x.GradForWrite(&ow);
    // dx[rows, K] = dz[rows, N] * w^T; w stored [K, N] is w^T's [N, K] transposed layout.
    onednn::Gemm(1, rows, k, n, false, true, {dz, dz_bf16}, w.value().data<float>(),
                 nullptr, dx.data<float>(), !ow);
  }
  if (w.requires_grad()) {
    bool ow;
    Tensor& dw = w.GradForWrite(&ow);
    // dw[K, N] = x^T[K, rows] * dz[rows, N]; x stored [rows, K].
    onednn::Gemm(1, k, n, rows, true, false, x.value().data<float>(), {dz, dz_bf16},
                 nullptr, dw.data<float>(), !ow);
  }
}

Var Linear(const Var& x, const Var& w, const Var& b) {
  LRA_CHECK(w.rank() == 2 && x.rank() >= 1 && x.dim(-1) == w.dim(0))
      << "Linear: x " << x.shape().ToString() << " w " << w.shape().ToString();
  const int64_t k = w.dim(0), n = w.dim(1);
  const int64_t rows = x.numel() / (k ? k : 1);
  const bool has_bias = b.defined();
  if (has_bias) LRA_CHECK(b.rank() == 1 && b.dim(0) == n) << "Linear: bias " << b.shape().ToString();
  std::vector<int64_t> out_dims = x.shape().ToVector();
  out_dims.back() = n;
  Tensor y = Tensor::Empty(Shape(out_dims));
  onednn::Gemm(1, rows, n, k, false, false, x.value().data<float>(), w.value().data<float>(),
               has_bias ? b.value().data<float>() : nullptr, y.data<float>(), false);
  std::vector<Var> inputs = {x, w};
  if (has_bias) inputs.push_back(b);
  return MakeOp("Linear", y, inputs, [x, w, b, rows, n, has_bias](const Tensor& dy) {
    const float* dyp = dy.data<float>();
    LinearBackwardXW(x, w, dyp, rows);
    if (has_bias && b.requires_grad()) {
      bool ow;
      Tensor& db = b.GradForWrite(&ow);
      ColumnSum(dyp, rows, n, db.data<float>(), !ow);
    }
  });
}

// Forward saves a and b (shared): da = dc op(b)^T, db = op(a)^T dc, expressed with flags.
Var MatMul(const Var& a, const Var& b, bool trans_a, bool trans_b) {
  LRA_CHECK(a.rank() >= 2 && b.rank() >= 2) << "MatMul needs rank >= 2";
  const int64_t m = trans_a ? a.dim(-1) : a.dim(-2);
  const int64_t k = trans_a ? a.dim(-2) : a.dim(-1);
  const int64_t kb = trans_b ? b.dim(-1) : b.dim(-2);
  const int64_t n = trans_b ? b.dim(-2) : b.dim(-1);
  LRA_CHECK(k == kb) << "MatMul: " << a.shape().ToString() << (trans_a ? "^T" : "") << " x "
                     << b.shape().ToString() << (trans_b ? "^T" : "");
  const int64_t batch = a.shape().Rows(a.rank() - 2);
  const bool shared_b = b.rank() == 2 && a.rank() > 2;
  if (!shared_b) {
    LRA_CHECK(a.rank() == b.rank() && b.shape().Rows(b.rank() - 2) == batch)
        << "MatMul batch dims: " << a.shape().ToString() << " vs " << b.shape().ToString();
    for (int i = 0; i < a.rank() - 2; ++i)
      LRA_CHECK(a.dim(i) == b.dim(i)) << "MatMul batch dims: " << a.shape().ToString() << " vs "
                                      << b.shape().ToString();
  }
  std::vector<int64_t> out_dims = a.shape().ToVector();
  out_dims[out_dims.size() - 2] = m;
  out_dims.back() = n;
  Tensor c = Tensor::Empty(Shape(out_dims));
  const float* ap = a.value().data<float>();
  const float* bp = b.value().data<float>();
  if (shared_b && !trans_a) {
    // One tall GEMM: [batch * M, K] x [K, N].
    onednn::Gemm(1, batch * m, n, k, false, trans_b, ap, bp, nullptr, c.data<float>(), false);
  } else if (shared_b) {
    for (int64_t i = 0; i < batch; ++i)
      onednn::Gemm(1, m, n, k, true, trans_b, ap + i * m * k, bp, nullptr,
                   c.data<float>() + i * m * n, false);
  } else {
    onednn::Gemm(batch, m, n, k, trans_a, trans_b, ap, bp, nullptr, c.data<float>(), false);
  }
  return MakeOp("MatMul", c, {a, b},
                [a, b, trans_a, trans_b, m, n, k, batch, shared_b](const Tensor& dc) {
    const float* dcp = dc.data<float>();
    const float* ap = a.value().data<float>();
    const float* bp = b.value().data<float>();
    if (a.requires_grad()) {
      bool ow;
      Tensor& da = a.GradForWrite(&ow);
      float* dap = da.data<float>();
      // da = dc op(b)^T if !trans_a ([M,K]); da = op(b) dc^T if trans_a ([K,M]).
      if (shared_b) {
        if (!trans_a) {
          onednn::Gemm(1, batch * m, k, n, false, !trans_b, dcp, bp, nullptr, dap, !ow);
        } else {
          for (int64_t i = 0; i < batch; ++i)
            onednn::Gemm(1, k, m, n, trans_b, true, bp, dcp + i * m * n, nullptr,
                         dap + i * m * k, !ow);
        }
      } else if (!trans_a) {
        onednn::Gemm(batch, m, k, n, false, !trans_b, dcp, bp, nullptr, dap, !ow);
      } else {
        onednn::Gemm(batch, k, m, n, trans_b, true, bp, dcp, nullptr, dap, !ow);
      }
    }
    if (b.requires_grad()) {
      bool ow;
      Tensor& db = b.GradForWrite(&ow);
      float* dbp = db.data<float>();
      // db = op(a)^T dc if !trans_b ([K,N]); db = dc^T op(a) if trans_b ([N,K]).
      if (shared_b) {
        if (!trans_a && !trans_b) {
          onednn::Gemm(1, k, n, batch * m, true, false, ap, dcp, nullptr, dbp, !ow);
        } else if (!trans_a && trans_b) {
          onednn::Gemm(1, n, k, batch * m, true, false, dcp, ap, nullptr, dbp, !ow);
        } else {
          for (int64_t i = 0; i < batch; ++i) {
            const bool acc = !ow || i > 0;
            if (!trans_b) {
              onednn::Gemm(1, k, n, m, false, false, ap + i * m * k, dcp + i * m * n, nullptr,
                           dbp, acc);
            } else {
              onednn::Gemm(1, n, k, m, true, true, dcp + i * m * n, ap + i * m * k, nullptr,
                           dbp, acc);
            }
          }
        }
      } else if (!trans_b) {
        onednn::Gemm(batch, k, n, m, !trans_a, false, ap, dcp, nullptr, dbp, !ow);
      } else {
        onednn::Gemm(batch, n, k, m, true, trans_a, dcp, ap, nullptr, dbp, !ow);
      }
    }
  });
}

}  // namespace lra

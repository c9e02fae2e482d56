#include "core/ops/activation.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/kernels/onednn/gemm.h"
#include "core/kernels/vmath/vmath.h"
#include "core/ops/matmul.h"
#include "core/ops/norm.h"
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

// Forward saves y, w, the mask and the Linear's output z = [a | b]. Backward, with dr = dL/dr:
//   dz = GluBackward(a, b, dr [* mask]) by blocks of 256 rows, each block's column sums of dz (db's
//        partials) taken while the block is in cache: Linear's ColumnSum (core/ops/matmul.cc)
//        adds the same rows in the same 256-row blocks, then the blocks in order;
//   dy = dz w^T and dw = y^T dz: Linear's two GEMMs;
//   dx = dr: Add's gradient, shared instead of copied when x has no gradient yet and dr's buffer
//        has no other owner (the tape frees the output's gradient after this backward, so
//        nothing else reads it).
Var LinearGluResidual(const Var& x, const Var& y, const Var& w, const Var& b,
                      const Tensor& mask, Tensor* next_stats, float next_eps) {
  LRA_CHECK(w.rank() == 2 && y.rank() >= 1 && y.dim(-1) == w.dim(0) && w.dim(1) % 2 == 0)
      << "LinearGluResidual: y " << y.shape().ToString() << " w " << w.shape().ToString();
  const int64_t k = w.dim(0), n = w.dim(1), h = n / 2;
  const int64_t rows = y.numel() / std::max<int64_t>(1, k);
  LRA_CHECK(b.defined() && b.rank() == 1 && b.dim(0) == n)
      << "LinearGluResidual: bias " << (b.defined() ? b.shape().ToString() : "missing")
      << ", want [" << n << "]";
  std::vector<int64_t> xd = y.shape().ToVector();
  xd.back() = h;
  LRA_CHECK(x.shape() == Shape(xd)) << "LinearGluResidual: x " << x.shape().ToString()
                                    << ", want " << Shape(xd).ToString();
  // The tied mask's row for row i of [B*L, H] is mask[i / L].
  const bool masked = mask.defined();
  const int64_t len = masked ? x.dim(1) : 1;
  if (masked)
    LRA_CHECK(x.rank() == 3 && mask.shape() == Shape({x.dim(0), h}))
        << "LinearGluResidual: mask " << mask.shape().ToString() << " for x "
        << x.shape().ToString() << ", want [B, H] for x [B, L, H]";
  std::vector<int64_t> zd = xd;
  zd.back() = n;
  Tensor z = Tensor::Empty(Shape(zd));
  onednn::Gemm(1, rows, n, k, false, false, y.value().data<float>(), w.value().data<float>(),
               b.value().data<float>(), z.data<float>(), false);
  Tensor r = Tensor::Empty(x.shape());
  if (next_stats != nullptr) *next_stats = Tensor::Empty({2, rows});
  {
    const float* zp = z.data<float>();
    const float* xp = x.value().data<float>();
    float* rp = r.data<float>();
    const float* mp = masked ? mask.data<float>() : nullptr;
    float* mean = next_stats != nullptr ? next_stats->data<float>() : nullptr;
    // next_stats of rows [from, to), 4 rows at a time while they are in cache.
    auto stats = [&](int64_t from, int64_t to) {
      if (mean)
        LayerNormRowStats(rp + from * h, to - from, h, next_eps, mean + from, mean + rows + from);
    };
    ParallelFor(
        rows, [&](int64_t r0, int64_t r1) {
          std::vector<float> t(masked ? h : 0);
          for (int64_t i = r0; i < r1; ++i) {
            if ((i - r0) % 4 == 0 && i > r0) stats(i - 4, i);
            if (!masked) {
              vmath::GluAdd(zp + i * n, zp + i * n + h, xp + i * h, rp + i * h, h);
              continue;
            }
            // Glu, the dropout's product and the add, each rounded on its own (own loops: no
            // contraction into an FMA), as the unfused ops store each in a tensor.
            const float* m = mp + (i / len) * h;
            vmath::Glu(zp + i * n, zp + i * n + h, t.data(), h);
#pragma omp simd
            for (int64_t j = 0; j < h; ++j) t[j] = t[j] * m[j];
#pragma omp simd
            for (int64_t j = 0; j < h; ++j) rp[i * h + j] = xp[i * h + j] + t[j];
          }
          if (r1 > r0) stats(r0 + (r1 - r0 - 1) / 4 * 4, r1);
        },
        8 * h);
  }
  return MakeOp("LinearGluResidual", r, {x, y, w, b},
                [x, y, w, b, z, mask, masked, len, rows, n, h](const Tensor& dr) {
    const float* drp = dr.data<float>();
    const bool need_dz = y.requires_grad() || w.requires_grad() || b.requires_grad();
    if (need_dz) {
      Tensor dz = Tensor::Empty(z.shape());
      const float* zp = z.data<float>();
      float* dzp = dz.data<float>();
      constexpr int64_t kBlock = 256;  // Linear's ColumnSum blocks
      const int64_t nb = (rows + kBlock - 1) / kBlock;
      const bool bias = b.requires_grad();
      std::vector<float> part(bias ? nb * n : 0, 0.0f);
      ParallelFor(
          nb, [&](int64_t b0, int64_t b1) {
            std::vector<float> t(masked ? h : 0);
            for (int64_t blk = b0; blk < b1; ++blk) {
              const int64_t i1 = std::min(rows, (blk + 1) * kBlock);
              for (int64_t i = blk * kBlock; i < i1; ++i) {
                const float* g = drp + i * h;
                if (masked) {  // the dropout's gradient dr * mask, stored first
                  const float* m = mask.data<float>() + (i / len) * h;
#pragma omp simd
                  for (int64_t j = 0; j < h; ++j) t[j] = g[j] * m[j];
                  g = t.data();
                }
                vmath::GluBackward(zp + i * n, zp + i * n + h, g, dzp + i * n, dzp + i * n + h,
                                   false, h);
              }
              if (!bias) continue;
              float* p = part.data() + blk * n;
              for (int64_t i = blk * kBlock; i < i1; ++i)
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) p[j] += dzp[i * n + j];
            }
          },
          kBlock * n);
      LinearBackwardXW(y, w, dzp, rows);
      if (bias) {
        bool ow;
        Tensor& db = b.GradForWrite(&ow);
        float* dbp = db.data<float>();
        for (int64_t j = 0; j < n; ++j) {
          float s = 0.0f;
          for (int64_t blk = 0; blk < nb; ++blk) s += part[blk * n + j];
          dbp[j] = ow ? s : dbp[j] + s;
        }
      }
    }
    if (x.requires_grad()) {
      // Shared only when this output's gradient is the sole owner of its buffer (not a caller's
      // seed, which Backward shares with the root, nor a view another gradient holds).
      if (!x.has_grad() && dr.use_count() == 1) {
        x.node()->grad = dr;
      } else {
        AccumulateGrad(x, dr);
      }
    }
  });
}

}  // namespace lra

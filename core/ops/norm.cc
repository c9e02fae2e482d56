#include "core/ops/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace lra {
namespace {

// out[j] = sum over rows of f(r, j), over fixed row blocks combined in block order (deterministic
// for any thread count). Accumulates in double.
template <typename F>
std::vector<double> ColumnReduce(int64_t rows, int64_t h, F f) {
  constexpr int64_t kBlock = 128;
  const int64_t nb = (rows + kBlock - 1) / kBlock;
  std::vector<double> part(nb * h, 0.0);
  ParallelFor(
      nb, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          double* p = part.data() + b * h;
          for (int64_t r = b * kBlock; r < std::min(rows, (b + 1) * kBlock); ++r)
            for (int64_t j = 0; j < h; ++j) p[j] += f(r, j);
        }
      },
      kBlock * h);
  std::vector<double> out(h, 0.0);
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t j = 0; j < h; ++j) out[j] += part[b * h + j];
  return out;
}

// sum_j f(j) over [0, h) in 16 lanes (lane t adds f(t), f(t + 16), ...), then the lanes
// pairwise in a fixed tree: the loop vectorizes (one running sum is a chain of 4-cycle adds), and
// the order depends on h only, so results are deterministic for any thread count.
// LaneSums<R> takes R such sums side by side (out[r] = sum_j f(r, j), each in LaneSum's order, so
// bitwise LaneSum's): R independent chains hide the add latency that one row's chain waits on.
template <int R, typename F>
inline void LaneSums(int64_t h, F f, float* out) {
  constexpr int kLanes = 16;
  float acc[R][kLanes] = {};
  int64_t j0 = 0;
  // Unrolled over r so that each row's lanes stay in a register (a loop over r keeps them in
  // memory, and every add then waits on a store-to-load forward).
  for (; j0 + kLanes <= h; j0 += kLanes) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma omp simd
      for (int t = 0; t < kLanes; ++t) acc[r][t] += f(r, j0 + t);
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; j0 + t < h; ++t) acc[r][t] += f(r, j0 + t);
    for (int w = kLanes / 2; w >= 1; w /= 2)
      for (int t = 0; t < w; ++t) acc[r][t] += acc[r][t + w];
    out[r] = acc[r][0];
  }
}

template <typename F>
inline float LaneSum(int64_t h, F f) {
  float out;
  LaneSums<1>(h, [&](int, int64_t j) { return f(j); }, &out);
  return out;
}

void AccumulateVector(const Var& v, const std::vector<double>& g) {
  bool ow;
  Tensor& t = v.GradForWrite(&ow);
  float* p = t.data<float>();
  for (size_t j = 0; j < g.size(); ++j) p[j] = ow ? static_cast<float>(g[j]) : p[j] + g[j];
}

// Statistics of R consecutive rows of x (stride h): mean (0 without centering) and
// 1 / sqrt(var + eps), two-pass (no cancellation), the rows' sums side by side (LaneSums).
// NormRows, LayerNormStats and LayerNormRowStats share it, so their statistics are bitwise equal.
template <int R>
inline void RowStats(const float* x, int64_t h, float eps, bool center, float* mean_out,
                     float* rstd_out) {
  float mean[R] = {}, var[R];
  if (center) {
    LaneSums<R>(h, [&](int r, int64_t j) { return x[r * h + j]; }, mean);
    for (int r = 0; r < R; ++r) mean[r] = mean[r] / h;
  }
  LaneSums<R>(
      h,
      [&](int r, int64_t j) {
        const float d = x[r * h + j] - mean[r];
        return d * d;
      },
      var);
  for (int r = 0; r < R; ++r) {
    mean_out[r] = mean[r];
    rstd_out[r] = 1.0f / std::sqrt(var[r] / h + eps);
  }
}

// Statistics of `rows` consecutive rows, 4 at a time.
inline void RowStatsMany(const float* x, int64_t rows, int64_t h, float eps, bool center,
                         float* mean, float* rstd) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) RowStats<4>(x + r * h, h, eps, center, mean + r, rstd + r);
  for (; r < rows; ++r) RowStats<1>(x + r * h, h, eps, center, mean + r, rstd + r);
}

// The backward of NormRows given dy [rows, h]: dx (= or += into x's gradient), and the gain and
// bias gradients (bias may be undefined), from the saved per-row mean[r * stride] and
// rstd[r * stride].
void NormRowsBackward(const Var& x, const Var& gain, const Var& bias, const float* mean_p,
                      const float* rstd_p, int64_t stride, int64_t rows, int64_t h, bool center,
                      const float* dp);

// LayerNorm (center: subtract the row mean) and RmsNorm (no centering: the statistics are
// taken around 0, and the mean terms of the gradient vanish). bias may be undefined. Saves x,
// gain and per-row mean and rstd ([rows, 2] floats).
Var NormRows(const char* name, const Var& x, const Var& gain, const Var& bias, float eps,
             bool center) {
  const int64_t h = x.dim(-1), rows = h ? x.numel() / h : 0;
  LRA_CHECK(gain.numel() == h && (!bias.defined() || bias.numel() == h))
      << name << ": x " << x.shape().ToString() << " gain " << gain.shape().ToString();
  Tensor y = Tensor::Empty(x.shape());
  Tensor stats = Tensor::Empty({rows, 2});  // mean, rstd
  const float* xp = x.value().data<float>();
  const float* gp = gain.value().data<float>();
  const float* bp = bias.defined() ? bias.value().data<float>() : nullptr;
  float* yp = y.data<float>();
  float* sp = stats.data<float>();
  ParallelFor(
      rows, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = xp + r * h;
          float mean, rstd;
          RowStats<1>(xr, h, eps, center, &mean, &rstd);
          sp[2 * r] = mean;
          sp[2 * r + 1] = rstd;
          if (bp) {
#pragma omp simd
            for (int64_t j = 0; j < h; ++j) yp[r * h + j] = (xr[j] - mean) * rstd * gp[j] + bp[j];
          } else {
#pragma omp simd
            for (int64_t j = 0; j < h; ++j) yp[r * h + j] = (xr[j] - mean) * rstd * gp[j];
          }
        }
      },
      6 * h);
  std::vector<Var> inputs = {x, gain};
  if (bias.defined()) inputs.push_back(bias);
  return MakeOp(name, y, inputs, [x, gain, bias, stats, rows, h, center](const Tensor& dy) {
    const float* sp = stats.data<float>();
    NormRowsBackward(x, gain, bias, sp, sp + 1, 2, rows, h, center, dy.data<float>());
  });
}

void NormRowsBackward(const Var& x, const Var& gain, const Var& bias, const float* mean_p,
                      const float* rstd_p, int64_t stride, int64_t rows, int64_t h, bool center,
                      const float* dp) {
  const float* xp = x.value().data<float>();
  const float* gp = gain.value().data<float>();
  const bool dx = x.requires_grad(), dg = gain.requires_grad(),
             db = bias.defined() && bias.requires_grad();
  bool ow = false;
  float* gxp = dx ? x.GradForWrite(&ow).data<float>() : nullptr;
  // One pass over dy and x: each row's dx, and the gain and bias column sums in ColumnReduce's
  // fixed 128-row blocks (the same per-block order and the same final sum over blocks, so
  // they are bitwise ColumnReduce's).
  constexpr int64_t kBlock = 128;
  const int64_t nb = (rows + kBlock - 1) / kBlock;
  // Per calling thread, grown to the largest size seen and reused: vectors made per call got
  // fresh heap pages from the system on every step (16 page faults per BM_S4dTrain/1024 step,
  // all in this zero fill).
  thread_local std::vector<double> partials;
  const int64_t ng = dg ? nb * h : 0, nbias = db ? nb * h : 0;
  if (partials.size() < static_cast<size_t>(ng + nbias)) partials.resize(ng + nbias);
  std::fill(partials.begin(), partials.begin() + ng + nbias, 0.0);
  double* const pg = partials.data();
  double* const pb = pg + ng;
  ParallelFor(
      nb, [&](int64_t b0, int64_t b1) {
        for (int64_t blk = b0; blk < b1; ++blk)
          for (int64_t r = blk * kBlock; r < std::min(rows, (blk + 1) * kBlock); ++r) {
            const float mean = mean_p[r * stride], rstd = rstd_p[r * stride];
            const float* xr = xp + r * h;
            const float* dr = dp + r * h;
            if (dx) {
              float* gr = gxp + r * h;
              // mean(dxhat) (centering only), mean(dxhat * xhat)
              const float m1 =
                  center ? LaneSum(h, [&](int64_t j) { return dr[j] * gp[j]; }) / h : 0.0f;
              const float m2 = LaneSum(h, [&](int64_t j) {
                                 return dr[j] * gp[j] * ((xr[j] - mean) * rstd);
                               }) / h;
              // omp simd: -O2's cost model leaves these loops scalar.
              if (ow) {
#pragma omp simd
                for (int64_t j = 0; j < h; ++j)
                  gr[j] = rstd * (dr[j] * gp[j] - m1 - ((xr[j] - mean) * rstd) * m2);
              } else {
#pragma omp simd
                for (int64_t j = 0; j < h; ++j)
                  gr[j] += rstd * (dr[j] * gp[j] - m1 - ((xr[j] - mean) * rstd) * m2);
              }
            }
            if (dg) {
              double* p = pg + blk * h;
#pragma omp simd
              for (int64_t j = 0; j < h; ++j) p[j] += dr[j] * (xr[j] - mean) * rstd;
            }
            if (db) {
              double* p = pb + blk * h;
#pragma omp simd
              for (int64_t j = 0; j < h; ++j) p[j] += static_cast<double>(dr[j]);
            }
          }
      },
      kBlock * h * 8);
  auto finish = [&](const Var& v, const double* part) {
    std::vector<double> out(h, 0.0);
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t j = 0; j < h; ++j) out[j] += part[b * h + j];
    AccumulateVector(v, out);
  };
  if (dg) finish(gain, pg);
  if (db) finish(bias, pb);
}

}  // namespace

Tensor LayerNormStats(const Tensor& x, float eps) {
  const int64_t h = x.dim(-1), rows = h ? x.numel() / h : 0;
  Tensor stats = Tensor::Empty({2, rows});
  const float* xp = x.data<float>();
  float* mp = stats.data<float>();
  float* rp = mp + rows;
  ParallelFor(
      rows, [&](int64_t r0, int64_t r1) {
        RowStatsMany(xp + r0 * h, r1 - r0, h, eps, /*center=*/true, mp + r0, rp + r0);
      },
      4 * h);
  return stats;
}

void LayerNormRowStats(const float* x, int64_t rows, int64_t h, float eps, float* mean,
                       float* rstd) {
  RowStatsMany(x, rows, h, eps, /*center=*/true, mean, rstd);
}

void LayerNormBackward(const Var& x, const Var& gain, const Var& bias, const Tensor& stats,
                       const float* dy) {
  const int64_t h = x.dim(-1), rows = h ? x.numel() / h : 0;
  LRA_CHECK(gain.numel() == h && bias.numel() == h && stats.shape() == Shape({2, rows}))
      << "LayerNormBackward: x " << x.shape().ToString() << " gain "
      << gain.shape().ToString() << " stats " << stats.shape().ToString();
  const float* mp = stats.data<float>();
  NormRowsBackward(x, gain, bias, mp, mp + rows, 1, rows, h, /*center=*/true, dy);
}

Var LayerNorm(const Var& x, const Var& gain, const Var& bias, float eps) {
  LRA_CHECK(bias.defined()) << "LayerNorm: bias is required";
  return NormRows("LayerNorm", x, gain, bias, eps, /*center=*/true);
}

Var RmsNorm(const Var& x, const Var& gain, float eps) {
  return NormRows("RmsNorm", x, gain, Var(), eps, /*center=*/false);
}

BatchNormState BatchNormState::Create(int64_t channels) {
  BatchNormState s;
  s.running_mean = Tensor::Zeros({channels});
  s.running_var = Tensor::Full({channels}, 1.0f);
  return s;
}

// Saves x, gain and the per-channel mean and rstd used ([H] each).
Var BatchNorm(const Var& x, const Var& gain, const Var& bias, BatchNormState* state,
              bool training) {
  const int64_t h = x.dim(-1), n = h ? x.numel() / h : 0;
  LRA_CHECK(gain.numel() == h && bias.numel() == h && state->running_mean.numel() == h)
      << "BatchNorm: x " << x.shape().ToString() << " gain " << gain.shape().ToString();
  const float* xp = x.value().data<float>();
  Tensor mean = Tensor::Empty({h}), rstd = Tensor::Empty({h});
  float* mp = mean.data<float>();
  float* rp = rstd.data<float>();
  if (training) {
    LRA_CHECK(n > 1) << "BatchNorm training needs more than one row per channel";
    const std::vector<double> s1 = ColumnReduce(n, h, [&](int64_t r, int64_t j) {
      return static_cast<double>(xp[r * h + j]);
    });
    for (int64_t j = 0; j < h; ++j) mp[j] = static_cast<float>(s1[j] / n);
    const std::vector<double> s2 = ColumnReduce(n, h, [&](int64_t r, int64_t j) {
      const double d = xp[r * h + j] - mp[j];
      return d * d;
    });
    float* rm = state->running_mean.data<float>();
    float* rv = state->running_var.data<float>();
    for (int64_t j = 0; j < h; ++j) {
      const double var = s2[j] / n;
      rp[j] = static_cast<float>(1.0 / std::sqrt(var + state->eps));
      rm[j] = (1 - state->momentum) * rm[j] + state->momentum * mp[j];
      rv[j] = (1 - state->momentum) * rv[j] + state->momentum * static_cast<float>(s2[j] / (n - 1));
    }
  } else {
    const float* rm = state->running_mean.data<float>();
    const float* rv = state->running_var.data<float>();
    for (int64_t j = 0; j < h; ++j) {
      mp[j] = rm[j];
      rp[j] = 1.0f / std::sqrt(rv[j] + state->eps);
    }
  }
  Tensor y = Tensor::Empty(x.shape());
  float* yp = y.data<float>();
  const float* gp = gain.value().data<float>();
  const float* bp = bias.value().data<float>();
  ParallelFor(
      n, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t j = 0; j < h; ++j)
            yp[r * h + j] = (xp[r * h + j] - mp[j]) * rp[j] * gp[j] + bp[j];
      },
      2 * h);
  return MakeOp("BatchNorm", y, {x, gain, bias},
                [x, gain, bias, mean, rstd, n, h, training](const Tensor& dy) {
    const float* xp = x.value().data<float>();
    const float* gp = gain.value().data<float>();
    const float* mp = mean.data<float>();
    const float* rp = rstd.data<float>();
    const float* dp = dy.data<float>();
    const std::vector<double> sdy = ColumnReduce(n, h, [&](int64_t r, int64_t j) {
      return static_cast<double>(dp[r * h + j]);
    });
    const std::vector<double> sdyx = ColumnReduce(n, h, [&](int64_t r, int64_t j) {
      return static_cast<double>(dp[r * h + j]) * (xp[r * h + j] - mp[j]) * rp[j];
    });
    if (x.requires_grad()) {
      bool ow;
      Tensor& gx = x.GradForWrite(&ow);
      float* gxp = gx.data<float>();
      // Train: dx = g rstd (dy - mean(dy) - xhat mean(dy xhat)); eval: dx = g rstd dy.
      std::vector<float> a(h), c1(h), c2(h);
      for (int64_t j = 0; j < h; ++j) {
        a[j] = gp[j] * rp[j];
        c1[j] = training ? static_cast<float>(sdy[j] / n) : 0.0f;
        c2[j] = training ? static_cast<float>(sdyx[j] / n) : 0.0f;
      }
      ParallelFor(
          n, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t j = 0; j < h; ++j) {
                const float xhat = (xp[r * h + j] - mp[j]) * rp[j];
                const float v = a[j] * (dp[r * h + j] - c1[j] - xhat * c2[j]);
                gxp[r * h + j] = ow ? v : gxp[r * h + j] + v;
              }
          },
          4 * h);
    }
    if (gain.requires_grad()) AccumulateVector(gain, sdyx);
    if (bias.requires_grad()) AccumulateVector(bias, sdy);
  });
}

}  // namespace lra

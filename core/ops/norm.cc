#include "core/ops/norm.h"

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

void AccumulateVector(const Var& v, const std::vector<double>& g) {
  bool ow;
  Tensor& t = v.GradForWrite(&ow);
  float* p = t.data<float>();
  for (size_t j = 0; j < g.size(); ++j) p[j] = ow ? static_cast<float>(g[j]) : p[j] + g[j];
}

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
          float mean = 0.0f;
          if (center) {
            for (int64_t j = 0; j < h; ++j) mean += xr[j];
            mean /= h;
          }
          float var = 0.0f;  // two-pass: no cancellation
          for (int64_t j = 0; j < h; ++j) var += (xr[j] - mean) * (xr[j] - mean);
          var /= h;
          const float rstd = 1.0f / std::sqrt(var + eps);
          sp[2 * r] = mean;
          sp[2 * r + 1] = rstd;
          for (int64_t j = 0; j < h; ++j)
            yp[r * h + j] = (xr[j] - mean) * rstd * gp[j] + (bp ? bp[j] : 0.0f);
        }
      },
      6 * h);
  std::vector<Var> inputs = {x, gain};
  if (bias.defined()) inputs.push_back(bias);
  return MakeOp(name, y, inputs, [x, gain, bias, stats, rows, h, center](const Tensor& dy) {
    const float* xp = x.value().data<float>();
    const float* gp = gain.value().data<float>();
    const float* sp = stats.data<float>();
    const float* dp = dy.data<float>();
    if (x.requires_grad()) {
      bool ow;
      Tensor& gx = x.GradForWrite(&ow);
      float* gxp = gx.data<float>();
      ParallelFor(
          rows, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
              const float mean = sp[2 * r], rstd = sp[2 * r + 1];
              float m1 = 0.0f, m2 = 0.0f;  // mean(dxhat) (centering only), mean(dxhat * xhat)
              for (int64_t j = 0; j < h; ++j) {
                const float xhat = (xp[r * h + j] - mean) * rstd;
                const float dxhat = dp[r * h + j] * gp[j];
                m1 += dxhat;
                m2 += dxhat * xhat;
              }
              m1 = center ? m1 / h : 0.0f;
              m2 /= h;
              for (int64_t j = 0; j < h; ++j) {
                const float xhat = (xp[r * h + j] - mean) * rstd;
                const float v = rstd * (dp[r * h + j] * gp[j] - m1 - xhat * m2);
                gxp[r * h + j] = ow ? v : gxp[r * h + j] + v;
              }
            }
          },
          8 * h);
    }
    if (gain.requires_grad())
      AccumulateVector(gain, ColumnReduce(rows, h, [&](int64_t r, int64_t j) {
                         return dp[r * h + j] * (xp[r * h + j] - sp[2 * r]) * sp[2 * r + 1];
                       }));
    if (bias.defined() && bias.requires_grad())
      AccumulateVector(bias, ColumnReduce(rows, h, [&](int64_t r, int64_t j) {
                         return static_cast<double>(dp[r * h + j]);
                       }));
  });
}

}  // namespace

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

#include "models/common/nn.h"

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>

#include "core/check.h"
#include "core/kernels/attention.h"
#include "core/kernels/fft_conv.h"
#include "core/ops/matmul.h"
#include "core/parallel.h"

namespace lra::models::nn {
namespace {


// Contributes g to v's gradient: overwrite on first use, else add.
void Accum(const Var& v, const Tensor& g) {
  Var w = v;
  AccumulateGrad(w, g);
}

template <typename F>
void ForEach(int64_t n, F&& f, int64_t cost = 1) {
  ParallelFor(
      n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) f(i);
      },
      cost);
}

int64_t LastDim(const Var& x) { return x.dim(-1); }

// SplitMix64: a counter-based hash, so a dropout mask depends only on (seed, index) and is
// reproducible regardless of the thread split.
inline uint64_t Mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

// core's oneDNN GEMM (same [in, out] weight layout); kept behind this name so every model
// shares one Linear and nn_test checks it with the other layers.
Var Linear(const Var& x, const Var& w, const Var& b) { return ::lra::Linear(x, w, b); }

namespace {
// Shared shape of the binary elementwise ops: y = f(a, b); da = dy * dfa, db = dy * dfb.
enum class BinOp { kAdd, kSub, kMul };
Var Binary(const Var& a, const Var& b, BinOp op, const char* name) {
  LRA_CHECK(a.shape() == b.shape()) << name << ": " << a.shape().ToString() << " vs "
                                    << b.shape().ToString();
  const int64_t n = a.numel();
  Tensor y = Tensor::Empty(a.shape());
  const float* pa = a.value().data<float>();
  const float* pb = b.value().data<float>();
  float* py = y.data<float>();
  ForEach(n, [&](int64_t i) {
    py[i] = op == BinOp::kAdd ? pa[i] + pb[i] : op == BinOp::kSub ? pa[i] - pb[i] : pa[i] * pb[i];
  });
  return MakeOp(name, std::move(y), {a, b}, [a, b, op, n](const Tensor& dy) {
    const float* g = dy.data<float>();
    if (a.requires_grad()) {
      if (op == BinOp::kMul) {
        Tensor da = Tensor::Empty(a.shape());
        float* d = da.data<float>();
        const float* pb = b.value().data<float>();
        ForEach(n, [&](int64_t i) { d[i] = g[i] * pb[i]; });
        Accum(a, da);
      } else {
        Accum(a, dy);
      }
    }
    if (b.requires_grad()) {
      Tensor db = Tensor::Empty(b.shape());
      float* d = db.data<float>();
      const float* pa = a.value().data<float>();
      ForEach(n, [&](int64_t i) {
        d[i] = op == BinOp::kAdd ? g[i] : op == BinOp::kSub ? -g[i] : g[i] * pa[i];
      });
      Accum(b, db);
    }
  });
}
}  // namespace

Var Add(const Var& a, const Var& b) { return Binary(a, b, BinOp::kAdd, "Add"); }
Var Sub(const Var& a, const Var& b) { return Binary(a, b, BinOp::kSub, "Sub"); }
Var Mul(const Var& a, const Var& b) { return Binary(a, b, BinOp::kMul, "Mul"); }

Var Scale(const Var& x, float s) {
  const int64_t n = x.numel();
  Tensor y = Tensor::Empty(x.shape());
  const float* px = x.value().data<float>();
  float* py = y.data<float>();
  ForEach(n, [&](int64_t i) { py[i] = s * px[i]; });
  return MakeOp("Scale", std::move(y), {x}, [x, s, n](const Tensor& dy) {
    Tensor dx = Tensor::Empty(x.shape());
    const float* g = dy.data<float>();
    float* d = dx.data<float>();
    ForEach(n, [&](int64_t i) { d[i] = s * g[i]; });
    Accum(x, dx);
  });
}

namespace {
// Elementwise kernels on chunks through Eigen arrays: Eigen vectorizes erf, exp and tanh
// (packet math), where the scalar libm calls took ~25% of an S4D training step (perf).
using ArrF = Eigen::Array<float, Eigen::Dynamic, 1>;
using MapA = Eigen::Map<ArrF>;
using CMapA = Eigen::Map<const ArrF>;
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

void GeluChunk(const float* x, float* y, int64_t n, bool t) {
  CMapA X(x, n);
  MapA Y(y, n);
  if (t) {
    Y = 0.5f * X * (1.0f + (kSqrt2OverPi * (X + 0.044715f * X.cube())).tanh());
  } else {
    Y = 0.5f * X * (1.0f + (X * kInvSqrt2).erf());
  }
}
// dy/dx * g.
void GeluGradChunk(const float* x, const float* g, float* d, int64_t n, bool t) {
  CMapA X(x, n), G(g, n);
  MapA D(d, n);
  if (t) {
    const ArrF th = (kSqrt2OverPi * (X + 0.044715f * X.cube())).tanh();
    D = G * (0.5f * (1.0f + th) +
             0.5f * X * (1.0f - th.square()) * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * X.square()));
  } else {
    D = G * (0.5f * (1.0f + (X * kInvSqrt2).erf()) + X * kInvSqrt2Pi * (-0.5f * X.square()).exp());
  }
}
// Chunks of whole rows for the elementwise kernels (a few thousand floats: in L1/L2).
constexpr int64_t kChunk = 4096;
template <typename F>
void Chunked(int64_t n, F&& f, int64_t cost = 16) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  ParallelFor(
      chunks,
      [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t b = c * kChunk;
          f(b, std::min(n, b + kChunk) - b);
        }
      },
      kChunk * cost);
}
}  // namespace

Var Gelu(const Var& x, bool tanh_approx) {
  const int64_t n = x.numel();
  Tensor y = Tensor::Empty(x.shape());
  const float* px = x.value().data<float>();
  float* py = y.data<float>();
  Chunked(n, [&](int64_t b, int64_t len) { GeluChunk(px + b, py + b, len, tanh_approx); });
  // Saves nothing beyond x (already held by its Var): the derivative is recomputed.
  return MakeOp("Gelu", std::move(y), {x}, [x, n, tanh_approx](const Tensor& dy) {
    Tensor dx = Tensor::Empty(x.shape());
    const float* px = x.value().data<float>();
    const float* g = dy.data<float>();
    float* d = dx.data<float>();
    Chunked(n, [&](int64_t b, int64_t len) { GeluGradChunk(px + b, g + b, d + b, len, tanh_approx); });
    Accum(x, dx);
  });
}

Var Relu(const Var& x) {
  const int64_t n = x.numel();
  Tensor y = Tensor::Empty(x.shape());
  const float* px = x.value().data<float>();
  float* py = y.data<float>();
  ForEach(n, [&](int64_t i) { py[i] = px[i] > 0 ? px[i] : 0.0f; });
  return MakeOp("Relu", std::move(y), {x}, [x, n](const Tensor& dy) {
    Tensor dx = Tensor::Empty(x.shape());
    const float* px = x.value().data<float>();
    const float* g = dy.data<float>();
    float* d = dx.data<float>();
    ForEach(n, [&](int64_t i) { d[i] = px[i] > 0 ? g[i] : 0.0f; });
    Accum(x, dx);
  });
}

Var Glu(const Var& x) {
  const int64_t h2 = LastDim(x);
  LRA_CHECK(h2 % 2 == 0) << "Glu: odd last dim " << h2;
  const int64_t h = h2 / 2, m = x.numel() / h2;
  std::vector<int64_t> dims = x.shape().ToVector();
  dims.back() = h;
  Tensor y = Tensor::Empty(Shape(dims));
  const float* px = x.value().data<float>();
  float* py = y.data<float>();
  ParallelFor(m, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      CMapA a(px + r * h2, h), g(px + r * h2 + h, h);
      MapA(py + r * h, h) = a / (1.0f + (-g).exp());
    }
  }, h * 16);
  return MakeOp("Glu", std::move(y), {x}, [x, m, h, h2](const Tensor& dy) {
    Tensor dx = Tensor::Empty(x.shape());
    const float* px = x.value().data<float>();
    const float* gy = dy.data<float>();
    float* d = dx.data<float>();
    ParallelFor(m, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        CMapA a(px + r * h2, h), g(px + r * h2 + h, h), G(gy + r * h, h);
        const ArrF s = 1.0f / (1.0f + (-g).exp());
        MapA(d + r * h2, h) = G * s;                            // d/da
        MapA(d + r * h2 + h, h) = G * a * s * (1.0f - s);       // d/dg
      }
    }, h * 16);
    Accum(x, dx);
  });
}

Var LayerNorm(const Var& x, const Var& gamma, const Var& beta, float eps) {
  const int64_t h = LastDim(x), m = x.numel() / h;
  LRA_CHECK(gamma.numel() == h && beta.numel() == h) << "LayerNorm: gamma/beta size";
  Tensor y = Tensor::Empty(x.shape());
  // Saves mean and rstd [m] for the backward; xhat is recomputed.
  Tensor mean = Tensor::Empty({m}), rstd = Tensor::Empty({m});
  const float* px = x.value().data<float>();
  const float* pg = gamma.value().data<float>();
  const float* pb = beta.value().data<float>();
  float* py = y.data<float>();
  float* pm = mean.data<float>();
  float* pr = rstd.data<float>();
  ForEach(m, [&](int64_t r) {
    const float* row = px + r * h;
    float s = 0;
    for (int64_t j = 0; j < h; ++j) s += row[j];
    const float mu = s / h;
    float v = 0;
    for (int64_t j = 0; j < h; ++j) v += (row[j] - mu) * (row[j] - mu);
    const float rs = 1.0f / std::sqrt(v / h + eps);
    pm[r] = mu;
    pr[r] = rs;
    for (int64_t j = 0; j < h; ++j) py[r * h + j] = (row[j] - mu) * rs * pg[j] + pb[j];
  }, h * 4);
  return MakeOp("LayerNorm", std::move(y), {x, gamma, beta},
                [x, gamma, beta, mean, rstd, m, h](const Tensor& dy) {
    const float* px = x.value().data<float>();
    const float* pg = gamma.value().data<float>();
    const float* g = dy.data<float>();
    const float* pm = mean.data<float>();
    const float* pr = rstd.data<float>();
    if (x.requires_grad()) {
      Tensor dx = Tensor::Empty(x.shape());
      float* d = dx.data<float>();
      ForEach(m, [&](int64_t r) {
        float sum_dn = 0, sum_dn_xhat = 0;
        for (int64_t j = 0; j < h; ++j) {
          const float xhat = (px[r * h + j] - pm[r]) * pr[r];
          const float dn = g[r * h + j] * pg[j];
          sum_dn += dn;
          sum_dn_xhat += dn * xhat;
        }
        for (int64_t j = 0; j < h; ++j) {
          const float xhat = (px[r * h + j] - pm[r]) * pr[r];
          const float dn = g[r * h + j] * pg[j];
          // term 1: direct; term 2: through the mean; term 3: through the variance.
          d[r * h + j] = pr[r] * (dn - sum_dn / h - xhat * sum_dn_xhat / h);
        }
      }, h * 8);
      Accum(x, dx);
    }
    if (gamma.requires_grad() || beta.requires_grad()) {
      std::vector<double> dg(h, 0.0), db(h, 0.0);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < h; ++j) {
          const float xhat = (px[r * h + j] - pm[r]) * pr[r];
          dg[j] += g[r * h + j] * xhat;
          db[j] += g[r * h + j];
        }
      Tensor tg = Tensor::Empty({h}), tb = Tensor::Empty({h});
      for (int64_t j = 0; j < h; ++j) {
        tg.data<float>()[j] = static_cast<float>(dg[j]);
        tb.data<float>()[j] = static_cast<float>(db[j]);
      }
      if (gamma.requires_grad()) Accum(gamma, tg);
      if (beta.requires_grad()) Accum(beta, tb);
    }
  });
}

Var BatchNorm(const Var& x, const Var& gamma, const Var& beta, Tensor& running_mean,
              Tensor& running_var, bool training, float momentum, float eps) {
  const int64_t h = LastDim(x), m = x.numel() / h;
  LRA_CHECK(gamma.numel() == h && beta.numel() == h && running_mean.numel() == h &&
            running_var.numel() == h)
      << "BatchNorm: parameter sizes";
  const float* px = x.value().data<float>();
  Tensor mean = Tensor::Empty({h}), rstd = Tensor::Empty({h});
  float* pm = mean.data<float>();
  float* pr = rstd.data<float>();
  if (training) {
    // Two passes in double over m = B*L rows (up to ~10^5): float sums would lose ~1e-3.
    std::vector<double> s(h, 0.0), v(h, 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < h; ++j) s[j] += px[r * h + j];
    for (int64_t j = 0; j < h; ++j) s[j] /= m;
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < h; ++j) {
        const double d = px[r * h + j] - s[j];
        v[j] += d * d;
      }
    float* rm = running_mean.data<float>();
    float* rv = running_var.data<float>();
    for (int64_t j = 0; j < h; ++j) {
      const double var = v[j] / m;
      pm[j] = static_cast<float>(s[j]);
      pr[j] = static_cast<float>(1.0 / std::sqrt(var + eps));
      const double unbiased = m > 1 ? v[j] / (m - 1) : var;
      rm[j] = static_cast<float>((1 - momentum) * rm[j] + momentum * s[j]);
      rv[j] = static_cast<float>((1 - momentum) * rv[j] + momentum * unbiased);
    }
  } else {
    const float* rm = running_mean.data<float>();
    const float* rv = running_var.data<float>();
    for (int64_t j = 0; j < h; ++j) {
      pm[j] = rm[j];
      pr[j] = 1.0f / std::sqrt(rv[j] + eps);
    }
  }
  Tensor y = Tensor::Empty(x.shape());
  const float* pg = gamma.value().data<float>();
  const float* pb = beta.value().data<float>();
  float* py = y.data<float>();
  ForEach(m, [&](int64_t r) {
    for (int64_t j = 0; j < h; ++j)
      py[r * h + j] = (px[r * h + j] - pm[j]) * pr[j] * pg[j] + pb[j];
  }, h);
  return MakeOp("BatchNorm", std::move(y), {x, gamma, beta},
                [x, gamma, beta, mean, rstd, m, h, training](const Tensor& dy) {
    const float* px = x.value().data<float>();
    const float* pg = gamma.value().data<float>();
    const float* g = dy.data<float>();
    const float* pm = mean.data<float>();
    const float* pr = rstd.data<float>();
    std::vector<double> sdy(h, 0.0), sdy_xhat(h, 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < h; ++j) {
        sdy[j] += g[r * h + j];
        sdy_xhat[j] += g[r * h + j] * (px[r * h + j] - pm[j]) * pr[j];
      }
    if (x.requires_grad()) {
      Tensor dx = Tensor::Empty(x.shape());
      float* d = dx.data<float>();
      std::vector<float> a(h), c(h);
      for (int64_t j = 0; j < h; ++j) {
        a[j] = static_cast<float>(sdy[j] / m);
        c[j] = static_cast<float>(sdy_xhat[j] / m);
      }
      ForEach(m, [&](int64_t r) {
        for (int64_t j = 0; j < h; ++j) {
          const float xhat = (px[r * h + j] - pm[j]) * pr[j];
          // Eval mode: statistics are constants, so only the direct term remains.
          d[r * h + j] = training ? pg[j] * pr[j] * (g[r * h + j] - a[j] - xhat * c[j])
                                  : pg[j] * pr[j] * g[r * h + j];
        }
      }, h);
      Accum(x, dx);
    }
    Tensor tg = Tensor::Empty({h}), tb = Tensor::Empty({h});
    for (int64_t j = 0; j < h; ++j) {
      tg.data<float>()[j] = static_cast<float>(sdy_xhat[j]);
      tb.data<float>()[j] = static_cast<float>(sdy[j]);
    }
    if (gamma.requires_grad()) Accum(gamma, tg);
    if (beta.requires_grad()) Accum(beta, tb);
  });
}

Var Embedding(const int32_t* tokens, int64_t batch, int64_t length, const Var& table) {
  const int64_t v = table.dim(0), h = table.dim(1), n = batch * length;
  Tensor y = Tensor::Empty({batch, length, h});
  const float* pt = table.value().data<float>();
  float* py = y.data<float>();
  for (int64_t i = 0; i < n; ++i)
    LRA_CHECK(tokens[i] >= 0 && tokens[i] < v) << "Embedding: token " << tokens[i]
                                               << " outside the vocabulary [0, " << v << ")";
  ForEach(n, [&](int64_t i) { std::memcpy(py + i * h, pt + int64_t{tokens[i]} * h, h * 4); }, h);
  std::vector<int32_t> ids(tokens, tokens + n);
  return MakeOp("Embedding", std::move(y), {table}, [table, ids, h, v](const Tensor& dy) {
    Tensor dt = Tensor::Zeros({v, h});
    float* d = dt.data<float>();
    const float* g = dy.data<float>();
    // Sequential scatter-add: rows repeat, so a parallel loop would race.
    for (size_t i = 0; i < ids.size(); ++i) {
      float* row = d + int64_t{ids[i]} * h;
      for (int64_t j = 0; j < h; ++j) row[j] += g[i * h + j];
    }
    Accum(table, dt);
  });
}

Var AddPositions(const Var& x, const Var& p) {
  const int64_t b = x.dim(0), l = x.dim(1), h = x.dim(2);
  LRA_CHECK(p.dim(0) >= l && p.dim(1) == h) << "AddPositions: table " << p.shape().ToString()
                                            << " for input " << x.shape().ToString();
  Tensor y = Tensor::Empty(x.shape());
  const float* px = x.value().data<float>();
  const float* pp = p.value().data<float>();
  float* py = y.data<float>();
  ForEach(b * l, [&](int64_t r) {
    const int64_t t = r % l;
    for (int64_t j = 0; j < h; ++j) py[r * h + j] = px[r * h + j] + pp[t * h + j];
  }, h);
  return MakeOp("AddPositions", std::move(y), {x, p}, [x, p, b, l, h](const Tensor& dy) {
    if (x.requires_grad()) Accum(x, dy);
    if (p.requires_grad()) {
      Tensor dp = Tensor::Zeros(p.shape());
      float* d = dp.data<float>();
      const float* g = dy.data<float>();
      for (int64_t bb = 0; bb < b; ++bb)
        for (int64_t t = 0; t < l; ++t)
          for (int64_t j = 0; j < h; ++j) d[t * h + j] += g[(bb * l + t) * h + j];
      Accum(p, dp);
    }
  });
}

Var PrependRow(const Var& x, const Var& cls) {
  const int64_t b = x.dim(0), l = x.dim(1), h = x.dim(2);
  LRA_CHECK(cls.numel() == h) << "PrependRow: row size";
  Tensor y = Tensor::Empty({b, l + 1, h});
  const float* px = x.value().data<float>();
  const float* pc = cls.value().data<float>();
  float* py = y.data<float>();
  for (int64_t bb = 0; bb < b; ++bb) {
    std::memcpy(py + bb * (l + 1) * h, pc, h * 4);
    std::memcpy(py + (bb * (l + 1) + 1) * h, px + bb * l * h, l * h * 4);
  }
  return MakeOp("PrependRow", std::move(y), {x, cls}, [x, cls, b, l, h](const Tensor& dy) {
    const float* g = dy.data<float>();
    if (x.requires_grad()) {
      Tensor dx = Tensor::Empty(x.shape());
      for (int64_t bb = 0; bb < b; ++bb)
        std::memcpy(dx.data<float>() + bb * l * h, g + (bb * (l + 1) + 1) * h, l * h * 4);
      Accum(x, dx);
    }
    if (cls.requires_grad()) {
      Tensor dc = Tensor::Zeros(cls.shape());
      for (int64_t bb = 0; bb < b; ++bb)
        for (int64_t j = 0; j < h; ++j) dc.data<float>()[j] += g[bb * (l + 1) * h + j];
      Accum(cls, dc);
    }
  });
}

Var Dropout(const Var& x, float p, uint64_t seed, bool tied) {
  if (p <= 0.0f) return x;
  LRA_CHECK(p < 1.0f) << "Dropout: p = " << p;
  const int64_t n = x.numel();
  int64_t l = 1, h = 1;
  if (tied) {
    LRA_CHECK(x.rank() == 3) << "tied Dropout needs [B, L, H], got " << x.shape().ToString();
    l = x.dim(1);
    h = x.dim(2);
  }
  const float scale = 1.0f / (1.0f - p);
  const uint64_t threshold = static_cast<uint64_t>(p * 18446744073709551616.0);
  Tensor mask = Tensor::Empty(x.shape());
  float* pk = mask.data<float>();
  ForEach(n, [&](int64_t i) {
    // Tied: the mask index drops the length coordinate, so every t shares (b, h)'s draw.
    const int64_t key = tied ? (i / (l * h)) * h + i % h : i;
    pk[i] = Mix(seed ^ Mix(static_cast<uint64_t>(key))) < threshold ? 0.0f : scale;
  });
  Tensor y = Tensor::Empty(x.shape());
  const float* px = x.value().data<float>();
  float* py = y.data<float>();
  ForEach(n, [&](int64_t i) { py[i] = px[i] * pk[i]; });
  return MakeOp("Dropout", std::move(y), {x}, [x, mask, n](const Tensor& dy) {
    Tensor dx = Tensor::Empty(x.shape());
    const float* g = dy.data<float>();
    const float* pk = mask.data<float>();
    float* d = dx.data<float>();
    ForEach(n, [&](int64_t i) { d[i] = g[i] * pk[i]; });
    Accum(x, dx);
  });
}

Var MeanPool(const Var& x, const int32_t* lengths) {
  const int64_t b = x.dim(0), l = x.dim(1), h = x.dim(2);
  std::vector<int64_t> lens(b, l);
  if (lengths)
    for (int64_t i = 0; i < b; ++i) lens[i] = std::max<int64_t>(1, std::min<int64_t>(l, lengths[i]));
  Tensor y = Tensor::Zeros({b, h});
  const float* px = x.value().data<float>();
  float* py = y.data<float>();
  for (int64_t bb = 0; bb < b; ++bb) {
    std::vector<double> acc(h, 0.0);
    for (int64_t t = 0; t < lens[bb]; ++t)
      for (int64_t j = 0; j < h; ++j) acc[j] += px[(bb * l + t) * h + j];
    for (int64_t j = 0; j < h; ++j) py[bb * h + j] = static_cast<float>(acc[j] / lens[bb]);
  }
  return MakeOp("MeanPool", std::move(y), {x}, [x, lens, b, l, h](const Tensor& dy) {
    Tensor dx = Tensor::Empty(x.shape());
    float* d = dx.data<float>();
    const float* g = dy.data<float>();
    ForEach(b * l, [&](int64_t r) {
      const int64_t bb = r / l, t = r % l;
      const float s = t < lens[bb] ? 1.0f / lens[bb] : 0.0f;
      for (int64_t j = 0; j < h; ++j) d[r * h + j] = s * g[bb * h + j];
    }, h);
    Accum(x, dx);
  });
}

Var SelectRow(const Var& x, int64_t position) {
  const int64_t b = x.dim(0), l = x.dim(1), h = x.dim(2);
  LRA_CHECK(position >= 0 && position < l) << "SelectRow: position " << position;
  Tensor y = Tensor::Empty({b, h});
  for (int64_t bb = 0; bb < b; ++bb)
    std::memcpy(y.data<float>() + bb * h, x.value().data<float>() + (bb * l + position) * h, h * 4);
  return MakeOp("SelectRow", std::move(y), {x}, [x, position, b, l, h](const Tensor& dy) {
    Tensor dx = Tensor::Zeros(x.shape());
    for (int64_t bb = 0; bb < b; ++bb)
      std::memcpy(dx.data<float>() + (bb * l + position) * h, dy.data<float>() + bb * h, h * 4);
    Accum(x, dx);
  });
}

Var ConcatLast(const std::vector<Var>& xs) {
  LRA_CHECK(!xs.empty()) << "ConcatLast: nothing to concatenate";
  const int64_t m = xs[0].numel() / LastDim(xs[0]);
  std::vector<int64_t> widths;
  int64_t total = 0;
  for (const Var& v : xs) {
    LRA_CHECK(v.numel() / LastDim(v) == m) << "ConcatLast: row counts differ";
    widths.push_back(LastDim(v));
    total += LastDim(v);
  }
  std::vector<int64_t> dims = xs[0].shape().ToVector();
  dims.back() = total;
  Tensor y = Tensor::Empty(Shape(dims));
  float* py = y.data<float>();
  int64_t off = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    const float* px = xs[k].value().data<float>();
    for (int64_t r = 0; r < m; ++r) std::memcpy(py + r * total + off, px + r * widths[k], widths[k] * 4);
    off += widths[k];
  }
  return MakeOp("ConcatLast", std::move(y), xs, [xs, widths, m, total](const Tensor& dy) {
    int64_t off = 0;
    for (size_t k = 0; k < xs.size(); ++k) {
      if (xs[k].requires_grad()) {
        Tensor dx = Tensor::Empty(xs[k].shape());
        for (int64_t r = 0; r < m; ++r)
          std::memcpy(dx.data<float>() + r * widths[k], dy.data<float>() + r * total + off,
                      widths[k] * 4);
        Accum(xs[k], dx);
      }
      off += widths[k];
    }
  });
}

Var ConcatFirst(const Var& a, const Var& b) {
  std::vector<int64_t> dims = a.shape().ToVector();
  const int64_t row = a.numel() / a.dim(0);
  LRA_CHECK(b.numel() / b.dim(0) == row) << "ConcatFirst: row sizes differ";
  dims[0] = a.dim(0) + b.dim(0);
  Tensor y = Tensor::Empty(Shape(dims));
  std::memcpy(y.data<float>(), a.value().data<float>(), a.numel() * 4);
  std::memcpy(y.data<float>() + a.numel(), b.value().data<float>(), b.numel() * 4);
  return MakeOp("ConcatFirst", std::move(y), {a, b}, [a, b](const Tensor& dy) {
    if (a.requires_grad()) {
      Tensor da = Tensor::Empty(a.shape());
      std::memcpy(da.data<float>(), dy.data<float>(), a.numel() * 4);
      Accum(a, da);
    }
    if (b.requires_grad()) {
      Tensor db = Tensor::Empty(b.shape());
      std::memcpy(db.data<float>(), dy.data<float>() + a.numel(), b.numel() * 4);
      Accum(b, db);
    }
  });
}

Var SliceFirst(const Var& x, int64_t begin, int64_t end) {
  LRA_CHECK(0 <= begin && begin < end && end <= x.dim(0)) << "SliceFirst: bad range";
  const int64_t row = x.numel() / x.dim(0);
  std::vector<int64_t> dims = x.shape().ToVector();
  dims[0] = end - begin;
  Tensor y = Tensor::Empty(Shape(dims));
  std::memcpy(y.data<float>(), x.value().data<float>() + begin * row, (end - begin) * row * 4);
  return MakeOp("SliceFirst", std::move(y), {x}, [x, begin, end, row](const Tensor& dy) {
    Tensor dx = Tensor::Zeros(x.shape());
    std::memcpy(dx.data<float>() + begin * row, dy.data<float>(), (end - begin) * row * 4);
    Accum(x, dx);
  });
}

Var MulChannel(const Var& x, const Var& d) {
  const int64_t h = LastDim(x), m = x.numel() / h;
  LRA_CHECK(d.numel() == h) << "MulChannel: scale size";
  Tensor y = Tensor::Empty(x.shape());
  const float* px = x.value().data<float>();
  const float* pd = d.value().data<float>();
  float* py = y.data<float>();
  ForEach(m, [&](int64_t r) {
    for (int64_t j = 0; j < h; ++j) py[r * h + j] = px[r * h + j] * pd[j];
  }, h);
  return MakeOp("MulChannel", std::move(y), {x, d}, [x, d, m, h](const Tensor& dy) {
    const float* g = dy.data<float>();
    if (x.requires_grad()) {
      Tensor dx = Tensor::Empty(x.shape());
      const float* pd = d.value().data<float>();
      float* o = dx.data<float>();
      ForEach(m, [&](int64_t r) {
        for (int64_t j = 0; j < h; ++j) o[r * h + j] = g[r * h + j] * pd[j];
      }, h);
      Accum(x, dx);
    }
    if (d.requires_grad()) {
      const float* px = x.value().data<float>();
      std::vector<double> acc(h, 0.0);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < h; ++j) acc[j] += double{g[r * h + j]} * px[r * h + j];
      Tensor dd = Tensor::Empty(d.shape());
      for (int64_t j = 0; j < h; ++j) dd.data<float>()[j] = static_cast<float>(acc[j]);
      Accum(d, dd);
    }
  });
}

Var CrossEntropy(const Var& logits, const int32_t* labels) {
  const int64_t b = logits.dim(0), k = logits.dim(1);
  const float* pl = logits.value().data<float>();
  Tensor prob = Tensor::Empty({b, k});
  double loss = 0;
  for (int64_t i = 0; i < b; ++i) {
    LRA_CHECK(labels[i] >= 0 && labels[i] < k) << "CrossEntropy: label " << labels[i];
    float mx = pl[i * k];
    for (int64_t j = 1; j < k; ++j) mx = std::max(mx, pl[i * k + j]);
    double s = 0;
    for (int64_t j = 0; j < k; ++j) s += std::exp(double{pl[i * k + j]} - mx);
    for (int64_t j = 0; j < k; ++j)
      prob.data<float>()[i * k + j] = static_cast<float>(std::exp(double{pl[i * k + j]} - mx) / s);
    loss += std::log(s) + mx - pl[i * k + labels[i]];
  }
  Tensor out = Tensor::FromVector(Shape{1}, std::vector<float>{static_cast<float>(loss / b)});
  std::vector<int32_t> lab(labels, labels + b);
  return MakeOp("CrossEntropy", std::move(out), {logits}, [logits, prob, lab, b, k](const Tensor& dy) {
    const float g = dy.data<float>()[0] / b;
    Tensor dl = Tensor::Empty({b, k});
    for (int64_t i = 0; i < b; ++i)
      for (int64_t j = 0; j < k; ++j)
        dl.data<float>()[i * k + j] = g * (prob.data<float>()[i * k + j] - (j == lab[i] ? 1.0f : 0.0f));
    Accum(logits, dl);
  });
}

namespace {
kernels::FftConv& ThreadFftConv() {
  thread_local kernels::FftConv conv;
  return conv;
}
}  // namespace

Var FftConv(const Var& u, const Var& k, bool bidirectional) {
  kernels::ConvShape s;
  s.batch = static_cast<int>(u.dim(0));
  s.length = static_cast<int>(u.dim(1));
  s.channels = static_cast<int>(u.dim(2));
  s.direction = bidirectional ? kernels::ConvDirection::kBidirectional
                              : kernels::ConvDirection::kCausal;
  LRA_CHECK(k.numel() == kernels::FftConv::KernelFloats(s))
      << "FftConv: kernel " << k.shape().ToString() << " for input " << u.shape().ToString();
  Tensor y = Tensor::Empty(u.shape());
  ThreadFftConv().Forward(s, u.value().data<float>(), k.value().data<float>(), y.data<float>());
  return MakeOp("FftConv", std::move(y), {u, k}, [u, k, s](const Tensor& dy) {
    Tensor du, dk;
    if (u.requires_grad()) du = Tensor::Empty(u.shape());
    if (k.requires_grad()) dk = Tensor::Empty(k.shape());
    ThreadFftConv().Backward(s, u.value().data<float>(), k.value().data<float>(), dy.data<float>(),
                             du.defined() ? du.data<float>() : nullptr,
                             dk.defined() ? dk.data<float>() : nullptr);
    if (du.defined()) Accum(u, du);
    if (dk.defined()) Accum(k, dk);
  });
}

namespace {
kernels::Attention& ThreadAttention(bool blocked) {
  thread_local kernels::Attention dense(kernels::AttentionOptions{});
  thread_local kernels::Attention block(
      kernels::AttentionOptions{kernels::AttentionAlgorithm::kBlocked, 64, 64});
  return blocked ? block : dense;
}
}  // namespace

Var Attention(const Var& q, const Var& k, const Var& v, int heads, const int32_t* lengths,
              bool causal, bool blocked) {
  kernels::AttentionShape s;
  s.batch = static_cast<int>(q.dim(0));
  s.length = static_cast<int>(q.dim(1));
  s.heads = heads;
  LRA_CHECK(q.dim(2) % heads == 0) << "Attention: width " << q.dim(2) << " % heads " << heads;
  s.head_dim = static_cast<int>(q.dim(2) / heads);
  s.causal = causal;
  LRA_CHECK(k.shape() == q.shape() && v.shape() == q.shape()) << "Attention: q/k/v shapes";
  std::vector<int> lens;
  if (lengths) lens.assign(lengths, lengths + s.batch);
  kernels::Attention& att = ThreadAttention(blocked);
  Tensor saved = Tensor::Empty({att.SavedFloats(s)});
  Tensor y = Tensor::Empty(q.shape());
  att.Forward(s, q.value().data<float>(), k.value().data<float>(), v.value().data<float>(),
              lens.empty() ? nullptr : lens.data(), y.data<float>(), saved.data<float>());
  Tensor out_copy = y;  // shares storage: Backward reads the forward output
  return MakeOp("Attention", std::move(y), {q, k, v},
                [q, k, v, s, lens, saved, out_copy, blocked](const Tensor& dy) {
    Tensor dq = Tensor::Empty(q.shape()), dk = Tensor::Empty(k.shape()),
           dv = Tensor::Empty(v.shape());
    ThreadAttention(blocked).Backward(
        s, q.value().data<float>(), k.value().data<float>(), v.value().data<float>(),
        lens.empty() ? nullptr : lens.data(), out_copy.data<float>(), saved.data<float>(),
        dy.data<float>(), dq.data<float>(), dk.data<float>(), dv.data<float>());
    if (q.requires_grad()) Accum(q, dq);
    if (k.requires_grad()) Accum(k, dk);
    if (v.requires_grad()) Accum(v, dv);
  });
}

}  // namespace lra::models::nn

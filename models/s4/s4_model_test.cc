// Golden tests for the "s4d" model: a tiny fixed-seed model's logits and the gradients of every
// parameter equal an independent double-precision implementation of the S4D / S4 layer and block
// (arXiv 2206.11893 Section 3, arXiv 2111.00396 Section 3.3; the block of state-spaces/s4
// e757cef, src/models/sequence/modules/s4block.py and src/models/sequence/backbones/block.py)
// written below (forward directly from the equations: Vandermonde kernel by explicit powers,
// convolution by the direct double sum; gradients by central differences of that reference).
// Also: convolution mode equals recurrent mode, the optimizer groups match the reference's (`_optim` per
// parameter, state-spaces/s4 e757cef, src/models/sequence/kernels/kernel.py, Kernel.register),
// and the
// loss falls on a toy problem.
//
// Tolerance: the float model chains ~25 ops over sums of <= 2L*M + H terms; errors stay below
// ~1e-5 relative (measured 1e-6 .. 1e-5), so max|a - b| <= 2e-4 (1 + max|b|) has a 10x margin
// and still catches any wrong term (which shows up at O(1e-2) or more).
#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <random>
#include <set>

#include "core/random.h"
#include "gtest/gtest.h"
#include "core/ops/loss.h"
#include "models/registry.h"
#include "models/s4/ssm_recurrent.h"
#include "models/testing/golden_check.h"
#include "models/testing/train_util.h"

namespace lra::models {
namespace {

using Vec = std::vector<double>;
using cd = std::complex<double>;
using Params = std::map<std::string, Vec>;  // complex parameters as interleaved (re, im)

struct RefCfg {
  int h, m, s, q, layers, vocab, classes;
  bool zoh, softplus, prenorm, batchnorm, pair;
  int nplr_lmax = 0;  // > 0: DPLR S4 with its kernel generated at this length
  // Training-mode dropout, masks drawn from the model's dropout stream in the model's order
  // (core/ops/dropout.cc: one FillBernoulli per dropout call; tied = one value per (b, h)).
  double dropout = 0;
  bool tie = true;
  bool v4 = false;  // block_version=v4: an untied dropout before the GELU as well
};

// The scaled keep-mask of one dropout call on [rows_b, L, H] (tied: shared over L).
Vec DropMask(Rng& rng, double p, bool tie, int rows_b, int L, int H) {
  const int64_t n = tie ? int64_t{rows_b} * H : int64_t{rows_b} * L * H;
  std::vector<uint8_t> keep(n);
  rng.FillBernoulli(keep.data(), n, 1.0f - static_cast<float>(p));
  const double scale = 1.0f / (1.0f - static_cast<float>(p));
  Vec m(static_cast<size_t>(rows_b) * L * H);
  for (int b = 0; b < rows_b; ++b)
    for (int t = 0; t < L; ++t)
      for (int j = 0; j < H; ++j) {
        const int64_t i = (int64_t{b} * L + t) * H + j;
        m[i] = keep[tie ? int64_t{b} * H + j : i] ? scale : 0.0;
      }
  return m;
}

// Solves A x = b (n x n, row-major) by Gaussian elimination with partial pivoting.
std::vector<cd> Solve(std::vector<cd> a, std::vector<cd> b, int n) {
  for (int c = 0; c < n; ++c) {
    int piv = c;
    for (int r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[piv * n + c])) piv = r;
    for (int j = 0; j < n; ++j) std::swap(a[c * n + j], a[piv * n + j]);
    std::swap(b[c], b[piv]);
    for (int r = c + 1; r < n; ++r) {
      const cd f = a[r * n + c] / a[c * n + c];
      for (int j = c; j < n; ++j) a[r * n + j] -= f * a[c * n + j];
      b[r] -= f * b[c];
    }
  }
  std::vector<cd> x(n);
  for (int r = n - 1; r >= 0; --r) {
    cd s = b[r];
    for (int j = r + 1; j < n; ++j) s -= a[r * n + j] * x[j];
    x[r] = s / a[r * n + r];
  }
  return x;
}

// DPLR S4 kernel by materializing the state space (arXiv 2111.00396, Section 3.2) in the full
// 2M basis:
// A = diag(Lambda, conj Lambda) - p p*, bilinear dA, dB; C-tilde stands for C (I - dA^Lk), so
// at the Lk-th roots of unity w the generating function is C~ (I - w dA)^-1 dB and
// K[l] = (1/Lk) sum_k G(w_k) w_k^-l, l < L.
Vec DplrKernelDense(double dt, const std::vector<cd>& lam, const std::vector<cd>& p,
                    const std::vector<cd>& b, const std::vector<cd>& c, int lk, int l) {
  const int m = static_cast<int>(lam.size()), n = 2 * m;
  auto full = [m](const std::vector<cd>& v) {
    std::vector<cd> f(2 * m);
    for (int i = 0; i < m; ++i) f[i] = v[i], f[m + i] = std::conj(v[i]);
    return f;
  };
  std::vector<cd> lf = full(lam), pf = full(p), bf = full(b), cf = full(c);
  std::vector<cd> a(n * n), m1(n * n), m2(n * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      a[i * n + j] = (i == j ? lf[i] : 0.0) - pf[i] * std::conj(pf[j]);
      m1[i * n + j] = (i == j ? 1.0 : 0.0) - dt / 2 * a[i * n + j];
      m2[i * n + j] = (i == j ? 1.0 : 0.0) + dt / 2 * a[i * n + j];
    }
  std::vector<cd> da(n * n), db;
  for (int j = 0; j < n; ++j) {  // dA column j = M1^-1 M2[:, j]
    std::vector<cd> col(n);
    for (int i = 0; i < n; ++i) col[i] = m2[i * n + j];
    std::vector<cd> x = Solve(m1, col, n);
    for (int i = 0; i < n; ++i) da[i * n + j] = x[i];
  }
  std::vector<cd> bdt(n);
  for (int i = 0; i < n; ++i) bdt[i] = dt * bf[i];
  db = Solve(m1, bdt, n);
  Vec k(l, 0.0);
  for (int q = 0; q < lk; ++q) {
    const cd w = std::polar(1.0, -2 * M_PI * q / lk);
    std::vector<cd> sys(n * n);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) sys[i * n + j] = (i == j ? 1.0 : 0.0) - w * da[i * n + j];
    std::vector<cd> x = Solve(sys, db, n);
    cd g = 0;
    for (int i = 0; i < n; ++i) g += cf[i] * x[i];
    for (int t = 0; t < l; ++t) k[t] += (g * std::polar(1.0, 2 * M_PI * q * t / lk)).real() / lk;
  }
  return k;
}

Vec Lin(const Vec& x, int rows, int in, const Vec& w, const Vec& b) {
  const int out = static_cast<int>(b.size());
  Vec y(static_cast<size_t>(rows) * out);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < out; ++j) {
      double s = b[j];
      for (int k = 0; k < in; ++k) s += x[r * in + k] * w[k * out + j];
      y[r * out + j] = s;
    }
  return y;
}

Vec NormRef(const Vec& x, int rows, int h, const Vec& g, const Vec& b, bool batch) {
  Vec y(x.size());
  if (!batch) {
    for (int r = 0; r < rows; ++r) {
      double mu = 0, var = 0;
      for (int j = 0; j < h; ++j) mu += x[r * h + j] / h;
      for (int j = 0; j < h; ++j) var += (x[r * h + j] - mu) * (x[r * h + j] - mu) / h;
      for (int j = 0; j < h; ++j) y[r * h + j] = (x[r * h + j] - mu) / std::sqrt(var + 1e-5) * g[j] + b[j];
    }
  } else {
    for (int j = 0; j < h; ++j) {
      double mu = 0, var = 0;
      for (int r = 0; r < rows; ++r) mu += x[r * h + j] / rows;
      for (int r = 0; r < rows; ++r) var += (x[r * h + j] - mu) * (x[r * h + j] - mu) / rows;
      for (int r = 0; r < rows; ++r) y[r * h + j] = (x[r * h + j] - mu) / std::sqrt(var + 1e-5) * g[j] + b[j];
    }
  }
  return y;
}

double Gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }

// Features [B, L, H] of the S4D backbone (lens: B lengths; rng: the dropout stream).
Vec Backbone(const RefCfg& c, const Params& p, const std::vector<int32_t>& tok,
             const std::vector<int32_t>& lens, int B, int L, Rng& rng) {
  const int H = c.h, M = c.m, rows = B * L;
  Vec x(static_cast<size_t>(rows) * H);
  const Vec& emb = p.at("encoder.embedding");
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < H; ++j) x[r * H + j] = emb[tok[r] * H + j];
  for (int li = 0; li < c.layers; ++li) {
    const std::string n = "layers." + std::to_string(li);
    auto P = [&](const std::string& k) -> const Vec& { return p.at(n + k); };
    Vec z = c.prenorm ? NormRef(x, rows, H, P(".norm.gamma"), P(".norm.beta"), c.batchnorm) : x;
    // S4 zeroes the layer input past each length (before the convolution and the D skip).
    for (int b = 0; b < B; ++b)
      for (int t = lens[b]; t < L; ++t)
        for (int h = 0; h < H; ++h) z[(b * L + t) * H + h] = 0.0;
    // Kernel K[q][h][l] = 2 Re(sum_n C[q,h,n] B[s,n] coef(dt A) z^l), z^l by repeated products.
    std::vector<Vec> K(c.q, Vec(static_cast<size_t>(H) * L, 0.0));
    for (int h = 0; h < H && c.nplr_lmax > 0; ++h) {
      const int s = h % c.s;
      const double dt = std::exp(P(".ssm.dt_raw")[h]);
      std::vector<cd> lam(M), pp(M), bb(M), cc(M);
      for (int k = 0; k < M; ++k) {
        lam[k] = cd(-std::exp(P(".ssm.a_re_raw")[s * M + k]), -P(".ssm.a_im")[s * M + k]);
        pp[k] = cd(P(".ssm.p")[2 * (s * M + k)], P(".ssm.p")[2 * (s * M + k) + 1]);
        bb[k] = cd(P(".ssm.b")[2 * (s * M + k)], P(".ssm.b")[2 * (s * M + k) + 1]);
      }
      for (int q = 0; q < c.q; ++q) {
        for (int k = 0; k < M; ++k) {
          const int ci = (q * H + h) * M + k;
          cc[k] = cd(P(".ssm.c")[2 * ci], P(".ssm.c")[2 * ci + 1]);
        }
        Vec kk = DplrKernelDense(dt, lam, pp, bb, cc, c.nplr_lmax, L);
        for (int t = 0; t < L; ++t) K[q][h * L + t] = kk[t];
      }
    }
    for (int h = 0; h < H && c.nplr_lmax == 0; ++h) {
      const int s = h % c.s;
      const double raw = P(".ssm.dt_raw")[h];
      const double dt = c.softplus ? std::log1p(std::exp(raw)) : std::exp(raw);
      for (int k = 0; k < M; ++k) {
        const cd A(-std::exp(P(".ssm.a_re_raw")[s * M + k]), -P(".ssm.a_im")[s * M + k]);
        const cd Bv(P(".ssm.b")[2 * (s * M + k)], P(".ssm.b")[2 * (s * M + k) + 1]);
        cd z, coef;
        if (c.zoh) {
          z = std::exp(dt * A);
          coef = (z - 1.0) / A;
        } else {
          z = (1.0 + dt * A / 2.0) / (1.0 - dt * A / 2.0);
          coef = dt / (1.0 - dt * A / 2.0);
        }
        for (int q = 0; q < c.q; ++q) {
          const int ci = (q * H + h) * M + k;
          const cd C(P(".ssm.c")[2 * ci], P(".ssm.c")[2 * ci + 1]);
          cd pw = 1.0;
          for (int l = 0; l < L; ++l, pw *= z) K[q][h * L + l] += 2 * (C * Bv * coef * pw).real();
        }
      }
    }
    Vec y(x.size(), 0.0);
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < L; ++t)
        for (int h = 0; h < H; ++h) {
          double acc = P(".ssm.d")[h] * z[(b * L + t) * H + h];
          for (int s = 0; s < L; ++s) {
            const double u = z[(b * L + s) * H + h];
            if (s <= t) acc += K[0][h * L + t - s] * u;
            else if (c.q == 2) acc += K[1][h * L + s - t - 1] * u;
          }
          y[(b * L + t) * H + h] = acc;
        }
    if (c.dropout > 0 && c.v4) {
      const Vec m = DropMask(rng, c.dropout, /*tie=*/false, B, L, H);
      for (size_t i = 0; i < y.size(); ++i) y[i] *= m[i];
    }
    for (double& v : y) v = Gelu(v);
    if (c.dropout > 0) {
      const Vec m = DropMask(rng, c.dropout, c.tie, B, L, H);
      for (size_t i = 0; i < y.size(); ++i) y[i] *= m[i];
    }
    Vec o = Lin(y, rows, H, P(".out.w"), P(".out.b"));
    const Vec m = c.dropout > 0 ? DropMask(rng, c.dropout, c.tie, B, L, H) : Vec(x.size(), 1.0);
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < H; ++j) {
        const double a = o[r * 2 * H + j], g = o[r * 2 * H + H + j];
        x[r * H + j] += m[r * H + j] * a / (1 + std::exp(-g));
      }
    if (!c.prenorm) x = NormRef(x, rows, H, P(".norm.gamma"), P(".norm.beta"), c.batchnorm);
  }
  if (c.prenorm) x = NormRef(x, rows, H, p.at("final_norm.gamma"), p.at("final_norm.beta"), c.batchnorm);
  return x;
}

Vec MeanPoolRef(const Vec& x, int B, int L, int H, const std::vector<int32_t>& lens) {
  Vec y(static_cast<size_t>(B) * H, 0.0);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < lens[b]; ++t)
      for (int j = 0; j < H; ++j) y[b * H + j] += x[(b * L + t) * H + j] / lens[b];
  return y;
}

// rng: a copy of the dropout stream the model's Forward starts from.
Vec RefLogits(const RefCfg& c, const Params& p, const std::vector<int32_t>& tok,
              const std::vector<int32_t>& lens, int B, int L, Rng rng) {
  if (!c.pair) {
    Vec pooled = MeanPoolRef(Backbone(c, p, tok, lens, B, L, rng), B, L, c.h, lens);
    return Lin(pooled, B, c.h, p.at("decoder.out.w"), p.at("decoder.out.b"));
  }
  // Pair: tok holds 2B rows (documents 1 then 2), encoded together (BatchNorm sees all 2B).
  Vec pooled = MeanPoolRef(Backbone(c, p, tok, lens, 2 * B, L, rng), 2 * B, L, c.h, lens);
  const int H = c.h;
  Vec f(static_cast<size_t>(B) * 4 * H);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < H; ++j) {
      const double x1 = pooled[b * H + j], x2 = pooled[(B + b) * H + j];
      f[b * 4 * H + j] = x1;
      f[b * 4 * H + H + j] = x2;
      f[b * 4 * H + 2 * H + j] = x1 * x2;
      f[b * 4 * H + 3 * H + j] = x1 - x2;
    }
  Vec hdn = Lin(f, B, 4 * H, p.at("decoder.hidden.w"), p.at("decoder.hidden.b"));
  for (double& v : hdn) v = Gelu(v);
  return Lin(hdn, B, H, p.at("decoder.out.w"), p.at("decoder.out.b"));
}

const float* Floats(const Var& v) {
  return v.dtype() == DType::kF32 ? v.value().data<float>()
                                  : reinterpret_cast<const float*>(v.value().data<c64>());
}
int64_t NumFloats(const Var& v) { return v.numel() * (v.dtype() == DType::kC64 ? 2 : 1); }

// Every parameter's floats by name (complex parameters interleaved).
Params ParamsOf(Model& model) {
  Params p;
  for (const ParamGroup& grp : model.ParamGroups())
    for (const Var& v : grp.params) {
      const float* f = Floats(v);
      p[v.name()] = Vec(f, f + NumFloats(v));
    }
  return p;
}

struct GoldenCase {
  std::string name;
  std::map<std::string, std::string> options;
  RefCfg ref;
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

class S4dGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(S4dGolden, LogitsAndGradientsMatchDoubleReference) {
  const GoldenCase& gc = GetParam();
  const RefCfg& c = gc.ref;
  TaskInfo task{"toy", c.vocab, 0, c.classes, 16, c.pair, false, "mean"};
  auto model = CreateModel(c.nplr_lmax ? "s4" : "s4d", task, gc.options, /*seed=*/5);
  ASSERT_TRUE(model.ok()) << model.status();
  const int B = 2, L = 7;
  std::mt19937 g(3);
  std::vector<int32_t> tok(static_cast<size_t>(2) * B * L), lens = {7, 4, 5, 7};
  for (auto& t : tok) t = static_cast<int32_t>(g() % c.vocab);
  Batch batch{B, L, tok.data(), lens.data()};
  if (c.pair) {
    batch.length2 = L;
    batch.tokens2 = tok.data() + B * L;
    batch.lengths2 = lens.data() + B;
  }
  Rng rng(1);
  const Rng rng0 = rng;  // the reference redraws the same dropout masks from here
  const int checked = testing::CheckGoldenLogitsAndGradients(
      **model, batch,
      [&](const Params& q) { return RefLogits(c, q, tok, lens, B, L, rng0); }, /*seed=*/3, rng);
  EXPECT_GT(checked, 100);
}

std::map<std::string, std::string> Opts(std::map<std::string, std::string> extra) {
  std::map<std::string, std::string> o = {{"d_model", "4"}, {"d_state", "4"}, {"n_layers", "2"}};
  for (auto& [k, v] : extra) o[k] = v;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Variants, S4dGolden,
    ::testing::Values(
        GoldenCase{"LinZohCausalPreLayerNorm", Opts({}),
                   {4, 2, 4, 1, 2, 6, 3, true, false, true, false, false}},
        GoldenCase{"InvBilinearSoftplusBidirPostBatchNormShared",
                   Opts({{"init", "inv"}, {"disc", "bilinear"}, {"dt_transform", "softplus"},
                         {"bidirectional", "true"}, {"norm", "batch"}, {"prenorm", "false"},
                         {"n_ssm", "1"}}),
                   {4, 2, 1, 2, 2, 6, 3, false, true, false, true, false}},
        GoldenCase{"LegsBidirPreBatchNormRetrievalNli",
                   Opts({{"init", "legs"}, {"bidirectional", "true"}, {"norm", "batch"}}),
                   {4, 2, 4, 2, 2, 6, 2, true, false, true, true, true}},
        GoldenCase{"RealInitZoh", Opts({{"init", "real"}, {"n_layers", "1"}}),
                   {4, 2, 4, 1, 1, 6, 3, true, false, true, false, false}},
        // DPLR S4 (HiPPO-LegS), kernel generated at l_max = 9 and truncated to L = 7.
        GoldenCase{"DplrCausalPreLayerNormShared", Opts({{"l_max", "9"}, {"n_ssm", "1"}}),
                   {4, 2, 1, 1, 2, 6, 3, false, false, true, false, false, 9}},
        GoldenCase{"DplrBidirPostBatchNorm",
                   Opts({{"l_max", "8"}, {"bidirectional", "true"}, {"norm", "batch"},
                         {"prenorm", "false"}}),
                   {4, 2, 4, 2, 2, 6, 3, false, false, false, true, false, 8}},
        // Training-mode dropout at each site of the V3 block (tied) and the V4 block (untied
        // before the GELU, then tied / untied as tie_dropout says).
        GoldenCase{"DropoutV3TiedBidir",
                   Opts({{"dropout", "0.3"}, {"bidirectional", "true"}}),
                   {4, 2, 4, 2, 2, 6, 3, true, false, true, false, false, 0, 0.3, true, false}},
        GoldenCase{"DropoutV4TiedBidir",
                   Opts({{"dropout", "0.3"}, {"bidirectional", "true"}, {"block_version", "v4"}}),
                   {4, 2, 4, 2, 2, 6, 3, true, false, true, false, false, 0, 0.3, true, true}},
        GoldenCase{"DropoutV4Untied",
                   Opts({{"dropout", "0.3"}, {"tie_dropout", "false"}, {"block_version", "v4"}}),
                   {4, 2, 4, 1, 2, 6, 3, true, false, true, false, false, 0, 0.3, false, true}}),
    [](const ::testing::TestParamInfo<GoldenCase>& i) { return i.param.name; });

TEST(S4dModel, ConvolutionModeEqualsRecurrentMode) {
  TaskInfo task{"toy", 256, 0, 10, 512, false, false, "mean"};
  for (const char* disc : {"zoh", "bilinear", "dplr"}) {
    const bool dplr = std::string(disc) == "dplr";
    auto model = CreateModel(dplr ? "s4" : "s4d", task,
                             {{"d_model", "32"}, {"d_state", "16"}, {"n_layers", "3"},
                              {"disc", dplr ? "bilinear" : disc}},
                             7);
    ASSERT_TRUE(model.ok()) << model.status();
    testing::CheckStreamingEqualsForward(**model, disc, /*length=*/300);
  }
}

TEST(S4dModel, RecurrentUnavailableForBidirectionalOrBatchNorm) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto a = CreateModel("s4d", task, {{"d_model", "4"}, {"bidirectional", "true"}}, 1);
  auto b = CreateModel("s4d", task, {{"d_model", "4"}, {"norm", "batch"}}, 1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->Recurrent(), nullptr);
  EXPECT_EQ((*b)->Recurrent(), nullptr);
}

TEST(S4dModel, OptimizerGroupsFollowThePublishedConfigs) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto model = CreateModel("s4d", task, {{"d_model", "4"}, {"lr_c", "0.001"}}, 1);
  ASSERT_TRUE(model.ok());
  std::map<std::string, ParamGroup> groups;
  for (ParamGroup& g : (*model)->ParamGroups()) groups[g.name] = g;
  ASSERT_EQ(groups.count("ssm") + groups.count("ssm_dt") + groups.count("ssm_C") +
                groups.count("no_decay") + groups.count("default"),
            5u);
  EXPECT_EQ(groups["ssm"].lr, 0.001);
  EXPECT_EQ(groups["ssm"].weight_decay, 0.0);
  EXPECT_FALSE(groups["ssm_dt"].lr.has_value());  // lr_dt = -1: the run's lr (ListOps config)
  EXPECT_EQ(groups["ssm_dt"].weight_decay, 0.0);
  EXPECT_EQ(groups["ssm_C"].lr, 0.001);
  EXPECT_FALSE(groups["ssm_C"].weight_decay.has_value());  // C keeps the global decay
  EXPECT_EQ(groups["no_decay"].weight_decay, 0.0);
  for (const Var& v : groups["no_decay"].params) {
    const std::string& n = v.name();
    EXPECT_TRUE(n.find(".b") != std::string::npos || n.find("norm") != std::string::npos ||
                n.find("embedding") != std::string::npos)
        << n;
  }
}

TEST(S4dModel, LossFallsOnToyProblem) {
  TaskInfo task{"toy", 8, 0, 2, 32, false, false, "mean"};
  for (const char* name : {"s4d", "s4"}) {
  auto model = CreateModel(name, task, {{"d_model", "16"}, {"d_state", "8"}, {"n_layers", "2"}}, 3);
  ASSERT_TRUE(model.ok()) << model.status();
  Adam opt(OptimizerGroups((*model)->ParamGroups(), 0.01, 0.0),
           AdamOptions{.decoupled_weight_decay = true});
  Rng rng(2);
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    testing::ToyBatch tb = testing::MakeToyBatch(32, 32, 8, 100 + step);
    Var loss = lra::CrossEntropy((*model)->Forward(tb.AsBatch(32, 32), true, rng), tb.labels);
    if (step < 5) first += loss.value().data<float>()[0] / 5;
    if (step >= 35) last += loss.value().data<float>()[0] / 5;
    Backward(loss);
    opt.Step();
    opt.ZeroGrad();
  }
  EXPECT_LT(last, 0.75 * first) << name << ": first 5 steps " << first << ", last 5 " << last;
  }
}


// S4 draws C ~ CN(0, 1) and stores C-tilde = (I - dA^L)^T C (state-spaces/s4 e757cef
// src/models/sequence/kernels/ssm.py, SSMKernelDPLR._setup_C). Recovering C from the stored
// parameter must give a CN(0, 1) sample. With L = 4 and dt = 1e-4, I - dA^L ~ L dt A is far
// from I, so a C-tilde drawn CN(0, 1) directly (the old behaviour) recovers a C larger by
// ~1 / (L dt |A|) and fails. Tolerance: |C|^2 of CN(0, 1) is Exp(1) (mean 1, sd 1), so the mean
// of n = H * M = 2048 values has sd 1 / sqrt(n) = 0.022; the test allows 5 sd.
TEST(S4Model, DplrStoresCTildeOfAStandardComplexNormalC) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  const int H = 64, N = 64, M = N / 2, Lk = 4;
  auto model = CreateModel("s4", task,
                           {{"d_model", std::to_string(H)}, {"d_state", std::to_string(N)},
                            {"n_layers", "1"}, {"l_max", std::to_string(Lk)},
                            {"dt_min", "0.0001"}, {"dt_max", "0.0001"}},
                           11);
  ASSERT_TRUE(model.ok()) << model.status();
  const Params p = ParamsOf(**model);
  auto complex = [&](const std::string& name) {
    const Vec& v = p.at("layers.0.ssm." + name);
    std::vector<cd> out(v.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) out[i] = cd(v[2 * i], v[2 * i + 1]);
    return out;
  };
  const std::vector<cd> b = complex("b"), pp = complex("p"), ct = complex("c");
  ASSERT_EQ(ct.size(), static_cast<size_t>(H) * M);
  const Vec &dt = p.at("layers.0.ssm.dt_raw"), &are = p.at("layers.0.ssm.a_re_raw"),
            &aim = p.at("layers.0.ssm.a_im");
  s4::SsmParams<double> sp;
  sp.dt_raw = dt.data();
  sp.a_re_raw = are.data();
  sp.a_im = aim.data();
  sp.b = b.data();
  sp.p = pp.data();
  std::vector<cd> c(ct.size());
  s4::DplrCFromCTilde(s4::SsmDims{1, H, M, H, Lk}, s4::SsmOptions{s4::Discretization::kBilinear},
                      sp, ct.data(), c.data());
  double power = 0, power_tilde = 0;
  cd mean = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    power += std::norm(c[i]) / c.size();
    power_tilde += std::norm(ct[i]) / c.size();
    mean += c[i] / static_cast<double>(c.size());
  }
  const double sd = 1.0 / std::sqrt(static_cast<double>(c.size()));
  EXPECT_NEAR(power, 1.0, 5 * sd) << "E|C|^2 of the recovered C (C-tilde: " << power_tilde << ")";
  EXPECT_LT(std::abs(mean), 5 * sd) << "mean of the recovered C";
  EXPECT_LT(power_tilde, 0.1) << "C-tilde = (I - dA^L)^T C is small here, not CN(0, 1)";
}

// pixel_norm: with no layers, no norm and mean pooling the logits are affine in the encoder's
// pixel value x, so two constant images under `unit` (x = 0 and x = 1) fix the map, which then
// predicts the logits under `s4_cifar` and `center` (same seed, so the same parameters).
// Tolerance: a handful of float ops on O(1) values, ~1e-6; 1e-4 leaves room and still catches
// any other scaling (the three normalizations differ by O(1)).
TEST(S4Model, PixelNormScalesTheLinearPixelInput) {
  TaskInfo task{"image", 256, 0, 3, 8, false, /*pixels=*/true, "mean"};
  auto logits = [&](const std::string& norm, int pixel) {
    auto model = CreateModel("s4d", task,
                             {{"d_model", "4"}, {"n_layers", "0"}, {"norm", "none"},
                              {"pixel_norm", norm}},
                             3);
    EXPECT_TRUE(model.ok()) << model.status();
    std::vector<int32_t> tok(8, pixel);
    Rng rng(1);
    NoGrad ng;
    Var out = (*model)->Forward(Batch{1, 8, tok.data(), nullptr}, false, rng);
    return std::vector<float>(out.value().data<float>(), out.value().data<float>() + 3);
  };
  const std::vector<float> l0 = logits("unit", 0), l1 = logits("unit", 255);
  const int p = 100;
  const std::map<std::string, double> x = {{"unit", p / 255.0},
                                           {"s4_cifar", (p - 122.6) / 61.0},
                                           {"center", (p / 255.0 - 0.5) / 0.5}};
  for (const auto& [norm, xv] : x) {
    const std::vector<float> got = logits(norm, p);
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(got[k], l0[k] + xv * (l1[k] - l0[k]), 1e-4) << norm << " class " << k;
  }
  auto bad = CreateModel("s4d", task, {{"linear_pixels", "false"}, {"pixel_norm", "s4_cifar"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("linear_pixels=true"), std::string::npos)
      << bad.status();
}

// The model options S4's V3 LRA recipes need (state-spaces/s4 e757cef
// configs/experiment/lra/old/v3-s4-*.yaml, run on the V3 code d589d98): dt stored as log dt
// (dt_transform=exp), n_ssm null = one copy per channel (0) or 2 (CIFAR), post-norm LayerNorm
// (CIFAR) or BatchNorm (ListOps), the Pathfinder `decoder: mode: last` (pool=last), the V3 block
// and V3's pixel scalings. Each set builds and runs; pool=last reads the last real position: a
// sequence padded past its length gives the logits of the unpadded sequence (the mask keeps the
// bidirectional kernel off the padding). Tolerance: only FFT sizes differ (64 vs 38 points), a
// relative rounding change of ~1e-6 on O(1) logits (models/batch_invariance_test.cc derives the
// bound); 1e-4 is far below the O(1e-1) a wrong row or leaked padding gives.
TEST(S4Model, V3RecipeOptionsBuildAndPoolLastReadsTheLastRealPosition) {
  using Opt = std::map<std::string, std::string>;
  const Opt base = {{"d_model", "8"}, {"d_state", "8"}, {"n_layers", "2"},
                    {"bidirectional", "true"}, {"dt_transform", "exp"},
                    {"block_version", "v3"}, {"pool", "last"}};
  struct V3Set {
    const char* name;
    bool pixels;
    Opt extra;
  };
  const std::vector<V3Set> sets = {
      {"listops", false, {{"n_ssm", "0"}, {"norm", "batch"}, {"prenorm", "false"}}},
      {"cifar", true,
       {{"n_ssm", "2"}, {"norm", "layer"}, {"prenorm", "false"}, {"pixel_norm", "s4_cifar"},
        {"dropout", "0.1"}, {"tie_dropout", "true"}}},
      {"pathfinder", true, {{"n_ssm", "0"}, {"norm", "batch"}, {"pixel_norm", "center"}}},
  };
  for (const V3Set& set : sets) {
    TaskInfo task{set.name, set.pixels ? 256 : 20, 0, 3, 32, false, set.pixels, "mean"};
    Opt o = base;
    for (const auto& [k, v] : set.extra) o[k] = v;
    auto model = CreateModel("s4", task, o, 2);
    ASSERT_TRUE(model.ok()) << set.name << ": " << model.status();
    std::mt19937 g(5);
    std::vector<int32_t> tok(32), lens = {19};
    for (auto& t : tok) t = static_cast<int32_t>(1 + g() % (task.vocab_size - 1));
    Rng rng(1);
    NoGrad ng;
    Var padded = (*model)->Forward(Batch{1, 32, tok.data(), lens.data()}, false, rng);
    Var cut = (*model)->Forward(Batch{1, 19, tok.data(), lens.data()}, false, rng);
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(padded.value().data<float>()[k], cut.value().data<float>()[k], 1e-4)
          << set.name << " class " << k;
  }
}

// block_version's initialization differences (same seed, so the same random draws): V4 clips
// Im(B) of HiPPO-LegS to [-2, 2] (e757cef src/models/hippo/hippo.py, nplr B_clip=2.0) for S4
// and S4D-LegS, V3 does not; V3's S4D starts the C parameter at C * B (d589d98
// src/models/sequence/ss/kernel.py, SSKernel mode == "diag"), V4 at C. Exact comparisons: the
// same float values are copied or multiplied once in both (tolerance: one complex product, 1e-6).
TEST(S4Model, BlockVersionSelectsTheInitOfBAndC) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto params = [&](const char* model, const char* version) {
    auto m = CreateModel(model, task,
                         {{"d_model", "4"}, {"d_state", "64"}, {"n_layers", "1"},
                          {"init", "legs"}, {"block_version", version}},
                         9);
    EXPECT_TRUE(m.ok()) << m.status();
    return ParamsOf(**m);
  };
  for (const char* model : {"s4", "s4d"}) {
    SCOPED_TRACE(model);
    Params v3 = params(model, "v3"), v4 = params(model, "v4");
    const Vec &b3 = v3.at("layers.0.ssm.b"), &b4 = v4.at("layers.0.ssm.b");
    ASSERT_EQ(b3.size(), b4.size());
    double max_im = 0;
    for (size_t i = 0; i < b3.size(); i += 2) {
      EXPECT_EQ(b4[i], b3[i]);                                   // real part untouched
      EXPECT_EQ(b4[i + 1], std::clamp(b3[i + 1], -2.0, 2.0));  // imaginary part clipped
      max_im = std::max(max_im, std::abs(b3[i + 1]));
    }
    EXPECT_GT(max_im, 2.0) << "LegS B has |Im| > 2 somewhere, so the clip matters";
    if (std::string(model) == "s4") continue;  // DPLR: C-tilde from CN(0, 1) C in both
    const Vec &c3 = v3.at("layers.0.ssm.c"), &c4 = v4.at("layers.0.ssm.c");
    const int m = static_cast<int>(b3.size() / 2);  // one SSM copy per channel, all equal at init
    for (size_t i = 0; i < c3.size() / 2; ++i) {
      const cd want = cd(c4[2 * i], c4[2 * i + 1]) * cd(b3[2 * (i % m)], b3[2 * (i % m) + 1]);
      EXPECT_NEAR(c3[2 * i], want.real(), 1e-6 * (1 + std::abs(want)));
      EXPECT_NEAR(c3[2 * i + 1], want.imag(), 1e-6 * (1 + std::abs(want)));
    }
  }
}

// no_decay: which parameters skip weight decay. Default: every bias, norm and the embedding.
// `none` (S4 V3: no add_optimizer_hooks) decays all but A, B, P, dt; `backbone_biases_norms`
// (S4 V4: add_optimizer_hooks on the backbone only) also decays the encoder and the decoder.
TEST(S4Model, NoDecaySelectsTheRecipesWeightDecayGroups) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto undecayed = [&](const char* value) {
    auto m = CreateModel("s4d", task, {{"d_model", "4"}, {"n_layers", "1"}, {"no_decay", value}},
                         1);
    EXPECT_TRUE(m.ok()) << m.status();
    std::set<std::string> names;
    int count = 0;
    for (const ParamGroup& g : (*m)->ParamGroups()) {
      count += static_cast<int>(g.params.size());
      if (g.weight_decay.has_value() && *g.weight_decay == 0.0)
        for (const Var& v : g.params) names.insert(v.name());
    }
    // Every parameter exactly once: encoder.embedding, 6 SSM (dt, A re/im, B, C, D), out.w/b,
    // norm and final_norm gamma/beta, decoder.out.w/b.
    EXPECT_EQ(count, 15);
    return names;
  };
  const std::set<std::string> ssm = {"layers.0.ssm.a_re_raw", "layers.0.ssm.a_im",
                                     "layers.0.ssm.b", "layers.0.ssm.dt_raw"};
  std::set<std::string> backbone = ssm;
  for (const char* n : {"layers.0.out.b", "layers.0.norm.gamma", "layers.0.norm.beta",
                        "final_norm.gamma", "final_norm.beta"})
    backbone.insert(n);
  std::set<std::string> all = backbone;
  all.insert("encoder.embedding");
  all.insert("decoder.out.b");
  EXPECT_EQ(undecayed("biases_norms_embedding"), all);
  EXPECT_EQ(undecayed("none"), ssm);
  EXPECT_EQ(undecayed("backbone_biases_norms"), backbone);
}

}  // namespace
}  // namespace lra::models

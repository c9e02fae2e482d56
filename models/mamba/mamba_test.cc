// Tests of the "mamba" model: a tiny fixed-seed model's logits and the gradient of every
// parameter equal an independent double-precision implementation of the Mamba block written
// below from the equations of state-spaces/mamba e9594ce (mamba_ssm/modules/mamba_simple.py
// Mamba.forward, mamba_ssm/ops/selective_scan_interface.py selective_scan_ref,
// mamba_ssm/ops/triton/layer_norm.py rms_norm_ref, mamba_ssm/modules/block.py): the reference
// runs each example on its own unpadded tokens (so it also checks that padding never reaches a
// real position, in both directions), with gradients by central differences. Also: the
// streaming mode equals the training forward, and the loss falls on a toy problem.
//
// Tolerance (models/testing/golden_check.h): the float model chains ~30 ops (two GEMMs, conv, scan
// over <= 7 steps, norms) per layer over sums of <= 2E + N terms; fp32 rounding leaves ~1e-6 ..
// 1e-5 relative, so max|a - b| <= 2e-4 (1 + max|b|) has a 10x margin and any wrong term shows at
// 1e-2 or more.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"
#include "core/ops/loss.h"
#include "models/registry.h"
#include "models/testing/golden_check.h"
#include "models/testing/train_util.h"

namespace lra::models {
namespace {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;  // [time][feature]
using Params = testing::RefParams;

struct RefCfg {
  int h, e, n, r, k, layers, classes;
  bool rms, bidir, concat, bias;
  std::string pool;  // "mean", "first", "last"
};

double Softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }
double Silu(double x) { return x / (1 + std::exp(-x)); }

// y[t] = x[t] @ w (+ b), w [in, out] row-major.
Mat Dense(const Mat& x, const Vec& w, const Vec* b, int in, int out) {
  Mat y(x.size(), Vec(out, 0.0));
  for (size_t t = 0; t < x.size(); ++t)
    for (int j = 0; j < out; ++j) {
      double s = b ? (*b)[j] : 0.0;
      for (int i = 0; i < in; ++i) s += x[t][i] * w[static_cast<size_t>(i) * out + j];
      y[t][j] = s;
    }
  return y;
}

Mat NormRef(const Mat& x, const Params& p, const std::string& name, const RefCfg& c) {
  const Vec& g = p.at(name + ".gamma");
  Mat y = x;
  for (size_t t = 0; t < x.size(); ++t) {
    double mu = 0, ms = 0;
    for (double v : x[t]) mu += v / c.h;
    for (double v : x[t]) ms += (c.rms ? v * v : (v - mu) * (v - mu)) / c.h;
    for (int j = 0; j < c.h; ++j)
      y[t][j] = (c.rms ? x[t][j] : x[t][j] - mu) / std::sqrt(ms + 1e-5) * g[j] +
                (c.rms ? 0.0 : p.at(name + ".beta")[j]);
  }
  return y;
}

// The gated output y [L][E] of one direction's mixer on xn [L][H].
Mat MixRef(const Mat& xn, const Params& p, const std::string& m, const RefCfg& c) {
  const int L = static_cast<int>(xn.size()), E = c.e, N = c.n, R = c.r, K = c.k;
  Mat xz = Dense(xn, p.at(m + ".in_proj.w"), c.bias ? &p.at(m + ".in_proj.b") : nullptr, c.h, 2 * E);
  const Vec& cw = p.at(m + ".conv1d.w");
  const Vec& cb = p.at(m + ".conv1d.b");
  Mat xc(L, Vec(E));
  for (int t = 0; t < L; ++t)
    for (int d = 0; d < E; ++d) {
      double s = cb[d];
      for (int k = 0; k < K; ++k) {
        const int src = t - K + 1 + k;
        if (src >= 0) s += cw[static_cast<size_t>(d) * K + k] * xz[src][d];
      }
      xc[t][d] = Silu(s);
    }
  Mat dbl = Dense(xc, p.at(m + ".x_proj.w"), nullptr, E, R + 2 * N);
  const Vec& dtw = p.at(m + ".dt_proj.w");
  const Vec& dtb = p.at(m + ".dt_proj.b");
  const Vec& alog = p.at(m + ".A_log");
  const Vec& D = p.at(m + ".D");
  Mat y(L, Vec(E));
  Mat h(E, Vec(N, 0.0));
  for (int t = 0; t < L; ++t)
    for (int d = 0; d < E; ++d) {
      double dt = dtb[d];
      for (int r = 0; r < R; ++r) dt += dbl[t][r] * dtw[static_cast<size_t>(r) * E + d];
      dt = Softplus(dt);
      double out = D[d] * xc[t][d];
      for (int n = 0; n < N; ++n) {
        const double a = -std::exp(alog[static_cast<size_t>(d) * N + n]);
        h[d][n] = std::exp(dt * a) * h[d][n] + dt * dbl[t][R + n] * xc[t][d];
        out += dbl[t][R + N + n] * h[d][n];
      }
      y[t][d] = out * Silu(xz[t][E + d]);
    }
  return y;
}

// Logits [B, classes] of the unpadded examples.
Vec RefLogits(const RefCfg& c, const Params& p, const std::vector<int32_t>& tok,
              const std::vector<int32_t>& lens, int B, int Lpad) {
  Vec logits;
  for (int b = 0; b < B; ++b) {
    const int L = lens[b];
    Mat x(L, Vec(c.h));
    for (int t = 0; t < L; ++t)
      for (int j = 0; j < c.h; ++j)
        x[t][j] = p.at("encoder.embedding")[static_cast<size_t>(tok[b * Lpad + t]) * c.h + j];
    for (int i = 0; i < c.layers; ++i) {
      const std::string name = "layers." + std::to_string(i);
      Mat xn = NormRef(x, p, name + ".norm", c);
      Mat y = MixRef(xn, p, name + ".mixer", c);
      if (c.bidir) {
        Mat rev(xn.rbegin(), xn.rend());
        Mat yb = MixRef(rev, p, name + ".mixer_rev", c);
        std::reverse(yb.begin(), yb.end());
        for (int t = 0; t < L; ++t) {
          if (c.concat) y[t].insert(y[t].end(), yb[t].begin(), yb[t].end());
          else for (int d = 0; d < c.e; ++d) y[t][d] += yb[t][d];
        }
      }
      const int in = c.bidir && c.concat ? 2 * c.e : c.e;
      Mat o = Dense(y, p.at(name + ".out_proj.w"), c.bias ? &p.at(name + ".out_proj.b") : nullptr,
                    in, c.h);
      for (int t = 0; t < L; ++t)
        for (int j = 0; j < c.h; ++j) x[t][j] += o[t][j];
    }
    x = NormRef(x, p, "final_norm", c);
    Vec pooled(c.h, 0.0);
    if (c.pool == "mean") {
      for (int t = 0; t < L; ++t)
        for (int j = 0; j < c.h; ++j) pooled[j] += x[t][j] / L;
    } else {
      pooled = x[c.pool == "first" ? 0 : L - 1];
    }
    Mat out = Dense({pooled}, p.at("decoder.out.w"), &p.at("decoder.out.b"), c.h, c.classes);
    logits.insert(logits.end(), out[0].begin(), out[0].end());
  }
  return logits;
}

struct GoldenCase {
  std::string name;
  std::map<std::string, std::string> options;
  RefCfg cfg;
};

class MambaGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(MambaGolden, LogitsAndGradientsMatchDoubleReference) {
  const GoldenCase& gc = GetParam();
  const int vocab = 6;
  TaskInfo task{"toy", vocab, 0, gc.cfg.classes, 16, false, false, "mean"};
  auto model = CreateModel("mamba", task, gc.options, /*seed=*/5);
  ASSERT_TRUE(model.ok()) << model.status();
  const int B = 3, L = 7;
  std::mt19937 g(3);
  // Tokens past each length are real ids, not pad: they must not reach a real position.
  std::vector<int32_t> tok(B * L), lens = {7, 4, 2};
  for (auto& t : tok) t = static_cast<int32_t>(g() % vocab);
  const int checked = testing::CheckGoldenLogitsAndGradients(
      **model, Batch{B, L, tok.data(), lens.data()},
      [&](const Params& p) { return RefLogits(gc.cfg, p, tok, lens, B, L); }, /*seed=*/9);
  EXPECT_GT(checked, 300);
}

std::map<std::string, std::string> Opts(std::map<std::string, std::string> extra) {
  std::map<std::string, std::string> o = {{"d_model", "4"}, {"d_state", "3"}, {"n_layers", "2"}};
  for (auto& [k, v] : extra) o[k] = v;
  return o;
}

// RefCfg: h, e, n, r, k, layers, classes, rms, bidir, concat, bias, pool.
INSTANTIATE_TEST_SUITE_P(
    Variants, MambaGolden,
    ::testing::Values(
        GoldenCase{"CausalRmsMean", Opts({}), {4, 8, 3, 1, 4, 2, 3, true, false, false, false, "mean"}},
        GoldenCase{"BidirSumLayerNormBiasDtRank2",
                   Opts({{"bidirectional", "true"}, {"norm", "layer"}, {"bias", "true"},
                         {"dt_rank", "2"}, {"d_conv", "3"}}),
                   {4, 8, 3, 2, 3, 2, 3, false, true, false, true, "mean"}},
        GoldenCase{"BidirConcatRmsLastExpand1",
                   Opts({{"bidirectional", "true"}, {"combine", "concat"}, {"pool", "last"},
                         {"expand", "1"}}),
                   {4, 4, 3, 1, 4, 2, 2, true, true, true, false, "last"}}),
    [](const ::testing::TestParamInfo<GoldenCase>& i) { return i.param.name; });

// The initialisation of mamba_simple.py (lines 83-114): A_log = log(1..N) per channel, D = 1,
// softplus(dt bias) in [dt_min, dt_max], dt_proj.weight within +-dt_rank^-1/2.
TEST(MambaModel, InitFollowsTheReference) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto model = CreateModel("mamba", task, {{"d_model", "32"}, {"d_state", "5"}, {"n_layers", "1"}}, 3);
  ASSERT_TRUE(model.ok()) << model.status();
  int seen = 0;
  for (const ParamGroup& grp : (*model)->ParamGroups())
    for (const Var& v : grp.params) {
      const float* f = v.value().data<float>();
      if (v.name() == "layers.0.mixer.A_log") {
        ++seen;
        EXPECT_EQ(grp.name, "no_decay");
        for (int i = 0; i < v.numel(); ++i) EXPECT_FLOAT_EQ(f[i], std::log(1.0f + i % 5));
      } else if (v.name() == "layers.0.mixer.D") {
        ++seen;
        EXPECT_EQ(grp.name, "no_decay");
        for (int i = 0; i < v.numel(); ++i) EXPECT_EQ(f[i], 1.0f);
      } else if (v.name() == "layers.0.mixer.dt_proj.b") {
        ++seen;
        for (int i = 0; i < v.numel(); ++i) {
          const double dt = std::log1p(std::exp(double{f[i]}));
          EXPECT_GE(dt, 0.001 * (1 - 1e-5));
          EXPECT_LE(dt, 0.1 * (1 + 1e-5));
        }
      } else if (v.name() == "layers.0.mixer.dt_proj.w") {
        ++seen;
        EXPECT_EQ(v.shape().dim(0), 2);  // ceil(32 / 16)
        for (int i = 0; i < v.numel(); ++i) EXPECT_LE(std::abs(f[i]), 1 / std::sqrt(2.0f));
      }
    }
  EXPECT_EQ(seen, 4);
}

TEST(MambaModel, StreamingEqualsTrainingForward) {
  TaskInfo task{"toy", 256, 0, 10, 512, false, false, "mean"};
  for (const char* norm : {"rms", "layer"}) {
    auto model = CreateModel("mamba", task,
                             {{"d_model", "32"}, {"d_state", "8"}, {"n_layers", "3"},
                              {"norm", norm}, {"bias", "true"}},
                             7);
    ASSERT_TRUE(model.ok()) << model.status();
    testing::CheckStreamingEqualsForward(**model, norm);
  }
}

TEST(MambaModel, StreamingUnavailableForBidirectionalPairOrNonMeanPool) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  TaskInfo pair = task;
  pair.pair = true;
  auto a = CreateModel("mamba", task, {{"d_model", "4"}, {"bidirectional", "true"}}, 1);
  auto b = CreateModel("mamba", task, {{"d_model", "4"}, {"pool", "last"}}, 1);
  auto d = CreateModel("mamba", pair, {{"d_model", "4"}}, 1);
  ASSERT_TRUE(a.ok() && b.ok() && d.ok());
  EXPECT_EQ((*a)->Recurrent(), nullptr);
  EXPECT_EQ((*b)->Recurrent(), nullptr);
  EXPECT_EQ((*d)->Recurrent(), nullptr);
}

TEST(MambaModel, BadOptionsNameTheFix) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto m = CreateModel("mamba", task, {{"dt_min", "0.5"}, {"dt_max", "0.1"}}, 1);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(std::string(m.status().message()).find("dt_min <= dt_max"), std::string::npos);
}

TEST(MambaModel, LossFallsOnToyProblem) {
  TaskInfo task{"toy", 8, 0, 2, 32, false, false, "mean"};
  for (const char* bidir : {"false", "true"}) {
    auto model = CreateModel("mamba", task,
                             {{"d_model", "16"}, {"n_layers", "2"}, {"bidirectional", bidir}}, 2);
    ASSERT_TRUE(model.ok()) << model.status();
    testing::LossDrop d = testing::TrainOnToyProblem(**model, 8, 0.01, 60);
    EXPECT_LT(d.last, 0.8 * d.first) << "bidirectional=" << bidir;
  }
}

}  // namespace
}  // namespace lra::models

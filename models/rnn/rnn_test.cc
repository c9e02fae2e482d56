// Tests of the "lstm" and "gru" models: a tiny fixed-seed model's logits and the gradient of
// every parameter equal an independent double-precision implementation written below from the
// PyTorch equations (torch.nn.LSTM / torch.nn.GRU documentation; gate order i, f, g, o and
// r, z, n), run on each example's unpadded tokens alone, so it also checks that the reverse
// direction starts at the last real token; gradients by central differences. Also: the
// streaming mode equals the training forward, and the loss falls on a toy problem.
//
// Tolerance (models/testing/golden_check.h): as models/s4/s4_model_test.cc, max|a - b| <= 2e-4 (1 + max|b|): fp32 rounding of
// ~20 chained ops per step over <= 7 steps and 2 layers leaves ~1e-6 .. 1e-5 relative; a wrong
// term shows at 1e-2 or more.
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
using Mat = std::vector<Vec>;
using Params = testing::RefParams;

struct RefCfg {
  bool lstm;
  int h, layers, classes;
  bool bidir, concat;
  std::string pool;
};

double Sig(double x) { return 1 / (1 + std::exp(-x)); }

// One direction over x [L][in] -> h [L][H].
Mat CellRef(const Mat& x, const Params& p, const std::string& d, const RefCfg& c) {
  const int H = c.h, G = c.lstm ? 4 : 3, in = static_cast<int>(x.empty() ? 0 : x[0].size());
  const Vec &wih = p.at(d + ".w_ih"), &bih = p.at(d + ".b_ih"), &whh = p.at(d + ".w_hh"),
            &bhh = p.at(d + ".b_hh");
  Vec h(H, 0.0), cs(H, 0.0);
  Mat out;
  for (const Vec& xt : x) {
    Vec a(G * H), s(G * H);
    for (int j = 0; j < G * H; ++j) {
      a[j] = bih[j];
      for (int i = 0; i < in; ++i) a[j] += xt[i] * wih[static_cast<size_t>(i) * G * H + j];
      s[j] = bhh[j];
      for (int i = 0; i < H; ++i) s[j] += h[i] * whh[static_cast<size_t>(i) * G * H + j];
    }
    Vec hn(H);
    for (int j = 0; j < H; ++j) {
      if (c.lstm) {
        const double ig = Sig(a[j] + s[j]), fg = Sig(a[H + j] + s[H + j]),
                     gg = std::tanh(a[2 * H + j] + s[2 * H + j]), og = Sig(a[3 * H + j] + s[3 * H + j]);
        cs[j] = fg * cs[j] + ig * gg;
        hn[j] = og * std::tanh(cs[j]);
      } else {
        const double r = Sig(a[j] + s[j]), z = Sig(a[H + j] + s[H + j]);
        const double n = std::tanh(a[2 * H + j] + r * s[2 * H + j]);
        hn[j] = (1 - z) * n + z * h[j];
      }
    }
    h = hn;
    out.push_back(h);
  }
  return out;
}

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
      Mat y = CellRef(x, p, name + ".fwd", c);
      if (c.bidir) {
        Mat yb = CellRef(Mat(x.rbegin(), x.rend()), p, name + ".rev", c);
        std::reverse(yb.begin(), yb.end());
        for (int t = 0; t < L; ++t) {
          if (c.concat) y[t].insert(y[t].end(), yb[t].begin(), yb[t].end());
          else for (int j = 0; j < c.h; ++j) y[t][j] += yb[t][j];
        }
      }
      x = y;
    }
    const int w = static_cast<int>(x[0].size());
    Vec pooled(w, 0.0);
    if (c.pool == "mean") {
      for (int t = 0; t < L; ++t)
        for (int j = 0; j < w; ++j) pooled[j] += x[t][j] / L;
    } else {
      pooled = x[c.pool == "first" ? 0 : L - 1];
    }
    const Vec &ow = p.at("decoder.out.w"), &ob = p.at("decoder.out.b");
    for (int k = 0; k < c.classes; ++k) {
      double s = ob[k];
      for (int j = 0; j < w; ++j) s += pooled[j] * ow[static_cast<size_t>(j) * c.classes + k];
      logits.push_back(s);
    }
  }
  return logits;
}

struct GoldenCase {
  std::string name, model;
  std::map<std::string, std::string> options;
  RefCfg cfg;
};

class RnnGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(RnnGolden, LogitsAndGradientsMatchDoubleReference) {
  const GoldenCase& gc = GetParam();
  const int vocab = 6;
  TaskInfo task{"toy", vocab, 0, gc.cfg.classes, 16, false, false, "mean"};
  auto model = CreateModel(gc.model, task, gc.options, /*seed=*/5);
  ASSERT_TRUE(model.ok()) << model.status();
  const int B = 3, L = 7;
  std::mt19937 g(3);
  std::vector<int32_t> tok(B * L), lens = {7, 4, 2};  // real ids past each length
  for (auto& t : tok) t = static_cast<int32_t>(g() % vocab);
  const int checked = testing::CheckGoldenLogitsAndGradients(
      **model, Batch{B, L, tok.data(), lens.data()},
      [&](const Params& p) { return RefLogits(gc.cfg, p, tok, lens, B, L); }, /*seed=*/9);
  EXPECT_GT(checked, 100);
}

std::map<std::string, std::string> Opts(std::map<std::string, std::string> extra) {
  std::map<std::string, std::string> o = {{"d_model", "3"}, {"n_layers", "2"}};
  for (auto& [k, v] : extra) o[k] = v;
  return o;
}

// RefCfg: lstm, h, layers, classes, bidir, concat, pool.
INSTANTIATE_TEST_SUITE_P(
    Variants, RnnGolden,
    ::testing::Values(
        GoldenCase{"LstmCausalMean", "lstm", Opts({}), {true, 3, 2, 3, false, true, "mean"}},
        GoldenCase{"LstmBidirConcatLast", "lstm",
                   Opts({{"bidirectional", "true"}, {"pool", "last"}}),
                   {true, 3, 2, 3, true, true, "last"}},
        GoldenCase{"GruCausalMean", "gru", Opts({}), {false, 3, 2, 3, false, true, "mean"}},
        GoldenCase{"GruBidirSumFirst", "gru",
                   Opts({{"bidirectional", "true"}, {"combine", "sum"}, {"pool", "first"}}),
                   {false, 3, 2, 2, true, false, "first"}}),
    [](const ::testing::TestParamInfo<GoldenCase>& i) { return i.param.name; });

TEST(RnnModel, StreamingEqualsTrainingForward) {
  TaskInfo task{"toy", 256, 0, 10, 512, false, false, "mean"};
  for (const char* name : {"lstm", "gru"}) {
    auto model = CreateModel(name, task, {{"d_model", "32"}, {"n_layers", "3"}}, 7);
    ASSERT_TRUE(model.ok()) << model.status();
    testing::CheckStreamingEqualsForward(**model, name);
  }
}

TEST(RnnModel, StreamingUnavailableForBidirectional) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto a = CreateModel("lstm", task, {{"d_model", "4"}, {"bidirectional", "true"}}, 1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->Recurrent(), nullptr);
}

TEST(RnnModel, LossFallsOnToyProblem) {
  TaskInfo task{"toy", 8, 0, 2, 32, false, false, "mean"};
  for (const char* name : {"lstm", "gru"}) {
    auto model = CreateModel(name, task, {{"d_model", "16"}, {"n_layers", "1"}}, 2);
    ASSERT_TRUE(model.ok()) << model.status();
    testing::LossDrop d = testing::TrainOnToyProblem(**model, 8, 0.01, 60);
    EXPECT_LT(d.last, 0.8 * d.first) << name;
  }
}

}  // namespace
}  // namespace lra::models

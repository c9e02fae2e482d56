// Golden test for "transformer": a tiny fixed-seed model's logits and every parameter's gradient
// equal an independent double-precision implementation of LRA.md 1.7 written below (gradients by
// central differences of that reference). Tolerance as in s4_model_test.cc: float chains of ~30
// ops over sums of <= mlp_dim terms stay below ~1e-5 relative; 2e-4 (1 + max|ref|) leaves 10x.
#include "models/transformer/transformer.h"

#include <cmath>
#include <map>
#include <random>

#include "core/random.h"
#include "gtest/gtest.h"
#include "core/ops/loss.h"
#include "models/registry.h"
#include "models/testing/train_util.h"

namespace lra::models {
namespace {

using Vec = std::vector<double>;
using Params = std::map<std::string, Vec>;

Vec Lin(const Vec& x, int rows, int in, int out, const Vec& w, const Vec* b) {
  Vec y(static_cast<size_t>(rows) * out);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < out; ++j) {
      double s = b ? (*b)[j] : 0.0;
      for (int k = 0; k < in; ++k) s += x[r * in + k] * w[k * out + j];
      y[r * out + j] = s;
    }
  return y;
}

Vec Ln(const Vec& x, int rows, int h, const Vec& g, const Vec& b) {
  Vec y(x.size());
  for (int r = 0; r < rows; ++r) {
    double mu = 0, var = 0;
    for (int j = 0; j < h; ++j) mu += x[r * h + j] / h;
    for (int j = 0; j < h; ++j) var += (x[r * h + j] - mu) * (x[r * h + j] - mu) / h;
    for (int j = 0; j < h; ++j) y[r * h + j] = (x[r * h + j] - mu) / std::sqrt(var + 1e-5) * g[j] + b[j];
  }
  return y;
}

struct Cfg {
  int h = 8, heads = 2, mlp = 16, layers = 2, vocab = 6, classes = 3;
  bool cls = true, learned = true, mean_pool = false;
  bool mask_pad = false;  // task.mask_pad_tokens: keys whose token is 0 are masked
};

Vec Ref(const Cfg& c, const Params& p, const std::vector<int32_t>& tok,
        const std::vector<int32_t>& lens0, int B, int L0) {
  const int H = c.h, L = L0 + (c.cls ? 1 : 0), rows = B * L, d = H / c.heads;
  Vec x(static_cast<size_t>(rows) * H);
  std::vector<int> lens(B);
  Vec sin_pe;
  if (!c.learned) {
    std::vector<float> pe = transformer::SinusoidalPositions(L, H);
    // Independent check of the table's first entries is in SinusoidalTable below.
    sin_pe.assign(pe.begin(), pe.end());
  }
  for (int b = 0; b < B; ++b) {
    lens[b] = lens0[b] + (c.cls ? 1 : 0);
    for (int t = 0; t < L; ++t)
      for (int j = 0; j < H; ++j) {
        double e = (c.cls && t == 0) ? p.at("cls")[j]
                                     : p.at("encoder.embedding")[tok[b * L0 + t - (c.cls ? 1 : 0)] * H + j];
        e += c.learned ? p.at("positions")[t * H + j] : sin_pe[t * H + j];
        x[(b * L + t) * H + j] = e;
      }
  }
  auto gelu = [](double v) {
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  };
  for (int li = 0; li < c.layers; ++li) {
    const std::string n = "layers." + std::to_string(li);
    auto P = [&](const std::string& k) -> const Vec& { return p.at(n + k); };
    Vec h = Ln(x, rows, H, P(".ln1.gamma"), P(".ln1.beta"));
    Vec q = Lin(h, rows, H, H, P(".attn.q.w"), nullptr), k = Lin(h, rows, H, H, P(".attn.k.w"), nullptr),
        v = Lin(h, rows, H, H, P(".attn.v.w"), nullptr);
    Vec a(x.size(), 0.0);
    for (int b = 0; b < B; ++b)
      for (int hh = 0; hh < c.heads; ++hh)
        for (int i = 0; i < L; ++i) {
          std::vector<double> s(lens[b]);
          double mx = -1e300, z = 0;
          // LRA's `inputs > 0` key mask; the CLS key copies the first token's (LRA.md 1.5).
          auto masked = [&](int j) {
            return c.mask_pad && tok[b * L0 + std::max(0, j - (c.cls ? 1 : 0))] == 0;
          };
          for (int j = 0; j < lens[b]; ++j) {
            if (masked(j)) continue;
            double dot = 0;
            for (int e = 0; e < d; ++e) dot += q[(b * L + i) * H + hh * d + e] * k[(b * L + j) * H + hh * d + e];
            s[j] = dot / std::sqrt(double(d));
            mx = std::max(mx, s[j]);
          }
          if (mx == -1e300) continue;  // every key masked: the attention output is 0
          for (int j = 0; j < lens[b]; ++j) z += masked(j) ? (s[j] = 0) : (s[j] = std::exp(s[j] - mx));
          for (int j = 0; j < lens[b]; ++j)
            for (int e = 0; e < d; ++e)
              a[(b * L + i) * H + hh * d + e] += s[j] / z * v[(b * L + j) * H + hh * d + e];
        }
    Vec o = Lin(a, rows, H, H, P(".attn.out.w"), nullptr);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    Vec m = Lin(Ln(x, rows, H, P(".ln2.gamma"), P(".ln2.beta")), rows, H, c.mlp, P(".mlp.w1.w"), &P(".mlp.w1.b"));
    for (double& w : m) w = gelu(w);
    Vec m2 = Lin(m, rows, c.mlp, H, P(".mlp.w2.w"), &P(".mlp.w2.b"));
    for (size_t i = 0; i < x.size(); ++i) x[i] += m2[i];
  }
  x = Ln(x, rows, H, p.at("encoder_norm.gamma"), p.at("encoder_norm.beta"));
  Vec pooled(static_cast<size_t>(B) * H, 0.0);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < H; ++j) {
      if (c.mean_pool) {
        for (int t = 0; t < lens[b]; ++t) pooled[b * H + j] += x[(b * L + t) * H + j] / lens[b];
      } else {
        pooled[b * H + j] = x[(b * L) * H + j];
      }
    }
  Vec hd = Lin(pooled, B, H, c.mlp, p.at("head.hidden.w"), &p.at("head.hidden.b"));
  for (double& w : hd) w = w > 0 ? w : 0;
  return Lin(hd, B, c.mlp, c.classes, p.at("head.out.w"), &p.at("head.out.b"));
}

void RunGolden(const Cfg& c, std::map<std::string, std::string> opts) {
  TaskInfo task{"toy", c.vocab, 0, c.classes, 5, false, false, "cls"};
  task.mask_pad_tokens = c.mask_pad;
  opts.insert({{"d_model", "8"}, {"heads", "2"}, {"mlp_dim", "16"}, {"n_layers", "2"},
               {"dropout", "0"}});
  auto model = CreateModel("transformer", task, opts, 11);
  ASSERT_TRUE(model.ok()) << model.status();
  const int B = 2, L = 5;
  std::mt19937 g(5);
  std::vector<int32_t> tok(B * L), lens = {5, 3};
  for (auto& t : tok) t = 1 + static_cast<int32_t>(g() % (c.vocab - 1));
  for (int t = 3; t < 5; ++t) tok[L + t] = 0;  // pads
  if (c.mask_pad) {
    // Pad tokens inside the sequence: tokens 0 and 2 of example 0 (so its CLS key is masked
    // too); every token of example 1, whose attention rows are then fully masked.
    tok[0] = tok[2] = 0;
    for (int t = 0; t < 3; ++t) tok[L + t] = 0;
  }
  Rng rng(1);
  Var logits = (*model)->Forward(Batch{B, L, tok.data(), lens.data()}, true, rng);
  Params p;
  std::vector<Var> vars;
  for (const ParamGroup& grp : (*model)->ParamGroups())
    for (const Var& v : grp.params) {
      std::vector<float> f = v.value().ToVector();
      p[v.name()] = Vec(f.begin(), f.end());
      vars.push_back(v);
    }
  Vec ref = Ref(c, p, tok, lens, B, L);
  ASSERT_EQ(ref.size(), static_cast<size_t>(logits.numel()));
  double scale = 0, err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    scale = std::max(scale, std::abs(ref[i]));
    err = std::max(err, std::abs(ref[i] - logits.value().data<float>()[i]));
  }
  EXPECT_LE(err, 2e-4 * (1 + scale)) << "logits";
  std::vector<float> r(ref.size());
  for (auto& v : r) v = std::normal_distribution<float>()(g);
  Backward(logits, Tensor::FromVector(logits.shape(), r));
  for (const Var& v : vars) {
    ASSERT_TRUE(v.has_grad()) << v.name();
    std::vector<float> gr = v.grad().ToVector();
    Vec& x = p[v.name()];
    double gscale = 0, gerr = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double x0 = x[i], h = 1e-6;
      x[i] = x0 + h;
      Vec yp = Ref(c, p, tok, lens, B, L);
      x[i] = x0 - h;
      Vec ym = Ref(c, p, tok, lens, B, L);
      x[i] = x0;
      double num = 0;
      for (size_t j = 0; j < r.size(); ++j) num += r[j] * (yp[j] - ym[j]) / (2 * h);
      gscale = std::max(gscale, std::abs(num));
      gerr = std::max(gerr, std::abs(num - gr[i]));
    }
    EXPECT_LE(gerr, 2e-4 * (1 + gscale)) << v.name();
  }
}

TEST(TransformerGolden, ClsLearnedPositionsDense) {
  RunGolden(Cfg{}, {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}});
}

TEST(TransformerGolden, MeanPoolSinusoidalBlocked) {
  Cfg c;
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  RunGolden(c, {{"positions", "sinusoidal"}, {"pool", "mean"}, {"attention", "blocked"}});
}

TEST(TransformerGolden, PadTokenKeyMaskClsDense) {
  Cfg c;
  c.mask_pad = true;
  RunGolden(c, {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}});
}

TEST(TransformerGolden, PadTokenKeyMaskMeanBlocked) {
  Cfg c;
  c.mask_pad = true;
  c.cls = false;
  c.mean_pool = true;
  RunGolden(c, {{"positions", "learned"}, {"pool", "mean"}, {"attention", "blocked"}});
}

// attention_dropout acts in training only: eval logits equal those of the same model without
// it, training logits differ, and each layer draws one Philox key from the dropout stream.
TEST(TransformerTest, AttentionDropoutInTrainingOnly) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  std::map<std::string, std::string> o = {{"d_model", "16"}, {"heads", "2"}, {"mlp_dim", "32"},
                                          {"n_layers", "2"}, {"dropout", "0"}, {"pool", "mean"}};
  auto plain = CreateModel("transformer", task, o, 4);
  o["attention_dropout"] = "0.3";
  auto dropped = CreateModel("transformer", task, o, 4);
  ASSERT_TRUE(plain.ok() && dropped.ok());
  testing::ToyBatch tb = testing::MakeToyBatch(4, 16, 8, 9);
  const Batch batch = tb.AsBatch(4, 16);
  Rng r1(3), r2(3);
  EXPECT_EQ((*plain)->Forward(batch, false, r1).value().ToVector(),
            (*dropped)->Forward(batch, false, r2).value().ToVector());
  EXPECT_EQ(r2.counter(), 0u);  // eval draws nothing
  EXPECT_EQ((*plain)->Forward(batch, true, r1).value().ToVector(),
            (*plain)->Forward(batch, false, r1).value().ToVector());  // dropout 0: no effect
  EXPECT_NE((*plain)->Forward(batch, true, r1).value().ToVector(),
            (*dropped)->Forward(batch, true, r2).value().ToVector());
  EXPECT_EQ(r2.counter(), 2u);  // one key per layer
}

TEST(TransformerTest, SinusoidalTable) {
  std::vector<float> pe = transformer::SinusoidalPositions(3, 4);
  // pos 2: sin(2), cos(2), sin(2 * 10000^-0.5), cos(2 * 10000^-0.5).
  EXPECT_NEAR(pe[8], std::sin(2.0), 1e-6);
  EXPECT_NEAR(pe[9], std::cos(2.0), 1e-6);
  EXPECT_NEAR(pe[10], std::sin(0.02), 1e-6);
  EXPECT_NEAR(pe[11], std::cos(0.02), 1e-6);
}

TEST(TransformerTest, RejectsBadOptions) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "cls"};
  EXPECT_FALSE(CreateModel("transformer", task, {{"pool", "cls"}}, 1).ok());  // no CLS row
  EXPECT_FALSE(CreateModel("transformer", task, {{"heads", "3"}}, 1).ok());  // 128 % 3
  EXPECT_FALSE(CreateModel("transformer", task, {{"attention_dropout", "1"}}, 1).ok());
  EXPECT_FALSE(CreateModel("transformer", task, {{"attention_dropout", "-0.1"}}, 1).ok());
  EXPECT_TRUE(
      CreateModel("transformer", task, {{"attention_dropout", "0.1"}, {"pool", "mean"}}, 1).ok());
}

TEST(TransformerTest, LossFallsOnToyProblem) {
  TaskInfo task{"toy", 8, 0, 2, 32, false, false, "mean"};
  auto model = CreateModel("transformer", task,
                           {{"d_model", "16"}, {"heads", "2"}, {"mlp_dim", "32"},
                            {"n_layers", "1"}, {"dropout", "0"}, {"attention_dropout", "0.1"},
                            {"pool", "mean"}},
                           3);
  ASSERT_TRUE(model.ok()) << model.status();
  Adam opt(OptimizerGroups((*model)->ParamGroups(), 0.005, 0.0),
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
  EXPECT_LT(last, 0.75 * first) << "first 5 steps " << first << ", last 5 " << last;
}

}  // namespace
}  // namespace lra::models

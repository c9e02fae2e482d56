// Golden test for "synthesizer": a tiny fixed-seed model's logits and every parameter's
// gradient equal the independent double-precision LRA Transformer of
// models/transformer/reference_model.h with synthesized logits (Cfg::synth_*: random [heads, P,
// P], dense relu(h W1) W2, with or without q.k / sqrt(d); flax's masking); gradients by central
// differences of that reference. Tolerance: the Transformer's golden tolerance
// (transformer_test.cc), 2e-4 (1 + max|ref|).
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/transformer/reference_model.h"

namespace lra::models {
namespace {

using reference::Cfg;
using reference::RunGolden;

const std::map<std::string, std::string> kCls = {
    {"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}};

TEST(SynthesizerGolden, RandomPlusDotProduct) {  // LRA's default
  Cfg c;
  c.synth_random = true;
  RunGolden("synthesizer", c, kCls);
}

// The same with the probabilities kept for backward instead of recomputed.
TEST(SynthesizerGolden, RandomPlusDotProductKeepingProbabilities) {
  Cfg c;
  c.synth_random = true;
  std::map<std::string, std::string> o = kCls;
  o["attention_state"] = "probs";
  RunGolden("synthesizer", c, o);
}

TEST(SynthesizerGolden, DenseOnlyWithPadTokenMask) {
  Cfg c;
  c.synth_dense = true;
  c.synth_ignore_dot = true;
  c.mask_pad = true;
  std::map<std::string, std::string> o = kCls;
  o["synthesizer_mode"] = "dense";
  o["ignore_dot_product"] = "true";
  RunGolden("synthesizer", c, o);
}

TEST(SynthesizerGolden, DenseRandomMeanPool) {
  Cfg c;
  c.synth_dense = c.synth_random = true;
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  RunGolden("synthesizer", c,
            {{"positions", "sinusoidal"}, {"pool", "mean"}, {"synthesizer_mode", "dense+random"}});
}

// ignore_dot_product creates no q and k projections; the modes create only their parameters.
TEST(SynthesizerTest, ParametersPerMode) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  auto names = [&](std::map<std::string, std::string> o) {
    o["n_layers"] = "1";
    std::set<std::string> n;
    auto m = CreateModel("synthesizer", task, o, 1);
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return n;
    for (const ParamGroup& g : (*m)->ParamGroups())
      for (const Var& v : g.params)
        if (v.name().rfind("layers.0.attn.", 0) == 0) n.insert(v.name().substr(14));
    return n;
  };
  EXPECT_EQ(names({}), (std::set<std::string>{"q.w", "k.w", "v.w", "out.w", "random"}));
  EXPECT_EQ(names({{"synthesizer_mode", "dense"}, {"ignore_dot_product", "true"}}),
            (std::set<std::string>{"v.w", "out.w", "dense_syn.w", "dense_syn_len.w"}));
}

TEST(SynthesizerTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_TRUE(CreateModel("synthesizer", task, {{"attention_dropout", "0.1"}}, 1).ok());
  EXPECT_FALSE(CreateModel("synthesizer", task, {{"synthesizer_mode", "factorized"}}, 1).ok());
  EXPECT_FALSE(CreateModel("synthesizer", task, {{"attention_state", "lse"}}, 1).ok());
  EXPECT_FALSE(CreateModel("synthesizer", task, {{"attention", "dense"}}, 1).ok());
  auto bad = CreateModel("synthesizer", task, {{"heads", "3"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("synthesizer:"), std::string::npos);
}

}  // namespace
}  // namespace lra::models

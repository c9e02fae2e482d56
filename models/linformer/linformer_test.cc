// Golden test for "linformer": a tiny fixed-seed model's logits and every parameter's gradient
// (the length projections included) equal the independent double-precision LRA Transformer of
// models/transformer/reference_model.h with Linformer's attention (Cfg::linformer: keys and
// values below the length projected by lr_kernel, softmax over the k projected keys, no mask);
// gradients by central differences of that reference. Tolerance: the Transformer's golden
// tolerance (transformer_test.cc), 2e-4 (1 + max|ref|).
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/transformer/reference_model.h"

namespace lra::models {
namespace {

using reference::Cfg;
using reference::RunGolden;

TEST(LinformerGolden, ClsLearnedPositions) {
  Cfg c;
  c.linformer = true;
  RunGolden("linformer", c,
            {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"},
             {"low_rank_features", "3"}});
}

TEST(LinformerGolden, MeanPoolSinusoidalPadTokens) {
  Cfg c;
  c.linformer = true;
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  c.mask_pad = true;  // pad tokens inside the length are ordinary keys (no token mask)
  RunGolden("linformer", c, {{"positions", "sinusoidal"}, {"pool", "mean"}});
}

// The kernel: [max_len (+1 with the CLS row), low_rank_features] per layer, xavier_uniform.
TEST(LinformerTest, ProjectionKernelShapeAndInit) {
  TaskInfo task{"toy", 6, 0, 2, 100, false, false, "cls"};
  auto m = CreateModel("linformer", task, {{"cls", "true"}, {"pool", "cls"}}, 1);
  ASSERT_TRUE(m.ok()) << m.status();
  int found = 0;
  for (const ParamGroup& g : (*m)->ParamGroups())
    for (const Var& v : g.params)
      if (v.name().find(".attn.lr_kernel") != std::string::npos) {
        ++found;
        EXPECT_EQ(v.shape().ToString(), "[101, 16]");
        const float limit = std::sqrt(6.0f / (101 + 16));
        for (float x : v.value().ToVector()) EXPECT_LE(std::abs(x), limit);
      }
  EXPECT_EQ(found, 4);  // n_layers
}

TEST(LinformerTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_TRUE(CreateModel("linformer", task, {{"attention_dropout", "0.1"}}, 1).ok());
  EXPECT_FALSE(CreateModel("linformer", task, {{"attention", "dense"}}, 1).ok());
  EXPECT_FALSE(CreateModel("linformer", task, {{"low_rank_features", "0"}}, 1).ok());
  auto bad = CreateModel("linformer", task, {{"heads", "3"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("linformer:"), std::string::npos);
  const ModelInfo* info = FindModel("linformer");
  ASSERT_NE(info, nullptr);
  auto opts = Options::Make(info->options, {});
  ASSERT_TRUE(opts.ok());
  const double a = info->estimate(task, *opts, 8, 1024).activations;
  const double b = info->estimate(task, *opts, 8, 4096).activations;
  EXPECT_NEAR(b / a, 4.0, 0.05);  // O(L k)
}

}  // namespace
}  // namespace lra::models

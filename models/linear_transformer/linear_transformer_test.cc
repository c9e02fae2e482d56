// Golden test for "linear_transformer": a tiny fixed-seed model's logits and every parameter's
// gradient equal the independent double-precision LRA Transformer of
// models/transformer/reference_model.h with elu + 1 linear attention (Cfg::linear: keys below
// the length, no token mask, no scale); gradients by central differences of that reference.
// Tolerance: the Transformer's golden tolerance (transformer_test.cc), 2e-4 (1 + max|ref|).
#include <map>
#include <string>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/transformer/reference_model.h"

namespace lra::models {
namespace {

using reference::Cfg;
using reference::RunGolden;

TEST(LinearTransformerGolden, ClsLearnedPositions) {
  Cfg c;
  c.linear = true;
  RunGolden("linear_transformer", c, {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}});
}

TEST(LinearTransformerGolden, MeanPoolSinusoidal) {
  Cfg c;
  c.linear = true;
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  RunGolden("linear_transformer", c, {{"positions", "sinusoidal"}, {"pool", "mean"}});
}

// Pad tokens inside the sequence are ordinary keys and queries here (LRA's linear attention
// ignores its padding_mask); only the lengths bound the sums.
TEST(LinearTransformerGolden, PadTokensAreNotMasked) {
  Cfg c;
  c.linear = true;
  c.mask_pad = true;
  RunGolden("linear_transformer", c, {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}});
}

TEST(LinearTransformerTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_TRUE(CreateModel("linear_transformer", task, {}, 1).ok());
  EXPECT_FALSE(CreateModel("linear_transformer", task, {{"attention_dropout", "0.1"}}, 1).ok());
  EXPECT_FALSE(CreateModel("linear_transformer", task, {{"attention", "dense"}}, 1).ok());
  auto bad = CreateModel("linear_transformer", task, {{"heads", "3"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("linear_transformer:"), std::string::npos);
  const ModelInfo* info = FindModel("linear_transformer");
  ASSERT_NE(info, nullptr);
  auto opts = Options::Make(info->options, {});
  ASSERT_TRUE(opts.ok());
  // No term grows faster than L.
  const double a = info->estimate(task, *opts, 8, 1024).activations;
  const double b = info->estimate(task, *opts, 8, 4096).activations;
  EXPECT_NEAR(b / a, 4.0, 0.05);
}

}  // namespace
}  // namespace lra::models

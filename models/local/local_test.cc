// Golden test for "local": a tiny fixed-seed model's logits and every parameter's gradient
// equal the independent double-precision LRA Transformer of models/transformer/reference_model.h
// with each query's keys restricted to its window (Cfg::block), masked rows uniform over the
// window; gradients by central differences of that reference. Tolerance: the Transformer's
// golden tolerance (transformer_test.cc), 2e-4 (1 + max|ref|): the same ~30-op float chains.
#include <algorithm>
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

// CLS row + 5 tokens = 6 positions, windows of 2: [0, 2), [2, 4), [4, 6).
TEST(LocalGolden, ClsLearnedWindowsOfTwo) {
  Cfg c;
  c.block = 2;
  RunGolden("local", c, {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"},
                         {"block_size", "2"}});
}

// 5 positions, windows [0, 4) and a short last one [4, 5); example 1 (length 3) has padded
// masked queries in the first window.
TEST(LocalGolden, MeanPoolSinusoidalShortLastWindow) {
  Cfg c;
  c.block = 4;
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  RunGolden("local", c, {{"positions", "sinusoidal"}, {"pool", "mean"}, {"block_size", "4"}});
}

// LRA's `inputs > 0` mask inside the sequence (pixel tasks): masked rows are uniform over
// their window, and example 1's first window is masked entirely.
TEST(LocalGolden, PadTokenMaskWindowsOfThree) {
  Cfg c;
  c.block = 3;
  c.mask_pad = true;
  RunGolden("local", c, {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"},
                         {"block_size", "3"}});
}

// With block_size >= the sequence, "local" is "transformer" (same parameter names, order and
// initialisation, so the same weights from the same seed; attention over the whole sequence).
TEST(LocalTest, OneWindowIsTheTransformer) {
  TaskInfo task{"toy", 8, 0, 3, 16, false, false, "mean"};
  task.mask_pad_tokens = true;
  std::map<std::string, std::string> o = {{"d_model", "16"}, {"heads", "2"}, {"mlp_dim", "32"},
                                          {"n_layers", "2"}, {"pool", "mean"}};
  auto dense = CreateModel("transformer", task, o, 5);
  o["block_size"] = "16";
  auto local = CreateModel("local", task, o, 5);
  ASSERT_TRUE(dense.ok() && local.ok());
  // A pad token inside example 0 (masked query and key), and example 1 padded from 4 to 11.
  std::vector<int32_t> tok = {1, 2, 0, 4, 5, 6, 7, 1, 2, 3, 4, 3, 5, 7, 2, 0, 0, 0, 0, 0, 0, 0};
  std::vector<int32_t> lens = {11, 4};
  Batch batch{2, 11, tok.data(), lens.data()};
  Rng r1(1), r2(1);
  const std::vector<float> a = (*dense)->Forward(batch, false, r1).value().ToVector();
  const std::vector<float> b = (*local)->Forward(batch, false, r2).value().ToVector();
  ASSERT_EQ(a.size(), b.size());
  // Same math, different summation order (Eigen vs oneDNN GEMMs, exp): ~1e-6 relative.
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * (1 + std::abs(a[i])));
}

TEST(LocalTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_FALSE(CreateModel("local", task, {{"block_size", "0"}}, 1).ok());
  EXPECT_FALSE(CreateModel("local", task, {{"attention", "dense"}}, 1).ok());  // not an option
  auto bad = CreateModel("local", task, {{"heads", "3"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("local:"), std::string::npos) << bad.status();
  const ModelInfo* info = FindModel("local");
  ASSERT_NE(info, nullptr);
  auto opts = Options::Make(info->options, {{"block_size", "64"}});
  ASSERT_TRUE(opts.ok());
  // The saved probabilities grow linearly in L: 4x the length, 4x that term.
  const double a = info->estimate(task, *opts, 8, 1024).activations;
  const double b = info->estimate(task, *opts, 8, 4096).activations;
  EXPECT_NEAR(b / a, 4.0, 0.05);
}

// Attention dropout acts in training only and draws one key per layer, as the Transformer's.
TEST(LocalTest, AttentionDropoutInTrainingOnly) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto model = CreateModel("local", task,
                           {{"d_model", "16"}, {"heads", "2"}, {"mlp_dim", "32"}, {"n_layers", "2"},
                            {"dropout", "0"}, {"attention_dropout", "0.3"}, {"block_size", "4"}},
                           4);
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> tok(2 * 16, 3), lens = {16, 9};
  Batch batch{2, 16, tok.data(), lens.data()};
  Rng r(3);
  const std::vector<float> eval = (*model)->Forward(batch, false, r).value().ToVector();
  EXPECT_EQ(r.counter(), 0u);
  (*model)->Forward(batch, true, r);
  EXPECT_EQ(r.counter(), 2u);
}

}  // namespace
}  // namespace lra::models

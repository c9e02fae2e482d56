// Golden test for "sinkhorn": a tiny fixed-seed model's logits and every parameter's gradient
// (the sort networks' included) equal the independent double-precision LRA Transformer of
// models/transformer/reference_model.h with models/sinkhorn/reference_sinkhorn.h's attention;
// gradients by central differences of that reference. Tolerance: the Transformer's golden
// tolerance (transformer_test.cc), 2e-4 (1 + max|ref|): the same ~30-op float chains, plus the
// block sums and the nb x nb normalisation (a few more roundings of the same size).
#include <map>
#include <string>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/sinkhorn/reference_sinkhorn.h"
#include "models/transformer/reference_model.h"

namespace lra::models {
namespace {

using reference::AttentionArgs;
using reference::Cfg;
using reference::RunGolden;
using reference::SinkhornRef;

Cfg WithSinkhorn(Cfg c, SinkhornRef sr) {
  c.attention = [sr](const AttentionArgs& a) { return reference::SinkhornAttention(sr, a); };
  return c;
}

// CLS row + 5 tokens = 6 positions, blocks of 2: 3 blocks; example 1 (length 3 + CLS) has 2.
TEST(SinkhornGolden, ClsLearnedBlocksOfTwoSoftmax) {
  RunGolden("sinkhorn", WithSinkhorn(Cfg{}, {2, 0, 1.0}),
            {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}, {"block_size", "2"}});
}

// 5 positions, blocks [0, 4) and a short [4, 5); example 1 (length 3) has one block.
TEST(SinkhornGolden, MeanPoolSinusoidalShortLastBlockSinkhorn) {
  Cfg c;
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  RunGolden("sinkhorn", WithSinkhorn(c, {4, 3, 0.75}),
            {{"positions", "sinusoidal"},
             {"pool", "mean"},
             {"block_size", "4"},
             {"sort_activation", "sinkhorn"},
             {"sinkhorn_iters", "3"},
             {"sinkhorn_temperature", "0.75"}});
}

// LRA's `inputs > 0` mask inside the sequence (pixel tasks): masked rows uniform over their
// block and the sorted slots; example 1 masked entirely.
TEST(SinkhornGolden, PadTokenMaskBlocksOfTwoSinkhorn) {
  Cfg c;
  c.mask_pad = true;
  RunGolden("sinkhorn", WithSinkhorn(c, {2, 2, 1.0}),
            {{"cls", "true"},
             {"positions", "learned"},
             {"pool", "cls"},
             {"block_size", "2"},
             {"sort_activation", "sinkhorn"},
             {"sinkhorn_iters", "2"}});
}

// The sort network: one bias-free [head_dim, blocks] Dense per layer, named
// layers.{i}.attn.sort.w, as wide as the blocks of the longest sequence (max_len + CLS).
TEST(SinkhornTest, SortNetworkParameters) {
  TaskInfo task{"toy", 6, 0, 2, 100, false, false, "mean"};
  auto model = CreateModel("sinkhorn", task,
                           {{"d_model", "16"},
                            {"heads", "4"},
                            {"n_layers", "2"},
                            {"block_size", "25"},
                            {"cls", "true"},
                            {"pool", "cls"}},
                           1);
  ASSERT_TRUE(model.ok()) << model.status();
  std::map<std::string, Shape> shapes;
  for (const ParamGroup& g : (*model)->ParamGroups())
    for (const Var& v : g.params) shapes[v.name()] = v.shape();
  ASSERT_EQ(shapes.count("layers.1.attn.sort.w"), 1u);
  EXPECT_EQ(shapes["layers.1.attn.sort.w"], Shape({4, 5}));  // 16 / 4 heads; ceil(101 / 25)
  EXPECT_EQ(shapes.count("layers.1.attn.sort.b"), 0u);
}

TEST(SinkhornTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_FALSE(CreateModel("sinkhorn", task, {{"block_size", "0"}}, 1).ok());
  EXPECT_FALSE(CreateModel("sinkhorn", task, {{"attention", "dense"}}, 1).ok());  // not an option
  EXPECT_FALSE(CreateModel("sinkhorn", task, {{"sort_activation", "gumbel"}}, 1).ok());
  EXPECT_FALSE(CreateModel("sinkhorn", task, {{"sinkhorn_temperature", "0"}}, 1).ok());
  EXPECT_FALSE(CreateModel("sinkhorn", task, {{"sinkhorn_iters", "0"}}, 1).ok());
  auto bad = CreateModel("sinkhorn", task, {{"heads", "3"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sinkhorn:"), std::string::npos) << bad.status();
  const ModelInfo* info = FindModel("sinkhorn");
  ASSERT_NE(info, nullptr);
  auto opts = Options::Make(info->options, {{"block_size", "64"}});
  ASSERT_TRUE(opts.ok());
  // The saved probabilities grow linearly in L: 4x the length, 4x that term.
  const double a = info->estimate(task, *opts, 8, 1024).activations;
  const double b = info->estimate(task, *opts, 8, 4096).activations;
  EXPECT_NEAR(b / a, 4.0, 0.05);
}

// Attention dropout acts in training only and draws one key per layer (shared by the local and
// the sorted term), as the Transformer's.
TEST(SinkhornTest, AttentionDropoutInTrainingOnly) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto model = CreateModel("sinkhorn", task,
                           {{"d_model", "16"},
                            {"heads", "2"},
                            {"mlp_dim", "32"},
                            {"n_layers", "2"},
                            {"dropout", "0"},
                            {"attention_dropout", "0.3"},
                            {"block_size", "4"}},
                           4);
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> tok(2 * 16, 3), lens = {16, 9};
  Batch batch{2, 16, tok.data(), lens.data()};
  Rng r(3);
  const std::vector<float> eval = (*model)->Forward(batch, false, r).value().ToVector();
  EXPECT_EQ(r.counter(), 0u);
  const std::vector<float> train = (*model)->Forward(batch, true, r).value().ToVector();
  EXPECT_EQ(r.counter(), 2u);
  EXPECT_NE(eval, train);
}

}  // namespace
}  // namespace lra::models

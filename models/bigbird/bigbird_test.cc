// Golden test for "bigbird": a tiny fixed-seed model's logits and every parameter's gradient
// equal the independent double-precision LRA Transformer of models/transformer/reference_model.h
// with each query's keys restricted to LRA's BigBird pattern written from the released code
// (core/kernels/block_sparse_reference_masks.h BigBirdMask over each example's own blocks, with
// the random blocks of the layer and head) and masked query rows 0; gradients by central
// differences of that reference. Tolerance: the Transformer's golden tolerance
// (transformer_test.cc), 2e-4 (1 + max|ref|): the same ~30-op float chains.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/kernels/block_sparse_attention.h"
#include "core/kernels/block_sparse_reference_masks.h"
#include "core/random.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/transformer/reference_model.h"

namespace lra::models {
namespace {

using reference::Cfg;
using reference::RunGolden;

// Blocks of `block` over the example's n positions; layer l's random blocks are seeded by l.
Cfg BigBird(int block, int num_rand) {
  Cfg cfg;
  cfg.zero_masked = true;
  cfg.keep = [=](int layer, int head, int n, int i, int j) {
    const int nb = (n + block - 1) / block;
    return kernels::reference::BigBirdMask(
        i, j, n, block, kernels::BigBirdRandomBlocks(nb, block, num_rand, layer, head));
  };
  return cfg;
}

// CLS row + 5 tokens = 6 blocks of 1 (example 0) and 4 (example 1, length 3): global first and
// last blocks, bands and one random block per row.
TEST(BigBirdGolden, ClsBlocksOfOne) {
  RunGolden("bigbird", BigBird(1, 1),
            {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}, {"block_size", "1"},
             {"num_rand_blocks", "1"}});
}

TEST(BigBirdGolden, MeanPoolSinusoidalTwoRandom) {
  Cfg c = BigBird(1, 2);
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  RunGolden("bigbird", c,
            {{"positions", "sinusoidal"}, {"pool", "mean"}, {"block_size", "1"},
             {"num_rand_blocks", "2"}});
}

// LRA's `inputs > 0` mask inside the sequence: masked rows output 0 (seq_m_pad).
TEST(BigBirdGolden, PadTokenMask) {
  Cfg c = BigBird(1, 1);
  c.mask_pad = true;
  RunGolden("bigbird", c,
            {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}, {"block_size", "1"},
             {"num_rand_blocks", "1"}});
}

// One block covering the sequence is the Transformer when no position inside a length is
// masked (masked rows differ, 0 here and uniform there, but only padded rows are masked and
// they reach no logit).
TEST(BigBirdTest, OneBlockIsTheTransformer) {
  TaskInfo task{"toy", 8, 0, 3, 16, false, false, "mean"};
  std::map<std::string, std::string> o = {{"d_model", "16"}, {"heads", "2"}, {"mlp_dim", "32"},
                                          {"n_layers", "2"}, {"pool", "mean"}};
  auto dense = CreateModel("transformer", task, o, 5);
  o["block_size"] = "16";
  auto bb = CreateModel("bigbird", task, o, 5);
  ASSERT_TRUE(dense.ok() && bb.ok());
  std::vector<int32_t> tok = {1, 2, 6, 4, 5, 6, 7, 1, 2, 3, 4, 3, 5, 7, 2, 0, 0, 0, 0, 0, 0, 0};
  std::vector<int32_t> lens = {11, 4};
  Batch batch{2, 11, tok.data(), lens.data()};
  Rng r1(1), r2(1);
  const std::vector<float> a = (*dense)->Forward(batch, false, r1).value().ToVector();
  const std::vector<float> b = (*bb)->Forward(batch, false, r2).value().ToVector();
  ASSERT_EQ(a.size(), b.size());
  // Same math, different summation order (Eigen vs oneDNN GEMMs, exp): ~1e-6 relative.
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * (1 + std::abs(a[i])));
}

// The random blocks are fixed per layer: repeated passes give the same logits, and there is no
// attention dropout to draw (LRA's sparse path has none).
TEST(BigBirdTest, FixedPatternAndNoAttentionDropout) {
  TaskInfo task{"toy", 8, 0, 2, 64, false, false, "mean"};
  auto model = CreateModel("bigbird", task,
                           {{"d_model", "16"}, {"heads", "2"}, {"mlp_dim", "32"}, {"n_layers", "3"},
                            {"dropout", "0"}, {"block_size", "4"}, {"num_rand_blocks", "2"}},
                           4);
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> tok(2 * 64), lens = {64, 41};
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = 1 + static_cast<int32_t>(i * 5 % 7);
  Batch batch{2, 64, tok.data(), lens.data()};
  Rng r(3);
  const std::vector<float> a = (*model)->Forward(batch, false, r).value().ToVector();
  (*model)->Forward(batch, true, r);  // one more pass (3 layers) in between
  const std::vector<float> b = (*model)->Forward(batch, false, r).value().ToVector();
  EXPECT_EQ(a, b);
  EXPECT_EQ(r.counter(), 0u);
  EXPECT_FALSE(CreateModel("bigbird", task, {{"attention_dropout", "0.1"}}, 1).ok());
}

TEST(BigBirdTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_FALSE(CreateModel("bigbird", task, {{"block_size", "0"}}, 1).ok());
  EXPECT_FALSE(CreateModel("bigbird", task, {{"num_rand_blocks", "-1"}}, 1).ok());
  const ModelInfo* info = FindModel("bigbird");
  ASSERT_NE(info, nullptr);
  auto opts = Options::Make(info->options, {});
  ASSERT_TRUE(opts.ok());
  EXPECT_EQ(opts->Int("block_size"), 64);  // LRA bigbird.py _DEFAULT_BLOCK_SIZE
  EXPECT_EQ(opts->Int("num_rand_blocks"), 3);
  const double a = info->estimate(task, *opts, 8, 1024).activations;
  const double b = info->estimate(task, *opts, 8, 4096).activations;
  EXPECT_NEAR(b / a, 4.0, 0.05);
}

}  // namespace
}  // namespace lra::models

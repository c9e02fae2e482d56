// Golden test for "longformer": a tiny fixed-seed model's logits and every parameter's gradient
// equal the independent double-precision LRA Transformer of models/transformer/reference_model.h
// with each query's keys restricted to LRA's sliding window and global positions written as the
// released masks (core/kernels/block_sparse_reference_masks.h LongformerMask); gradients by
// central differences of that reference. Tolerance: the Transformer's golden tolerance
// (transformer_test.cc), 2e-4 (1 + max|ref|): the same ~30-op float chains.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/kernels/block_sparse_reference_masks.h"
#include "core/random.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/transformer/reference_model.h"

namespace lra::models {
namespace {

using reference::Cfg;
using reference::RunGolden;

Cfg Longformer(int window, int global) {
  Cfg cfg;
  cfg.keep = [=](int, int, int, int i, int j) {
    return kernels::reference::LongformerMask(i, j, window, global);
  };
  return cfg;
}

// CLS row + 5 tokens = 6 positions, the CLS row global, windows of 3 (i - 1 .. i + 1), query
// blocks of 2 (several blocks, gathered keys).
TEST(LongformerGolden, GlobalClsWindowOfThree) {
  RunGolden("longformer", Longformer(3, 1),
            {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}, {"window", "3"},
             {"global_tokens", "1"}, {"query_block", "2"}});
}

// LRA's configuration: no global position; an even window (the left side gets the extra key).
TEST(LongformerGolden, MeanPoolSinusoidalEvenWindow) {
  Cfg c = Longformer(2, 0);
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  RunGolden("longformer", c,
            {{"positions", "sinusoidal"}, {"pool", "mean"}, {"window", "2"}, {"query_block", "3"}});
}

// LRA's `inputs > 0` mask inside the sequence: masked rows are uniform over their window.
TEST(LongformerGolden, PadTokenMaskWindowOfFour) {
  Cfg c = Longformer(4, 0);
  c.mask_pad = true;
  RunGolden("longformer", c,
            {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}, {"window", "4"},
             {"query_block", "4"}});
}

// A window covering the whole sequence is the Transformer (same parameter names, order and
// initialisation, so the same weights from the same seed).
TEST(LongformerTest, WholeWindowIsTheTransformer) {
  TaskInfo task{"toy", 8, 0, 3, 16, false, false, "mean"};
  task.mask_pad_tokens = true;
  std::map<std::string, std::string> o = {{"d_model", "16"}, {"heads", "2"}, {"mlp_dim", "32"},
                                          {"n_layers", "2"}, {"pool", "mean"}};
  auto dense = CreateModel("transformer", task, o, 5);
  o["window"] = "64";
  o["query_block"] = "3";
  auto lf = CreateModel("longformer", task, o, 5);
  ASSERT_TRUE(dense.ok() && lf.ok());
  // A pad token inside example 0 (masked query and key), and example 1 padded from 4 to 11.
  std::vector<int32_t> tok = {1, 2, 0, 4, 5, 6, 7, 1, 2, 3, 4, 3, 5, 7, 2, 0, 0, 0, 0, 0, 0, 0};
  std::vector<int32_t> lens = {11, 4};
  Batch batch{2, 11, tok.data(), lens.data()};
  Rng r1(1), r2(1);
  const std::vector<float> a = (*dense)->Forward(batch, false, r1).value().ToVector();
  const std::vector<float> b = (*lf)->Forward(batch, false, r2).value().ToVector();
  ASSERT_EQ(a.size(), b.size());
  // Same math, different summation order (Eigen vs oneDNN GEMMs, exp): ~1e-6 relative.
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * (1 + std::abs(a[i])));
}

TEST(LongformerTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_FALSE(CreateModel("longformer", task, {{"window", "0"}}, 1).ok());
  EXPECT_FALSE(CreateModel("longformer", task, {{"global_tokens", "-1"}}, 1).ok());
  EXPECT_FALSE(CreateModel("longformer", task, {{"attention", "dense"}}, 1).ok());
  const ModelInfo* info = FindModel("longformer");
  ASSERT_NE(info, nullptr);
  auto opts = Options::Make(info->options, {});
  ASSERT_TRUE(opts.ok());
  EXPECT_EQ(opts->Int("window"), 512);  // LRA longformer.py sliding_window_size
  EXPECT_EQ(opts->Int("global_tokens"), 0);
  // The saved probabilities grow linearly in L past the window: 2x the length, 2x that term.
  const double a = info->estimate(task, *opts, 8, 2048).activations;
  const double b = info->estimate(task, *opts, 8, 4096).activations;
  EXPECT_NEAR(b / a, 2.0, 0.05);
}

}  // namespace
}  // namespace lra::models

// Golden test for "sparse_transformer": a tiny fixed-seed model's logits and every parameter's
// gradient equal the independent double-precision LRA Transformer of
// models/transformer/reference_model.h with each query's keys restricted to LRA's fixed pattern
// written as its released mask (core/kernels/block_sparse_reference_masks.h SparseMask);
// gradients by central differences of that reference. Tolerance: the Transformer's golden
// tolerance (transformer_test.cc), 2e-4 (1 + max|ref|): the same ~30-op float chains.
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

Cfg Sparse(int block, int c, bool cls_global) {
  Cfg cfg;
  cfg.keep = [=](int, int, int, int i, int j) {
    return kernels::reference::SparseMask(i, j, block, c, cls_global);
  };
  return cfg;
}

// CLS row + 5 tokens = 6 positions; pool=cls makes position 0 global (use_cls_token); blocks of
// 2 with the last position of each as summary.
TEST(SparseTransformerGolden, ClsGlobalBlocksOfTwo) {
  RunGolden("sparse_transformer", Sparse(2, 1, true),
            {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}, {"block_size", "2"},
             {"summary", "1"}});
}

// Mean pooling: no global position, the causal pattern alone; example 1 (length 3) has padded
// queries.
TEST(SparseTransformerGolden, MeanPoolSinusoidalNoGlobal) {
  Cfg c = Sparse(2, 1, false);
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  RunGolden("sparse_transformer", c,
            {{"positions", "sinusoidal"}, {"pool", "mean"}, {"block_size", "2"}, {"summary", "1"}});
}

// LRA's `inputs > 0` mask inside the sequence: masked rows are uniform over their pattern.
TEST(SparseTransformerGolden, PadTokenMaskBlocksOfThree) {
  Cfg c = Sparse(3, 1, true);
  c.mask_pad = true;
  RunGolden("sparse_transformer", c,
            {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}, {"block_size", "3"},
             {"summary", "1"}});
}

TEST(SparseTransformerTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_FALSE(CreateModel("sparse_transformer", task, {{"block_size", "0"}}, 1).ok());
  EXPECT_FALSE(CreateModel("sparse_transformer", task, {{"attention", "dense"}}, 1).ok());
  auto bad = CreateModel("sparse_transformer", task, {{"block_size", "4"}, {"summary", "5"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("summary"), std::string::npos) << bad.status();
  const ModelInfo* info = FindModel("sparse_transformer");
  ASSERT_NE(info, nullptr);
  auto opts = Options::Make(info->options, {});
  ASSERT_TRUE(opts.ok());
  EXPECT_EQ(opts->Int("block_size"), 50);  // LRA train_utils.py
  EXPECT_EQ(opts->Int("summary"), 10);
}

// Attention dropout acts in training only and draws one key per layer, as the Transformer's.
TEST(SparseTransformerTest, AttentionDropoutInTrainingOnly) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto model = CreateModel("sparse_transformer", task,
                           {{"d_model", "16"}, {"heads", "2"}, {"mlp_dim", "32"}, {"n_layers", "2"},
                            {"dropout", "0"}, {"attention_dropout", "0.3"}, {"block_size", "4"},
                            {"summary", "1"}},
                           4);
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> tok(2 * 16, 3), lens = {16, 9};
  Batch batch{2, 16, tok.data(), lens.data()};
  Rng r(3);
  (*model)->Forward(batch, false, r);
  EXPECT_EQ(r.counter(), 0u);
  (*model)->Forward(batch, true, r);
  EXPECT_EQ(r.counter(), 2u);
}

}  // namespace
}  // namespace lra::models

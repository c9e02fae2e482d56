// Golden test for "reformer": a tiny fixed-seed model's logits and every parameter's gradient
// equal the independent double-precision LRA Transformer of models/transformer/reference_model.h
// with models/reformer/reference_reformer.h's LSH attention (the same fixed rotations, buckets
// frozen at the unperturbed parameters); gradients by central differences of that reference.
// Tolerance: the Transformer's golden tolerance (transformer_test.cc), 2e-4 (1 + max|ref|): the
// same ~30-op float chains.
#include <map>
#include <string>
#include <vector>

#include "core/ops/lsh_attention.h"
#include "core/random.h"
#include "gtest/gtest.h"
#include "models/reformer/reference_reformer.h"
#include "models/registry.h"
#include "models/transformer/reference_model.h"

namespace lra::models {
namespace {

using reference::AttentionArgs;
using reference::Cfg;
using reference::ReformerRef;
using reference::RunGolden;

Cfg WithLsh(Cfg c, int n_hashes, int n_buckets, int chunk, uint64_t hash_seed) {
  ReformerRef rr{n_hashes, n_buckets, chunk,
                 LshRotations(hash_seed, c.h / c.heads, n_hashes, n_buckets)};
  c.attention = [rr](const AttentionArgs& a) { return reference::LshAttention(rr, a); };
  return c;
}

// CLS row + 5 tokens; two rounds of 4 buckets, chunks of 2 (6 and 4 chunks per example).
TEST(ReformerGolden, ClsLearnedTwoHashes) {
  RunGolden("reformer", WithLsh(Cfg{}, 2, 4, 2, 0),
            {{"cls", "true"},
             {"positions", "learned"},
             {"pool", "cls"},
             {"n_hashes", "2"},
             {"n_buckets", "4"},
             {"chunk_len", "2"}});
}

// One round of 6 buckets, chunks of 3, mean pooling, another hash seed.
TEST(ReformerGolden, MeanPoolSinusoidalOneHash) {
  Cfg c;
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  RunGolden("reformer", WithLsh(c, 1, 6, 3, 5),
            {{"positions", "sinusoidal"},
             {"pool", "mean"},
             {"n_buckets", "6"},
             {"chunk_len", "3"},
             {"hash_seed", "5"}});
}

// LRA's `inputs > 0` mask inside the sequence: masked keys left out, masked queries uniform.
TEST(ReformerGolden, PadTokenMask) {
  Cfg c;
  c.mask_pad = true;
  RunGolden("reformer", WithLsh(c, 2, 4, 3, 0),
            {{"cls", "true"},
             {"positions", "learned"},
             {"pool", "cls"},
             {"n_hashes", "2"},
             {"n_buckets", "4"},
             {"chunk_len", "3"}});
}

// Shared query/key: no key projection; no attention dropout option; the rest the Transformer's.
TEST(ReformerTest, SharedQueryKeyParameters) {
  TaskInfo task{"toy", 6, 0, 2, 20, false, false, "mean"};
  auto model = CreateModel("reformer", task, {{"d_model", "8"}, {"n_layers", "2"}}, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  std::map<std::string, Shape> shapes;
  for (const ParamGroup& g : (*model)->ParamGroups())
    for (const Var& v : g.params) shapes[v.name()] = v.shape();
  EXPECT_EQ(shapes.count("layers.0.attn.q.w"), 1u);
  EXPECT_EQ(shapes.count("layers.0.attn.k.w"), 0u);
  EXPECT_EQ(shapes.count("layers.1.attn.v.w"), 1u);
}

TEST(ReformerTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_FALSE(CreateModel("reformer", task, {{"n_buckets", "5"}}, 1).ok());
  EXPECT_FALSE(CreateModel("reformer", task, {{"n_hashes", "0"}}, 1).ok());
  EXPECT_FALSE(CreateModel("reformer", task, {{"attention_dropout", "0.1"}}, 1).ok());
  auto bad = CreateModel("reformer", task, {{"n_buckets", "7"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("reformer:"), std::string::npos) << bad.status();
  const ModelInfo* info = FindModel("reformer");
  ASSERT_NE(info, nullptr);
  auto opts = Options::Make(info->options, {{"chunk_len", "64"}});
  ASSERT_TRUE(opts.ok());
  // With a fixed chunk the saved probabilities grow linearly in L.
  const double a = info->estimate(task, *opts, 8, 1024).activations;
  const double b = info->estimate(task, *opts, 8, 4096).activations;
  EXPECT_NEAR(b / a, 4.0, 0.05);
}

// Hashing draws nothing from the Rng (the rotations are fixed), in training or evaluation, and
// evaluation is deterministic.
TEST(ReformerTest, NoRngDrawsAndDeterministic) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  auto model = CreateModel("reformer", task,
                           {{"d_model", "16"},
                            {"heads", "2"},
                            {"mlp_dim", "32"},
                            {"n_layers", "2"},
                            {"dropout", "0"},
                            {"chunk_len", "4"},
                            {"n_buckets", "4"},
                            {"n_hashes", "2"}},
                           4);
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> tok(2 * 16), lens = {16, 9};
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = 1 + static_cast<int32_t>(i * 5 % 7);
  Batch batch{2, 16, tok.data(), lens.data()};
  Rng r(3);
  const std::vector<float> a = (*model)->Forward(batch, false, r).value().ToVector();
  const std::vector<float> b = (*model)->Forward(batch, true, r).value().ToVector();
  EXPECT_EQ(r.counter(), 0u);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace lra::models

// Golden test for "performer": a tiny fixed-seed model's logits and every parameter's gradient
// equal the independent double-precision LRA Transformer of models/transformer/reference_model.h
// with the Performer's attention (Cfg::performer: relu features, or FAVOR+ over the layer's
// fixed projection buffer; keys below the length, no token mask); gradients by central
// differences of that reference. Tolerance: the Transformer's golden tolerance
// (transformer_test.cc), 2e-4 (1 + max|ref|).
#include <map>
#include <string>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/testing/train_util.h"
#include "models/transformer/reference_model.h"

namespace lra::models {
namespace {

using reference::Cfg;
using reference::RunGolden;

TEST(PerformerGolden, ReluClsLearnedPositions) {
  Cfg c;
  c.performer = 1;
  RunGolden("performer", c, {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"}});
}

TEST(PerformerGolden, ReluMeanPoolSinusoidalPadTokens) {
  Cfg c;
  c.performer = 1;
  c.cls = false;
  c.learned = false;
  c.mean_pool = true;
  c.mask_pad = true;  // pad tokens inside the length are ordinary keys (no token mask)
  RunGolden("performer", c, {{"positions", "sinusoidal"}, {"pool", "mean"}});
}

// FAVOR+ with m = 6 features > d = 4 (two orthogonal blocks) and m = 2 (LRA's ListOps).
TEST(PerformerGolden, FavorFixedProjection) {
  for (const char* m : {"6", "2"}) {
    SCOPED_TRACE(m);
    Cfg c;
    c.performer = 2;
    RunGolden("performer", c,
              {{"cls", "true"}, {"positions", "learned"}, {"pool", "cls"},
               {"feature_map", "favor"}, {"features", m}, {"redraw", "fixed"}});
  }
}

// redraw=query: evaluation is deterministic (the projection is a function of the queries), the
// model has no projection buffer, and its logits differ from a fixed projection's.
TEST(PerformerTest, QueryRedrawIsDeterministic) {
  TaskInfo task{"toy", 8, 0, 2, 16, false, false, "mean"};
  std::map<std::string, std::string> o = {{"d_model", "16"}, {"heads", "2"},
                                          {"mlp_dim", "32"},  {"n_layers", "2"},
                                          {"dropout", "0"},   {"feature_map", "favor"},
                                          {"features", "8"}};
  auto query = CreateModel("performer", task, o, 4);
  o["redraw"] = "fixed";
  auto fixed = CreateModel("performer", task, o, 4);
  ASSERT_TRUE(query.ok() && fixed.ok());
  EXPECT_TRUE((*query)->Buffers().empty());
  EXPECT_EQ((*fixed)->Buffers().size(), 2u);  // one projection per layer
  testing::ToyBatch tb = testing::MakeToyBatch(4, 16, 8, 9);
  const Batch batch = tb.AsBatch(4, 16);
  Rng r1(3), r2(3);
  const std::vector<float> a = (*query)->Forward(batch, false, r1).value().ToVector();
  EXPECT_EQ(a, (*query)->Forward(batch, false, r1).value().ToVector());
  EXPECT_NE(a, (*fixed)->Forward(batch, false, r2).value().ToVector());
}

TEST(PerformerTest, OptionsAndErrors) {
  TaskInfo task{"toy", 6, 0, 2, 8, false, false, "mean"};
  EXPECT_TRUE(CreateModel("performer", task, {}, 1).ok());
  EXPECT_FALSE(CreateModel("performer", task, {{"attention_dropout", "0.1"}}, 1).ok());
  EXPECT_FALSE(CreateModel("performer", task, {{"feature_map", "softmax"}}, 1).ok());
  EXPECT_FALSE(CreateModel("performer", task, {{"features", "0"}}, 1).ok());
  auto bad = CreateModel("performer", task, {{"heads", "3"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("performer:"), std::string::npos);
  const ModelInfo* info = FindModel("performer");
  ASSERT_NE(info, nullptr);
  for (const char* map : {"relu", "favor"}) {
    auto opts = Options::Make(info->options, {{"feature_map", map}});
    ASSERT_TRUE(opts.ok());
    // No term grows faster than L.
    const double a = info->estimate(task, *opts, 8, 1024).activations;
    const double b = info->estimate(task, *opts, 8, 4096).activations;
    EXPECT_NEAR(b / a, 4.0, 0.05) << map;
  }
}

}  // namespace
}  // namespace lra::models

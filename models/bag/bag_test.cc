// The worked example's own test: it trains, and the pair (retrieval) path runs both documents
// through one encoder.
#include "core/random.h"
#include "gtest/gtest.h"
#include "core/ops/loss.h"
#include "models/registry.h"
#include "models/testing/train_util.h"

namespace lra::models {
namespace {

TEST(BagTest, LossFallsOnToyProblem) {
  TaskInfo task{"toy", 8, 0, 2, 32, false, false, "mean"};
  auto model = CreateModel("bag", task, {{"d_model", "16"}, {"mlp_dim", "32"}}, 3);
  ASSERT_TRUE(model.ok()) << model.status();
  Adam opt(OptimizerGroups((*model)->ParamGroups(), 0.01, 0.0),
           AdamOptions{.decoupled_weight_decay = true});
  Rng rng(2);
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    testing::ToyBatch tb = testing::MakeToyBatch(32, 32, 8, 100 + step);
    Var loss = lra::CrossEntropy((*model)->Forward(tb.AsBatch(32, 32), true, rng), tb.labels);
    if (step < 5) first += loss.value().data<float>()[0] / 5;
    if (step >= 35) last += loss.value().data<float>()[0] / 5;
    Backward(loss);
    opt.Step();
    opt.ZeroGrad();
  }
  EXPECT_LT(last, 0.75 * first) << "first 5 steps " << first << ", last 5 " << last;
}

TEST(BagTest, PairBatchGivesOneRowPerPairAndIsSymmetricInPadding) {
  TaskInfo task{"retrieval", 8, 0, 2, 8, true, false, "mean"};
  auto model = CreateModel("bag", task, {{"d_model", "4"}}, 3);
  ASSERT_TRUE(model.ok());
  // Document 2 of pair 0 padded to a longer length than document 1: padding must not matter.
  std::vector<int32_t> t1 = {1, 2, 3, 4, 5, 6}, l1 = {3, 2};
  std::vector<int32_t> t2 = {1, 2, 3, 0, 0, 4, 5, 0, 0, 0}, l2 = {3, 2};
  Batch b{2, 3, t1.data(), l1.data(), 5, t2.data(), l2.data()};
  Rng rng(1);
  Var logits = (*model)->Forward(b, false, rng);
  ASSERT_EQ(logits.shape(), Shape({2, 2}));
  // Pair 0 has identical documents {1,2,3}: x1 - x2 = 0; swapping the documents keeps logits.
  Batch swapped{2, 5, t2.data(), l2.data(), 3, t1.data(), l1.data()};
  Var logits2 = (*model)->Forward(swapped, false, rng);
  EXPECT_NEAR(logits.value().data<float>()[0], logits2.value().data<float>()[0], 1e-6);
  EXPECT_NEAR(logits.value().data<float>()[1], logits2.value().data<float>()[1], 1e-6);
}

}  // namespace
}  // namespace lra::models

// The worked example's own test: it trains, and the pair (retrieval) path runs both documents
// through one encoder.
#include "core/random.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/testing/train_util.h"

namespace lra::models {
namespace {

TEST(BagTest, LossFallsOnToyProblem) {
  TaskInfo task{"toy", 8, 0, 2, 32, false, false, "mean"};
  auto model = CreateModel("bag", task, {{"d_model", "16"}, {"mlp_dim", "32"}}, 3);
  ASSERT_TRUE(model.ok()) << model.status();
  const testing::LossDrop drop = testing::TrainOnToyProblem(**model, 8, 0.01, 40);
  EXPECT_LT(drop.last, 0.75 * drop.first) << "first 5 steps " << drop.first << ", last 5 "
                                          << drop.last;
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

// The example model's own test (lra_model makes the target): the loss falls on the toy problem.
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/testing/train_util.h"

namespace lra::models {
namespace {

TEST(ExampleModelTest, LossFallsOnToyProblem) {
  TaskInfo task{"toy", 8, 0, 2, 32, false, false, "mean"};
  auto model = CreateModel("example", task, {{"d_model", "16"}}, 3);
  ASSERT_TRUE(model.ok()) << model.status();
  const testing::LossDrop drop = testing::TrainOnToyProblem(**model, 8, 0.03, 60);
  EXPECT_LT(drop.last, 0.9 * drop.first) << "first 5 steps " << drop.first << ", last 5 "
                                         << drop.last;
}

}  // namespace
}  // namespace lra::models

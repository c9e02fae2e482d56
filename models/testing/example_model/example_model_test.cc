// The example model's own test (lra_model makes the target): the loss falls on the toy problem.
#include "core/ops/loss.h"
#include "core/random.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/testing/train_util.h"

namespace lra::models {
namespace {

TEST(ExampleModelTest, LossFallsOnToyProblem) {
  TaskInfo task{"toy", 8, 0, 2, 32, false, false, "mean"};
  auto model = CreateModel("example", task, {{"d_model", "16"}}, 3);
  ASSERT_TRUE(model.ok()) << model.status();
  Adam opt(OptimizerGroups((*model)->ParamGroups(), 0.03, 0.0),
           AdamOptions{.decoupled_weight_decay = true});
  Rng rng(2);
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    testing::ToyBatch tb = testing::MakeToyBatch(32, 32, 8, 100 + step);
    Var loss = lra::CrossEntropy((*model)->Forward(tb.AsBatch(32, 32), true, rng), tb.labels);
    if (step < 5) first += loss.value().data<float>()[0] / 5;
    if (step >= 55) last += loss.value().data<float>()[0] / 5;
    Backward(loss);
    opt.Step();
    opt.ZeroGrad();
  }
  EXPECT_LT(last, 0.9 * first) << "first 5 steps " << first << ", last 5 " << last;
}

}  // namespace
}  // namespace lra::models

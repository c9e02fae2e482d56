// Adding a model is one folder and one line: models/testing/example_model/ (its BUILD calls
// lra_model, models/model.bzl; its registration names its configs folder; three config files,
// one per tier) plus its line in this test's model list (models/testing/BUILD.bazel), as a real
// model's line goes in //models/all_models. Nothing else names it, yet here it
//   * is registered beside the models of //models/all_models and listed by `lra models`
//     (models::DescribeModels) with its options;
//   * resolves a config for every task of the task specs at every tier (harness/config.h);
//   * builds for every task, and trains a few steps through the harness training loop
//     (harness::Train) on a generated ListOps dataset (tasks::PrepareTask, as
//     `lra prepare --generate` does), with its smoke config.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "harness/config.h"
#include "harness/trainer.h"
#include "models/registry.h"
#include "models/testing/spec_task.h"
#include "tasks/registry.h"

namespace lra::models {
namespace {

constexpr char kModel[] = "example";

TEST(AddAModel, TheExampleIsRegisteredAndListed) {
  ASSERT_NE(FindModel(kModel), nullptr);
  ASSERT_NE(FindModel("bag"), nullptr);  // the //models/all_models list is linked too
  const std::string listing = DescribeModels();
  EXPECT_NE(listing.find("example: test-only example"), std::string::npos) << listing;
  EXPECT_NE(listing.find("    d_model (int, default 16)"), std::string::npos) << listing;
  EXPECT_EQ(ConfigsDir(*FindModel(kModel)), "models/testing/example_model/configs");
}

TEST(AddAModel, EveryTaskAndTierResolvesAndBuilds) {
  for (const std::string& tier : harness::ConfigTiers("harness/tiers")) {
    for (const std::string& task : tasks::ListTasks()) {
      SCOPED_TRACE(task + " x " + tier);
      absl::StatusOr<harness::RunConfig> config =
          harness::ResolveRunConfig(task, kModel, tier, harness::RunConfig());
      ASSERT_TRUE(config.ok()) << config.status();
      EXPECT_TRUE(harness::ValidateRunConfig(*config).ok());
      absl::StatusOr<std::map<std::string, std::string>> options =
          harness::ModelOptionMap(*config);
      ASSERT_TRUE(options.ok()) << options.status();
      absl::StatusOr<TaskInfo> info =
          testing::TaskInfoFromSpec(task, config->encoding(), config->max_length());
      ASSERT_TRUE(info.ok()) << info.status();
      EXPECT_TRUE(CreateModel(kModel, *info, *options, 1).ok());
    }
  }
  // The tiers are its three files; it has no recipe set.
  EXPECT_EQ(harness::ConfigTiers("models/testing/example_model/configs"),
            harness::ConfigTiers("harness/tiers"));
}

TEST(AddAModel, TrainsAFewStepsThroughTheHarness) {
  const std::filesystem::path tmp(std::getenv("TEST_TMPDIR"));
  tasks::PrepareOptions prepare;
  prepare.task = "listops";
  prepare.generate = true;
  prepare.size = 200;
  absl::StatusOr<std::string> dir = tasks::DefaultDatasetDir((tmp / "data").string(), prepare);
  ASSERT_TRUE(dir.ok()) << dir.status();
  prepare.out_dir = *dir;
  absl::Status prepared = tasks::PrepareTask(prepare);
  ASSERT_TRUE(prepared.ok()) << prepared;

  harness::RunConfig overrides;
  overrides.mutable_train()->set_steps(4);
  overrides.mutable_train()->set_eval_every(2);
  absl::StatusOr<harness::RunConfig> config =
      harness::ResolveRunConfig("listops", kModel, "smoke", overrides);
  ASSERT_TRUE(config.ok()) << config.status();
  harness::TrainOptions options;
  options.data_dir = (tmp / "data").string();
  options.runs_dir = (tmp / "runs").string();
  absl::StatusOr<harness::RunResult> result = harness::Train(*config, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->model(), kModel);
  EXPECT_EQ(result->status(), harness::COMPLETED) << result->status_message();
  EXPECT_EQ(result->steps(), 4);
  EXPECT_TRUE(result->last().has_test_accuracy());
}

}  // namespace
}  // namespace lra::models

#include "harness/config.h"

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"

namespace lra::harness {
namespace {

TEST(Config, LaterLayersWinAndOptionsAccumulate) {
  RunConfig config;
  RunConfig base;
  base.mutable_train()->set_lr(0.01);
  base.mutable_train()->set_batch_size(32);
  base.add_model_option("d_model=128");
  MergeLayer(base, &config);
  RunConfig top;
  top.mutable_train()->set_lr(0.0);  // explicit zero must still override
  top.add_model_option("d_model=64");
  MergeLayer(top, &config);
  EXPECT_EQ(config.train().lr(), 0.0);
  EXPECT_EQ(config.train().batch_size(), 32);
  auto options = ModelOptionMap(config);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->at("d_model"), "64");
}

TEST(Config, MalformedModelOptionIsAnError) {
  RunConfig config;
  config.add_model_option("d_model");
  EXPECT_EQ(ModelOptionMap(config).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Config, OverridesSetNestedFieldsOfEveryType) {
  RunConfig config;
  ASSERT_TRUE(ApplyOverride("train.lr=0.003", &config).ok());
  ASSERT_TRUE(ApplyOverride("train.schedule=cosine", &config).ok());
  ASSERT_TRUE(ApplyOverride("train.steps=100", &config).ok());
  ASSERT_TRUE(ApplyOverride("model_option=n_layers=2", &config).ok());
  EXPECT_DOUBLE_EQ(config.train().lr(), 0.003);
  EXPECT_EQ(config.train().schedule(), "cosine");
  EXPECT_EQ(config.train().steps(), 100);
  ASSERT_EQ(config.model_option_size(), 1);
  EXPECT_EQ(config.model_option(0), "n_layers=2");
}

TEST(Config, UnknownOverrideFieldListsTheKnownOnes) {
  RunConfig config;
  absl::Status s = ApplyOverride("train.learning_rate=1", &config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("no field 'learning_rate'"), std::string::npos) << s;
  EXPECT_NE(s.message().find("lr"), std::string::npos) << s;
  EXPECT_FALSE(ApplyOverride("train.steps=many", &config).ok());
  EXPECT_FALSE(ApplyOverride("train.steps", &config).ok());
}

TEST(Config, MalformedSuiteNamesFileLineAndField) {
  std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/bad.textproto";
  std::ofstream(path) << "name: \"x\"\nrun {\n  task: \"listops\"\n  modle: \"s4d\"\n}\n";
  absl::StatusOr<Suite> suite = LoadSuite(path);
  ASSERT_FALSE(suite.ok());
  EXPECT_NE(suite.status().message().find("bad.textproto:4:"), std::string::npos)
      << suite.status();
  EXPECT_NE(suite.status().message().find("modle"), std::string::npos) << suite.status();
}

TEST(Config, UnknownSuiteListsTheKnownOnes) {
  absl::StatusOr<Suite> suite = LoadSuite("no_such_suite");
  EXPECT_EQ(suite.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(suite.status().message().find("Suites:"), std::string::npos);
}

}  // namespace
}  // namespace lra::harness

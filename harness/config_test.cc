#include "harness/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

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

// A throwaway repository root with the given files, made the root through
// BUILD_WORKSPACE_DIRECTORY (what `bazel run` sets) for the life of the object.
class FakeRepo {
 public:
  explicit FakeRepo(const std::string& name)
      : root_(std::filesystem::path(std::getenv("TEST_TMPDIR")) / name) {
    std::filesystem::remove_all(root_);
    setenv("BUILD_WORKSPACE_DIRECTORY", root_.c_str(), 1);
  }
  ~FakeRepo() { unsetenv("BUILD_WORKSPACE_DIRECTORY"); }
  void Write(const std::string& relative, const std::string& text) {
    std::filesystem::path p = root_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }

 private:
  std::filesystem::path root_;
};

// The paper tier's S4 files name a recipe set ("use_tier"); the harness reads that set's file in
// their place, with the paper tier's defaults, and keeps the tier the user asked for.
TEST(Config, UseTierReadsTheNamedRecipeSet) {
  FakeRepo repo("use_tier");
  repo.Write("harness/configs/paper.textproto", "train { seed: 1 eval_examples: 0 }\n");
  repo.Write("models/s4/configs/listops.paper.textproto",
             "task: \"listops\"\nmodel: \"s4\"\nuse_tier: \"v3\"\n");
  repo.Write("models/s4/configs/listops.v3.textproto",
             "task: \"listops\"\nmodel: \"s4\"\nrecipe: \"o/r@abc:x.yaml\"\n"
             "model_option: \"n_layers=8\"\ntrain { steps: 76800 schedule_steps: 80000 }\n");
  for (const char* tier : {"paper", "v3"}) {
    SCOPED_TRACE(tier);
    absl::StatusOr<RunConfig> c = ResolveRunConfig("listops", "s4", tier, RunConfig());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->tier(), tier);
    EXPECT_EQ(c->recipe(), "o/r@abc:x.yaml");
    EXPECT_FALSE(c->has_use_tier());
    EXPECT_EQ(c->train().seed(), 1u);  // the paper defaults, for the recipe set too
    EXPECT_EQ(c->train().schedule_steps(), 80000);
    ASSERT_EQ(c->model_option_size(), 1);
    EXPECT_EQ(c->model_option(0), "n_layers=8");
  }
}

TEST(Config, UseTierFileWithOtherFieldsOrChainsIsAnError) {
  FakeRepo repo("use_tier_bad");
  repo.Write("harness/configs/paper.textproto", "");
  repo.Write("models/s4/configs/text.paper.textproto",
             "task: \"text\"\nmodel: \"s4\"\nuse_tier: \"v3\"\ntrain { lr: 0.1 }\n");
  repo.Write("models/s4/configs/text.v3.textproto", "task: \"text\"\nmodel: \"s4\"\n");
  absl::StatusOr<RunConfig> c = ResolveRunConfig("text", "s4", "paper", RunConfig());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("text.paper.textproto"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("only task, model and use_tier"), std::string::npos);

  repo.Write("models/s4/configs/image.paper.textproto",
             "task: \"image\"\nmodel: \"s4\"\nuse_tier: \"v3\"\n");
  repo.Write("models/s4/configs/image.v3.textproto",
             "task: \"image\"\nmodel: \"s4\"\nuse_tier: \"v4\"\n");
  c = ResolveRunConfig("image", "s4", "paper", RunConfig());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("one level only"), std::string::npos) << c.status();

  repo.Write("models/s4/configs/pathx.paper.textproto",
             "task: \"pathx\"\nmodel: \"s4\"\nuse_tier: \"v9\"\n");
  c = ResolveRunConfig("pathx", "s4", "paper", RunConfig());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("pathx.v9.textproto"), std::string::npos) << c.status();
}

TEST(Config, RecipeSetsUseThePaperDefaults) {
  EXPECT_TRUE(IsRecipeSet("v3"));
  EXPECT_TRUE(IsRecipeSet("v4"));
  EXPECT_FALSE(IsRecipeSet("paper"));
  EXPECT_EQ(ConfigLayers("listops", "s4d", "v4")[0], "harness/configs/paper.textproto");
  EXPECT_EQ(ConfigLayers("listops", "s4d", "v4")[1], "models/s4d/configs/listops.v4.textproto");
  EXPECT_EQ(ConfigLayers("listops", "s4d", "small")[0], "harness/configs/small.textproto");
}

RunConfig ValidConfig() {
  RunConfig c;
  c.set_task("listops");
  c.set_model("s4d");
  c.set_tier("smoke");
  TrainConfig* t = c.mutable_train();
  t->set_batch_size(8);
  t->set_steps(10);
  t->set_lr(0.01);
  t->set_eval_every(5);
  t->set_optimizer("adamw");
  return c;
}

// Issue 11 item 8: every out-of-range field is refused with its name and allowed range.
TEST(Config, EveryFieldIsRangeChecked) {
  ASSERT_TRUE(ValidateRunConfig(ValidConfig()).ok()) << ValidateRunConfig(ValidConfig());
  struct Case {
    const char* set;
    const char* field;
    const char* range;
  };
  const Case cases[] = {
      {"max_length=-5", "max_length = -5", "[0, inf)"},
      {"train.log_every=-1", "train.log_every = -1", "[0, 1e+12]"},
      {"train.warmup_steps=-100", "train.warmup_steps = -100", "[0, 1e+12]"},
      {"train.eval_examples=-5", "train.eval_examples = -5", "[0, inf)"},
      {"train.batch_size=0", "train.batch_size = 0", "[1, inf]"},
      {"train.steps=-3", "train.steps = -3", "[1, 1e+12]"},
      {"train.lr=0", "train.lr = 0", "(0, inf]"},
      {"train.lr=nan", "train.lr = nan", "(0, inf]"},
      {"train.beta1=1", "train.beta1 = 1", "[0, 1)"},
      {"train.beta2=-0.5", "train.beta2 = -0.5", "[0, 1)"},
      {"train.eps=-1", "train.eps = -1", "[0, inf)"},
      {"train.weight_decay=inf", "train.weight_decay = inf", "[0, inf)"},
      {"train.grad_clip=-1", "train.grad_clip = -1", "[0, inf)"},
      {"train.eval_every=0", "train.eval_every = 0", "[1, 1e+12]"},
      {"train.train_examples=-1", "train.train_examples = -1", "[0, inf)"},
      {"train.checkpoint_every=-2", "train.checkpoint_every = -2", "[0, 1e+12]"},
      {"train.max_minutes=-1", "train.max_minutes = -1", "[0, inf)"},
  };
  for (const Case& c : cases) {
    RunConfig config = ValidConfig();
    ASSERT_TRUE(ApplyOverride(c.set, &config).ok()) << c.set;
    absl::Status s = ValidateRunConfig(config);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.set;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << c.set << ": " << s;
    EXPECT_NE(s.message().find(c.range), std::string::npos) << c.set << ": " << s;
  }
  RunConfig config = ValidConfig();
  config.mutable_train()->set_optimizer("sgd");
  EXPECT_NE(ValidateRunConfig(config).message().find("train.optimizer"), std::string::npos);
  // The documented special values stay valid.
  config = ValidConfig();
  ASSERT_TRUE(ApplyOverride("train.log_every=0", &config).ok());
  ASSERT_TRUE(ApplyOverride("train.eval_examples=0", &config).ok());
  ASSERT_TRUE(ApplyOverride("max_length=0", &config).ok());
  ASSERT_TRUE(ApplyOverride("train.lr=inf", &config).ok());
  EXPECT_TRUE(ValidateRunConfig(config).ok()) << ValidateRunConfig(config);
}

}  // namespace
}  // namespace lra::harness

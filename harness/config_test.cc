#include "harness/config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness/paths.h"

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

constexpr char kDir[] = "models/m/configs";

// Tier defaults, then the model's base for the tier, then the task's override (only what it
// changes), then the caller's overrides: later layers win per field, and per option name.
TEST(Config, BaseAndTaskOverrideCompose) {
  FakeRepo repo("compose");
  repo.Write("harness/tiers/small.textproto",
             "train { lr: 0.003 steps: 600 seed: 1 }\n");
  repo.Write("models/m/configs/small.textproto",
             "model_option: \"d_model=64\"\nmodel_option: \"n_layers=2\"\n"
             "train { steps: 300 batch_size: 16 }\n");
  repo.Write("models/m/configs/text.small.textproto",
             "max_length: 1024\nmodel_option: \"d_model=32\"\ntrain { lr: 0.01 }\n");
  RunConfig overrides;
  overrides.add_model_option("n_layers=3");
  absl::StatusOr<RunConfig> c = ResolveRunConfigIn(kDir, "text", "m", "small", overrides);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->task(), "text");
  EXPECT_EQ(c->model(), "m");
  EXPECT_EQ(c->tier(), "small");
  EXPECT_EQ(c->max_length(), 1024);
  EXPECT_DOUBLE_EQ(c->train().lr(), 0.01);     // override over tier defaults
  EXPECT_EQ(c->train().steps(), 300);          // base over tier defaults
  EXPECT_EQ(c->train().batch_size(), 16);      // base
  EXPECT_EQ(c->train().seed(), 1u);            // tier defaults
  absl::StatusOr<std::map<std::string, std::string>> options = ModelOptionMap(*c);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->at("d_model"), "32");     // the task's override of the base
  EXPECT_EQ(options->at("n_layers"), "3");     // the caller's override of the base

  // A task without an override gets the base as is.
  c = ResolveRunConfigIn(kDir, "image", "m", "small", RunConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->has_max_length());
  EXPECT_DOUBLE_EQ(c->train().lr(), 0.003);
  options = ModelOptionMap(*c);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->at("d_model"), "64");
  EXPECT_EQ(ConfigTiers(kDir), std::vector<std::string>{"small"});
  EXPECT_EQ(ConfigNames(kDir), (std::vector<std::string>{"small", "text.small"}));
}

TEST(Config, MissingBaseOrTierListsWhatExists) {
  FakeRepo repo("missing");
  repo.Write("harness/tiers/small.textproto", "");
  repo.Write("harness/tiers/smoke.textproto", "");
  repo.Write("models/m/configs/small.textproto", "");
  repo.Write("models/m/configs/text.small.textproto", "");
  absl::StatusOr<RunConfig> c = ResolveRunConfigIn(kDir, "text", "m", "smoke", RunConfig());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("models/m/configs/smoke.textproto"), std::string::npos)
      << c.status();
  EXPECT_NE(c.status().message().find("Its configs: small, text.small"), std::string::npos)
      << c.status();
  c = ResolveRunConfigIn(kDir, "text", "m", "huge", RunConfig());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("unknown tier 'huge'"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("Tiers: small, smoke"), std::string::npos) << c.status();
}

TEST(Config, AFileThatNamesTheRunIsAnError) {
  FakeRepo repo("identity");
  repo.Write("harness/tiers/small.textproto", "");
  repo.Write("models/m/configs/small.textproto", "");
  repo.Write("models/m/configs/text.small.textproto", "task: \"image\"\n");
  absl::StatusOr<RunConfig> c = ResolveRunConfigIn(kDir, "text", "m", "small", RunConfig());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("text.small.textproto: sets `task`"), std::string::npos)
      << c.status();
}

// The paper tier's S4 base names a recipe set ("use_tier"); the harness reads that set's base
// and task override in its place, with the paper tier's defaults, and keeps the tier the user
// asked for.
TEST(Config, UseTierReadsTheNamedRecipeSet) {
  FakeRepo repo("use_tier");
  repo.Write("harness/tiers/paper.textproto", "train { seed: 1 eval_examples: 0 }\n");
  repo.Write("models/m/configs/paper.textproto", "use_tier: \"v3\"\n");
  repo.Write("models/m/configs/v3.textproto",
             "model_option: \"n_layers=6\"\nmodel_option: \"d_state=64\"\n"
             "train { steps: 1000 schedule_steps: 50000 }\n");
  repo.Write("models/m/configs/listops.v3.textproto",
             "recipe: \"o/r@abc:x.yaml\"\nmodel_option: \"n_layers=8\"\n"
             "train { steps: 76800 schedule_steps: 80000 }\n");
  for (const char* tier : {"paper", "v3"}) {
    SCOPED_TRACE(tier);
    absl::StatusOr<RunConfig> c = ResolveRunConfigIn(kDir, "listops", "m", tier, RunConfig());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->tier(), tier);
    EXPECT_EQ(c->recipe(), "o/r@abc:x.yaml");
    EXPECT_FALSE(c->has_use_tier());
    EXPECT_EQ(c->train().seed(), 1u);  // the paper defaults, for the recipe set too
    EXPECT_EQ(c->train().steps(), 76800);
    EXPECT_EQ(c->train().schedule_steps(), 80000);
    absl::StatusOr<std::map<std::string, std::string>> options = ModelOptionMap(*c);
    ASSERT_TRUE(options.ok());
    EXPECT_EQ(options->at("n_layers"), "8");
    EXPECT_EQ(options->at("d_state"), "64");
  }
}

TEST(Config, UseTierWithOtherFieldsChainsOrOverridesIsAnError) {
  FakeRepo repo("use_tier_bad");
  repo.Write("harness/tiers/paper.textproto", "");
  repo.Write("models/a/configs/paper.textproto", "use_tier: \"v3\"\ntrain { lr: 0.1 }\n");
  repo.Write("models/a/configs/v3.textproto", "");
  absl::StatusOr<RunConfig> c = ResolveRunConfigIn("models/a/configs", "text", "a", "paper",
                                                   RunConfig());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("paper.textproto: a base with use_tier may set nothing "
                                      "else"),
            std::string::npos)
      << c.status();

  repo.Write("models/b/configs/paper.textproto", "use_tier: \"v3\"\n");
  repo.Write("models/b/configs/v3.textproto", "use_tier: \"v4\"\n");
  c = ResolveRunConfigIn("models/b/configs", "image", "b", "paper", RunConfig());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("one level only"), std::string::npos) << c.status();

  repo.Write("models/c/configs/paper.textproto", "use_tier: \"v9\"\n");
  c = ResolveRunConfigIn("models/c/configs", "pathx", "c", "paper", RunConfig());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("models/c/configs/v9.textproto"), std::string::npos)
      << c.status();

  // A task override beside a use_tier base would never be read.
  repo.Write("models/d/configs/paper.textproto", "use_tier: \"v3\"\n");
  repo.Write("models/d/configs/v3.textproto", "");
  repo.Write("models/d/configs/text.paper.textproto", "max_length: 9\n");
  c = ResolveRunConfigIn("models/d/configs", "text", "d", "paper", RunConfig());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("text.paper.textproto is never read"), std::string::npos)
      << c.status();
  EXPECT_NE(c.status().message().find("text.v3.textproto"), std::string::npos) << c.status();

  // use_tier in a task override is refused: it belongs in the base.
  repo.Write("models/e/configs/paper.textproto", "");
  repo.Write("models/e/configs/text.paper.textproto", "use_tier: \"v3\"\n");
  c = ResolveRunConfigIn("models/e/configs", "text", "e", "paper", RunConfig());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("use_tier belongs in the tier's base"), std::string::npos)
      << c.status();
}

TEST(Config, RecipeSetsUseThePaperDefaults) {
  EXPECT_TRUE(IsRecipeSet("v3"));
  EXPECT_TRUE(IsRecipeSet("v4"));
  EXPECT_FALSE(IsRecipeSet("paper"));
  const std::vector<std::string> layers = ConfigLayers("listops", "models/s4/configs/s4d", "v4");
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0], "harness/tiers/paper.textproto");
  EXPECT_EQ(layers[1], "models/s4/configs/s4d/v4.textproto");
  EXPECT_EQ(layers[2], "models/s4/configs/s4d/listops.v4.textproto");
  EXPECT_EQ(ConfigLayers("listops", "models/s4/configs/s4d", "small")[0],
            "harness/tiers/small.textproto");
}

// A model's configs live where its registration says; an unknown model lists the registered
// ones (none are linked into this test).
TEST(Config, UnknownModelIsNamed) {
  absl::StatusOr<RunConfig> c = ResolveRunConfig("text", "nosuchmodel", "small", RunConfig());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("unknown model 'nosuchmodel'"), std::string::npos)
      << c.status();
}

// Outside any source tree for the life of the object: no Bazel variables, and a working
// directory without harness/tiers (a binary started from anywhere, or installed).
class NoSourceTree {
 public:
  NoSourceTree() : old_cwd_(std::filesystem::current_path()) {
    for (const char* name : {"TEST_SRCDIR", "BUILD_WORKSPACE_DIRECTORY"}) {
      if (const char* v = std::getenv(name)) saved_[name] = v;
      unsetenv(name);
    }
    std::filesystem::path dir = std::filesystem::path(std::getenv("TEST_TMPDIR")) / "elsewhere";
    std::filesystem::create_directories(dir);
    std::filesystem::current_path(dir);
  }
  ~NoSourceTree() {
    std::filesystem::current_path(old_cwd_);
    for (const auto& [name, value] : saved_) setenv(name.c_str(), value.c_str(), 1);
  }

 private:
  std::filesystem::path old_cwd_;
  std::map<std::string, std::string> saved_;
};

// With no source tree, names resolve to the configs compiled into the binary (:embedded_configs,
// linked into this test as into lra): the tiers, every model's configs and the suites.
TEST(Config, OutsideASourceTreeTheEmbeddedConfigsAreRead) {
  NoSourceTree outside;
  EXPECT_EQ(SourceTree(), "");
  EXPECT_EQ(ConfigTiers("harness/tiers"), (std::vector<std::string>{"paper", "small", "smoke"}));
  const std::vector<std::string> bag = ConfigNames("models/bag/configs");
  EXPECT_NE(std::find(bag.begin(), bag.end(), "pathx.smoke"), bag.end());
  // Sub-folders are not files of the folder: s4's configs are in configs/s4 and configs/s4d.
  EXPECT_TRUE(ConfigNames("models/s4/configs").empty());
  EXPECT_EQ(ConfigTiers("models/s4/configs/s4d"),
            (std::vector<std::string>{"paper", "small", "smoke", "v3", "v4"}));

  // bag's smoke base over the smoke tier (harness/tiers/smoke.textproto: steps 12, seed 1;
  // models/bag/configs/smoke.textproto: steps 20, d_model=16).
  absl::StatusOr<RunConfig> c =
      ResolveRunConfigIn("models/bag/configs", "listops", "bag", "smoke", RunConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->train().steps(), 20);
  EXPECT_EQ(c->train().seed(), 1u);
  absl::StatusOr<std::map<std::string, std::string>> options = ModelOptionMap(*c);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->at("d_model"), "16");

  c = ResolveRunConfigIn("models/bag/configs", "listops", "bag", "huge", RunConfig());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("Tiers: paper, small, smoke;"), std::string::npos)
      << c.status();
  EXPECT_NE(c.status().message().find("embedded in this binary"), std::string::npos)
      << c.status();

  absl::StatusOr<Suite> suite = LoadSuite("smoke");
  ASSERT_TRUE(suite.ok()) << suite.status();
  EXPECT_EQ(suite->name(), "smoke");
  suite = LoadSuite("no_such_suite");
  EXPECT_NE(suite.status().message().find("Suites: paper, quick, smoke,"), std::string::npos)
      << suite.status();
}

// Inside a source tree its files are the configs, although the binary embeds others: a tier the
// tree lacks is unknown, and an edited file is read as it is now.
TEST(Config, InASourceTreeItsFilesWinOverTheEmbeddedOnes) {
  FakeRepo repo("tree_wins");
  repo.Write("harness/tiers/smoke.textproto", "train { steps: 3 }\n");
  repo.Write("models/bag/configs/smoke.textproto", "");
  absl::StatusOr<RunConfig> c =
      ResolveRunConfigIn("models/bag/configs", "listops", "bag", "smoke", RunConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->train().steps(), 3);
  EXPECT_EQ(ConfigTiers("harness/tiers"), std::vector<std::string>{"smoke"});
  EXPECT_EQ(ConfigNames("models/bag/configs"), std::vector<std::string>{"smoke"});
  c = ResolveRunConfigIn("models/bag/configs", "listops", "bag", "paper", RunConfig());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("Tiers: smoke;"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("the source tree"), std::string::npos) << c.status();
}

// A working directory holding harness/tiers is a source tree (lra started in the repository
// root); one without is not.
TEST(Config, TheWorkingDirectoryIsASourceTreeWhenItHoldsTheTiers) {
  NoSourceTree outside;
  const std::filesystem::path tree =
      std::filesystem::path(std::getenv("TEST_TMPDIR")) / "cwd_tree";
  std::filesystem::create_directories(tree / "harness" / "tiers");
  std::ofstream(tree / "harness" / "tiers" / "mine.textproto") << "train { steps: 7 }\n";
  const std::filesystem::path before = std::filesystem::current_path();
  std::filesystem::current_path(tree);
  EXPECT_EQ(SourceTree(), tree.string());
  EXPECT_EQ(ConfigTiers("harness/tiers"), std::vector<std::string>{"mine"});
  std::filesystem::current_path(before);
  EXPECT_EQ(SourceTree(), "");
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

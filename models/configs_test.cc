// Every registered model's configs (harness/config.h: tier defaults, the model's base per tier,
// optional per-task overrides), for every task of the task specs: each (model, task, tier)
// resolves, uses only options the model declares with values of the right type, and builds a
// model (so option combinations the model rejects are caught here, not in a run). The models,
// tasks and tiers come from the registry, tasks/specs.h and the config folders; a new model,
// task or tier is covered without editing this file.
#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
// Test-only: the config resolution (models/ code never depends on harness/; only this check
// does).
#include "harness/config.h"
#include "models/registry.h"
#include "models/testing/spec_task.h"
#include "tasks/specs.h"

namespace lra::models {
namespace {

// The tiers every model must have a base for (harness/tiers/*.textproto).
std::vector<std::string> Tiers() { return harness::ConfigTiers("harness/tiers"); }

std::map<std::string, std::string> OptionMap(const harness::RunConfig& config) {
  absl::StatusOr<std::map<std::string, std::string>> options = harness::ModelOptionMap(config);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : std::map<std::string, std::string>();
}

TEST(ConfigsTest, TheTiersAndTasksExist) {
  EXPECT_EQ(Tiers(), (std::vector<std::string>{"paper", "small", "smoke"}));
  EXPECT_FALSE(tasks::ListTasks().empty());
  EXPECT_FALSE(AllModels().empty());
}

TEST(ConfigsTest, EveryModelTaskAndTierResolvesAndBuilds) {
  for (const ModelInfo* info : AllModels()) {
    const std::string dir = ConfigsDir(*info);
    const std::vector<std::string> tiers = harness::ConfigTiers(dir);
    for (const std::string& tier : Tiers()) {
      EXPECT_NE(std::find(tiers.begin(), tiers.end(), tier), tiers.end())
          << info->name << " has no " << dir << "/" << tier << ".textproto";
    }
    for (const std::string& tier : tiers) {
      for (const std::string& task : tasks::ListTasks()) {
        SCOPED_TRACE(info->name + " x " + task + " x " + tier);
        absl::StatusOr<harness::RunConfig> config =
            harness::ResolveRunConfig(task, info->name, tier, harness::RunConfig());
        ASSERT_TRUE(config.ok()) << config.status();
        EXPECT_TRUE(harness::ValidateRunConfig(*config).ok())
            << harness::ValidateRunConfig(*config);
        absl::StatusOr<Options> opts = Options::Make(info->options, OptionMap(*config));
        ASSERT_TRUE(opts.ok()) << opts.status();
        absl::StatusOr<TaskInfo> ti =
            testing::TaskInfoFromSpec(task, config->encoding(), config->max_length());
        ASSERT_TRUE(ti.ok()) << ti.status();
        absl::StatusOr<std::unique_ptr<Model>> m = info->create(*ti, *opts, 1);
        EXPECT_TRUE(m.ok()) << m.status();
      }
    }
  }
}

// Every file in a model's config folder is a base "<tier>" (a tier or a recipe set) or an
// override "<task>.<tier>" of a known task at a tier the model has a base for.
TEST(ConfigsTest, NoStrayConfigFiles) {
  const std::vector<std::string> task_list = tasks::ListTasks();
  const std::set<std::string> task_names(task_list.begin(), task_list.end());
  const std::vector<std::string> tier_list = Tiers();
  const std::set<std::string> tier_names(tier_list.begin(), tier_list.end());
  for (const ModelInfo* info : AllModels()) {
    const std::string dir = ConfigsDir(*info);
    const std::vector<std::string> model_tiers = harness::ConfigTiers(dir);
    for (const std::string& name : harness::ConfigNames(dir)) {
      SCOPED_TRACE(dir + "/" + name + ".textproto");
      std::vector<std::string> parts = absl::StrSplit(name, '.');
      ASSERT_LE(parts.size(), 2u);
      if (parts.size() == 1) {
        EXPECT_TRUE(tier_names.count(name) || harness::IsRecipeSet(name)) << "unknown tier";
        continue;
      }
      EXPECT_TRUE(task_names.count(parts[0])) << "unknown task";
      EXPECT_NE(std::find(model_tiers.begin(), model_tiers.end(), parts[1]), model_tiers.end())
          << "an override of a tier without a base";
    }
  }
}

// A paper config that copies an upstream recipe names it (repository@commit:path). A model's
// paper base that says use_tier names a recipe set, every task of which names its recipe.
TEST(ConfigsTest, PaperConfigsNameTheirRecipe) {
  const std::regex recipe(
      R"(^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{7}:[^ ]+\.(yaml|py)( \+ [^ ]+\.(yaml|py))*)"
      R"(( \(applied to Fashion-MNIST\))?$)");
  for (const ModelInfo* info : AllModels()) {
    for (const std::string& tier : harness::ConfigTiers(ConfigsDir(*info))) {
      if (tier != "paper" && !harness::IsRecipeSet(tier)) continue;
      for (const std::string& task : tasks::ListTasks()) {
        SCOPED_TRACE(info->name + " x " + task + " x " + tier);
        absl::StatusOr<harness::RunConfig> config =
            harness::ResolveRunConfig(task, info->name, tier, harness::RunConfig());
        ASSERT_TRUE(config.ok()) << config.status();
        if (harness::IsRecipeSet(tier)) EXPECT_FALSE(config->recipe().empty());
        if (!config->recipe().empty()) {
          EXPECT_TRUE(std::regex_match(config->recipe(), recipe)) << config->recipe();
        }
      }
    }
  }
}

// The S4 family's paper tier is the v3 recipe set: the S4 (updated) row (S4 arXiv v3, Tables 4
// and 10) and the S4D rows were produced by the V3 repository (state-spaces/s4@d589d98); the
// Transformer's paper configs are LRA's release configs (google-research/long-range-arena
// @cd31e5c). Expectations about these configs' content, not a list of models to cover.
TEST(ConfigsTest, PaperRecipesComeFromTheReleasesBehindThePublishedRows) {
  const std::map<std::string, std::string> commit = {
      {"s4", "@d589d98:"}, {"s4d", "@d589d98:"}, {"transformer", "@cd31e5c:"}};
  for (const auto& [model, at] : commit) {
    for (const std::string& task : tasks::ListTasks()) {
      SCOPED_TRACE(model + " x " + task);
      absl::StatusOr<harness::RunConfig> config =
          harness::ResolveRunConfig(task, model, "paper", harness::RunConfig());
      ASSERT_TRUE(config.ok()) << config.status();
      EXPECT_NE(config->recipe().find(at), std::string::npos) << config->recipe();
    }
    for (const char* set : {"v3", "v4"}) {
      if (model == "transformer") continue;
      absl::StatusOr<harness::RunConfig> config =
          harness::ResolveRunConfig("listops", model, set, harness::RunConfig());
      ASSERT_TRUE(config.ok()) << config.status();
      EXPECT_NE(config->recipe().find(std::string(set) == "v3" ? "@d589d98:" : "@e757cef:"),
                std::string::npos)
          << config->recipe();
    }
  }
}

// The values that tell the V3 recipes (behind the published rows) from the V4 ones (the
// repository today), checked in both sets for S4 and S4D.
TEST(ConfigsTest, RecipeSetsCarryTheirUpstreamValues) {
  struct Expect {
    const char* tier;
    const char* task;
    std::map<std::string, std::string> options;
    int batch;
    int64_t steps, warmup, schedule_steps;
    double lr, weight_decay;
  };
  const std::vector<Expect> expects = {
      // V3 ListOps: 8 x 128, N = 64, one SSM per channel, batch 50, 40 epochs of 1920 steps
      // under an 80k-step cosine with the default 1000 warmup steps; dt stored as log(dt).
      {"v3", "listops", {{"n_layers", "8"}, {"d_model", "128"}, {"d_state", "64"}, {"n_ssm", "0"},
        {"dt_transform", "exp"}, {"block_version", "v3"}, {"lr_dt", "-1"}, {"no_decay", "none"}},
       50, 76800, 1000, 80000, 0.01, 0.05},
      {"v3", "text", {{"d_state", "64"}, {"n_ssm", "0"}, {"prenorm", "true"}}, 16, 49984, 1000,
       50000, 0.01, 0.05},
      {"v3", "retrieval", {{"d_state", "64"}, {"n_ssm", "0"}}, 64, 45960, 2500, 50000, 0.01, 0.05},
      {"v3", "image", {{"norm", "layer"}, {"n_ssm", "2"}, {"d_model", "512"},
        {"pixel_norm", "s4_cifar"}, {"dropout", "0.1"}},
       50, 180000, 1000, 200000, 0.01, 0.05},
      {"v3", "pathfinder", {{"pool", "last"}, {"lr_dt", "0.001"}, {"lr_c", "-1"},
        {"pixel_norm", "center"}}, 64, 500000,
       2500, 500000, 0.004, 0.03},
      {"v3", "pathx", {{"lr_ssm", "0.0005"}, {"lr_dt", "0.0005"}, {"dt_min", "0.0001"}}, 16,
       500000, 10000, 500000, 0.0005, 0.05},
      {"v4", "listops", {{"n_layers", "6"}, {"d_model", "256"}, {"d_state", "4"}, {"n_ssm", "1"},
        {"dt_transform", "softplus"}, {"block_version", "v4"},
        {"no_decay", "backbone_biases_norms"}},
       32, 120000, 12000, 120000, 0.01, 0.05},
      {"v4", "image", {{"norm", "batch"}, {"n_ssm", "1"}, {"lr_c", "0.001"}}, 50, 180000, 18000,
       180000, 0.01, 0.05},
      {"v4", "pathx", {{"pool", "mean"}, {"lr_c", "0.001"}, {"pixel_norm", "unit"}}, 16, 500000,
       50000, 500000, 0.001,
       0.05},
  };
  for (const char* model : {"s4", "s4d"}) {
    for (const Expect& e : expects) {
      SCOPED_TRACE(std::string(model) + " x " + e.task + " x " + e.tier);
      absl::StatusOr<harness::RunConfig> config =
          harness::ResolveRunConfig(e.task, model, e.tier, harness::RunConfig());
      ASSERT_TRUE(config.ok()) << config.status();
      const std::map<std::string, std::string> options = OptionMap(*config);
      for (const auto& [name, value] : e.options) {
        ASSERT_TRUE(options.count(name)) << name;
        EXPECT_EQ(options.at(name), value) << name;
      }
      EXPECT_EQ(config->train().batch_size(), e.batch);
      EXPECT_EQ(config->train().steps(), e.steps);
      EXPECT_EQ(config->train().warmup_steps(), e.warmup);
      EXPECT_EQ(config->train().schedule_steps(), e.schedule_steps);
      EXPECT_DOUBLE_EQ(config->train().lr(), e.lr);
      EXPECT_DOUBLE_EQ(config->train().weight_decay(), e.weight_decay);
      if (std::string(model) == "s4d") {
        // S4D-Inv; the diagonal kernel's default discretization of each code version.
        EXPECT_EQ(options.at("init"), "inv");
        EXPECT_EQ(options.at("disc"), std::string(e.tier) == "v3" ? "bilinear" : "zoh");
      }
    }
  }
}

// Pixel encodings: S4 and S4D never mask (`nomask`); the LRA Transformer masks black pixels
// (`lra`: google-research/long-range-arena cd31e5c lra_benchmarks/models/transformer/
// transformer.py line 148, `inputs > 0`) in every tier, and its paper configs carry LRA's
// attention dropout (0.2 in image/configs/cifar10/base_cifar10_config.py line 53, 0.1 elsewhere).
TEST(ConfigsTest, PixelEncodingsAndAttentionDropout) {
  const std::map<std::string, std::string> pixel_encoding = {
      {"s4", "nomask"}, {"s4d", "nomask"}, {"transformer", "lra"}};
  for (const std::string& task : tasks::ListTasks()) {
    absl::StatusOr<const tasks::TaskSpec*> spec = tasks::GetTaskSpec(task);
    ASSERT_TRUE(spec.ok()) << spec.status();
    for (const auto& [model, encoding] : pixel_encoding) {
      absl::StatusOr<std::string> dir = harness::ModelConfigsDir(model);
      ASSERT_TRUE(dir.ok()) << dir.status();
      for (const std::string& tier : harness::ConfigTiers(*dir)) {
        SCOPED_TRACE(model + " x " + task + " x " + tier);
        absl::StatusOr<harness::RunConfig> config =
            harness::ResolveRunConfig(task, model, tier, harness::RunConfig());
        ASSERT_TRUE(config.ok()) << config.status();
        if ((*spec)->image_height() > 0) EXPECT_EQ(config->encoding(), encoding);
        if (model != "transformer" || tier != "paper") continue;
        const bool cifar_recipe = task == "image" || task == "fashion_mnist";
        const std::map<std::string, std::string> options = OptionMap(*config);
        ASSERT_TRUE(options.count("attention_dropout"));
        EXPECT_EQ(options.at("attention_dropout"), cifar_recipe ? "0.2" : "0.1");
      }
    }
  }
}

}  // namespace
}  // namespace lra::models

// Every models/<model>/configs/<task>.<tier>.textproto parses as an lra.harness.RunConfig, names
// its own task and model, uses only options the model declares with values of the right type,
// and builds a model (so option combinations the model rejects are caught here, not in a run).
// Every (model, task, tier) combination exists; S4 and S4D also have the recipe sets v3 and v4.
#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>

#include "absl/strings/str_split.h"
#include "core/base/textproto.h"
#include "gtest/gtest.h"
#include "harness/config.pb.h"
#include "models/registry.h"

namespace lra::models {
namespace {

struct TaskDefaults {
  int vocab, classes, max_length;
  bool pair, pixels;
};
// Shapes of the tasks (tasks/*/spec.textproto); vocabularies are upper bounds.
const std::map<std::string, TaskDefaults> kTasks = {
    {"listops", {20, 10, 2048, false, false}},  {"text", {257, 2, 4096, false, false}},
    {"retrieval", {257, 2, 4000, true, false}}, {"image", {256, 10, 1024, false, true}},
    {"pathfinder", {256, 2, 1024, false, true}}, {"pathx", {256, 2, 16384, false, true}},
    {"fashion_mnist", {256, 10, 784, false, true}},
};

bool IsS4(const std::string& model) { return model == "s4" || model == "s4d"; }

// The tiers a model has files for: every model paper, small, smoke; S4 and S4D also the recipe
// sets v3 and v4 (harness/config.h IsRecipeSet).
std::vector<std::string> Tiers(const std::string& model) {
  std::vector<std::string> tiers = {"paper", "small", "smoke"};
  if (IsS4(model)) tiers.insert(tiers.end(), {"v3", "v4"});
  return tiers;
}

std::string ConfigPath(const std::string& model, const std::string& task, const std::string& tier) {
  return "models/" + model + "/configs/" + task + "." + tier + ".textproto";
}

// Parses a config file, following one use_tier (as harness::ResolveRunConfig does).
absl::Status ReadConfig(const std::string& model, const std::string& task,
                        const std::string& tier, harness::RunConfig* config) {
  absl::Status st = ParseTextProtoFile(ConfigPath(model, task, tier), config);
  if (!st.ok() || !config->has_use_tier()) return st;
  const std::string used = config->use_tier();
  config->Clear();
  return ParseTextProtoFile(ConfigPath(model, task, used), config);
}

std::map<std::string, std::string> OptionMap(const harness::RunConfig& config) {
  std::map<std::string, std::string> options;
  for (const std::string& kv : config.model_option()) {
    std::vector<std::string> parts = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    options[parts[0]] = parts.size() == 2 ? parts[1] : "";
  }
  return options;
}

TEST(ConfigsTest, EveryConfigParsesAndBuilds) {
  int files = 0;
  for (const char* model : {"bag", "s4", "s4d", "transformer"}) {
    const ModelInfo* info = FindModel(model);
    ASSERT_NE(info, nullptr) << model;
    for (const std::string& tier : Tiers(model)) {
      for (const auto& [task, td] : kTasks) {
        const std::string path = ConfigPath(model, task, tier);
        SCOPED_TRACE(path);
        harness::RunConfig config;
        absl::Status st = ReadConfig(model, task, tier, &config);
        ASSERT_TRUE(st.ok()) << st;
        ++files;
        EXPECT_EQ(config.task(), task);
        EXPECT_EQ(config.model(), model);
        for (const std::string& kv : config.model_option()) {
          ASSERT_NE(kv.find('='), std::string::npos) << kv;
        }
        const std::map<std::string, std::string> options = OptionMap(config);
        absl::StatusOr<Options> opts = Options::Make(info->options, options);
        ASSERT_TRUE(opts.ok()) << opts.status();
        TaskInfo ti{task, td.vocab, 0, td.classes,
                    config.max_length() > 0 ? config.max_length() : td.max_length, td.pair,
                    td.pixels, "mean"};
        // The pixel tasks' default encoding is `lra`, whose pad tokens are masked keys.
        ti.mask_pad_tokens = td.pixels && config.encoding() != "nomask";
        auto m = info->create(ti, *opts, 1);
        EXPECT_TRUE(m.ok()) << m.status();
      }
    }
  }
  EXPECT_EQ(files, 4 * 3 * 7 + 2 * 2 * 7);
}

// Every paper config names the upstream recipe it copies (repository@commit:path), and the S4 and
// S4D paper configs are the v3 recipe set: the S4 (updated) row (S4 arXiv v3, Tables 4 and 10)
// and the S4D rows were produced by the V3 repository (state-spaces/s4@d589d98).
TEST(ConfigsTest, PaperConfigsNameTheRecipeOfTheirPublishedRow) {
  const std::regex recipe(
      R"(^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{7}:[^ ]+\.(yaml|py)( \+ [^ ]+\.(yaml|py))*)"
      R"(( \(applied to Fashion-MNIST\))?$)");
  for (const char* model : {"s4", "s4d", "transformer"}) {
    for (const std::string& tier : Tiers(model)) {
      if (tier == "small" || tier == "smoke") continue;
      for (const auto& [task, td] : kTasks) {
        SCOPED_TRACE(ConfigPath(model, task, tier));
        harness::RunConfig direct;
        ASSERT_TRUE(ParseTextProtoFile(ConfigPath(model, task, tier), &direct).ok());
        if (IsS4(model) && tier == "paper") {
          EXPECT_EQ(direct.use_tier(), "v3");
        }
        harness::RunConfig config;
        ASSERT_TRUE(ReadConfig(model, task, tier, &config).ok());
        EXPECT_TRUE(std::regex_match(config.recipe(), recipe)) << config.recipe();
        const std::string commit = tier == "v3" || (IsS4(model) && tier == "paper") ? "@d589d98:"
                                   : tier == "v4"                                  ? "@e757cef:"
                                                                                   : "@cd31e5c:";
        EXPECT_NE(config.recipe().find(commit), std::string::npos) << config.recipe();
      }
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
      SCOPED_TRACE(ConfigPath(model, e.task, e.tier));
      harness::RunConfig config;
      ASSERT_TRUE(ReadConfig(model, e.task, e.tier, &config).ok());
      const std::map<std::string, std::string> options = OptionMap(config);
      for (const auto& [name, value] : e.options) {
        ASSERT_TRUE(options.count(name)) << name;
        EXPECT_EQ(options.at(name), value) << name;
      }
      EXPECT_EQ(config.train().batch_size(), e.batch);
      EXPECT_EQ(config.train().steps(), e.steps);
      EXPECT_EQ(config.train().warmup_steps(), e.warmup);
      EXPECT_EQ(config.train().schedule_steps(), e.schedule_steps);
      EXPECT_DOUBLE_EQ(config.train().lr(), e.lr);
      EXPECT_DOUBLE_EQ(config.train().weight_decay(), e.weight_decay);
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
  for (const auto& [task, td] : kTasks) {
    for (const char* model : {"s4", "s4d", "transformer"}) {
      for (const std::string& tier : Tiers(model)) {
        const std::string path = ConfigPath(model, task, tier);
        SCOPED_TRACE(path);
        harness::RunConfig config;
        ASSERT_TRUE(ReadConfig(model, task, tier, &config).ok());
        if (td.pixels) {
          EXPECT_EQ(config.encoding(), std::string(model) == "transformer" ? "lra" : "nomask");
        }
        if (std::string(model) != "transformer" || tier != "paper") continue;
        const bool cifar_recipe = task == "image" || task == "fashion_mnist";
        bool found = false;
        for (const std::string& kv : config.model_option()) {
          if (kv.rfind("attention_dropout=", 0) != 0) continue;
          found = true;
          EXPECT_EQ(kv, cifar_recipe ? "attention_dropout=0.2" : "attention_dropout=0.1");
        }
        EXPECT_TRUE(found);
      }
    }
  }
}

TEST(ConfigsTest, NoStrayConfigFiles) {
  for (const char* model : {"bag", "s4", "s4d", "transformer"}) {
    for (const auto& e : std::filesystem::directory_iterator(std::string("models/") + model + "/configs")) {
      const std::string name = e.path().filename().string();
      std::vector<std::string> parts = absl::StrSplit(name, '.');
      ASSERT_EQ(parts.size(), 3u) << name;
      EXPECT_TRUE(kTasks.count(parts[0])) << name;
      const std::vector<std::string> tiers = Tiers(model);
      EXPECT_NE(std::find(tiers.begin(), tiers.end(), parts[1]), tiers.end()) << name;
      EXPECT_EQ(parts[2], "textproto") << name;
    }
  }
}

}  // namespace
}  // namespace lra::models

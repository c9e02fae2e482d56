// Every models/<model>/configs/<task>.<tier>.textproto parses as an lra.harness.RunConfig, names
// its own task and model, uses only options the model declares with values of the right type,
// and builds a model (so option combinations the model rejects are caught here, not in a run).
// Every (model, task, tier) combination exists.
#include <filesystem>
#include <map>

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

TEST(ConfigsTest, EveryConfigParsesAndBuilds) {
  int files = 0;
  for (const char* model : {"bag", "s4", "s4d", "transformer"}) {
    const ModelInfo* info = FindModel(model);
    ASSERT_NE(info, nullptr) << model;
    for (const char* tier : {"paper", "small", "smoke"}) {
      for (const auto& [task, td] : kTasks) {
        const std::string path =
            std::string("models/") + model + "/configs/" + task + "." + tier + ".textproto";
        SCOPED_TRACE(path);
        harness::RunConfig config;
        absl::Status st = ParseTextProtoFile(path, &config);
        ASSERT_TRUE(st.ok()) << st;
        ++files;
        EXPECT_EQ(config.task(), task);
        EXPECT_EQ(config.model(), model);
        std::map<std::string, std::string> options;
        for (const std::string& kv : config.model_option()) {
          std::vector<std::string> parts = absl::StrSplit(kv, absl::MaxSplits('=', 1));
          ASSERT_EQ(parts.size(), 2u) << kv;
          options[parts[0]] = parts[1];
        }
        absl::StatusOr<Options> opts = Options::Make(info->options, options);
        ASSERT_TRUE(opts.ok()) << opts.status();
        // Paper-sized models are only validated, not built: building them is cheap but the
        // paper Transformer at Path-X allocates a 16384-row position table per config.
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
  EXPECT_EQ(files, 4 * 3 * 7);
}

// Pixel encodings: S4 and S4D never mask (`nomask`, S4.md); the LRA Transformer masks black
// pixels (`lra`, LRA.md 1.5) in every tier, and its paper configs carry LRA's attention dropout
// (LRA.md 1.8: 0.2 for the CIFAR-10 recipe, 0.1 elsewhere).
TEST(ConfigsTest, PixelEncodingsAndAttentionDropout) {
  for (const auto& [task, td] : kTasks) {
    for (const char* tier : {"paper", "small", "smoke"}) {
      for (const char* model : {"s4", "s4d", "transformer"}) {
        const std::string path =
            std::string("models/") + model + "/configs/" + task + "." + tier + ".textproto";
        SCOPED_TRACE(path);
        harness::RunConfig config;
        ASSERT_TRUE(ParseTextProtoFile(path, &config).ok());
        if (td.pixels) {
          EXPECT_EQ(config.encoding(), std::string(model) == "transformer" ? "lra" : "nomask");
        }
        if (std::string(model) != "transformer" || std::string(tier) != "paper") continue;
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
      EXPECT_TRUE(parts[1] == "paper" || parts[1] == "small" || parts[1] == "smoke") << name;
      EXPECT_EQ(parts[2], "textproto") << name;
    }
  }
}

}  // namespace
}  // namespace lra::models

#include "models/registry.h"

#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace lra::models {
namespace {

// Linked with //models/all_models (the list; lra_model makes every library alwayslink). The
// registry is sorted by name, and each model finds itself.
TEST(RegistryTest, ModelsAreRegisteredSortedAndFound) {
  std::vector<const ModelInfo*> all = AllModels();
  ASSERT_FALSE(all.empty());
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1]->name, all[i]->name);
  for (const ModelInfo* info : all) EXPECT_EQ(FindModel(info->name), info) << info->name;
}

TEST(RegistryTest, UnknownModelListsRegisteredOnes) {
  auto m = GetModel("s5");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
  std::vector<std::string> names;
  for (const ModelInfo* info : AllModels()) names.push_back(info->name);
  EXPECT_NE(m.status().message().find(absl::StrJoin(names, ", ")), std::string::npos)
      << m.status().message();
  EXPECT_NE(m.status().message().find("all_models"), std::string::npos);
  EXPECT_NE(m.status().message().find("lra_model"), std::string::npos);
}

// A model's configs are in models/<name>/configs unless its registration names the folder.
TEST(RegistryTest, ConfigsDirDefaultsToTheModelsFolder) {
  ModelInfo info;
  info.name = "m";
  EXPECT_EQ(ConfigsDir(info), "models/m/configs");
  info.configs = "models/family/configs/m";
  EXPECT_EQ(ConfigsDir(info), "models/family/configs/m");
  ASSERT_NE(FindModel("s4d"), nullptr);
  EXPECT_EQ(ConfigsDir(*FindModel("s4d")), "models/s4/configs/s4d");
}

TEST(RegistryTest, CreateValidatesOptions) {
  TaskInfo task{"listops", 18, 0, 10, 64, false, false, "mean"};
  auto bad = CreateModel("bag", task, {{"width", "3"}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model 'bag'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("d_model, mlp_dim"), std::string::npos);
  auto ok = CreateModel("bag", task, {{"d_model", "8"}}, 1);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(CountParameters(**ok), 18 * 8 + 8 * 128 + 128 + 128 * 10 + 10);
}

// Issue 11 item 8: values the models used to take silently (a Transformer with n_layers=-1 had no
// layers; max_len=-5 fell back to the task's length; a negative SSM learning rate trained
// upwards) are refused with the option's name and range.
TEST(RegistryTest, OutOfRangeOptionsAreRefused) {
  TaskInfo task{"listops", 18, 0, 10, 64, false, false, "mean"};
  for (auto [model, option, value, range] :
       std::vector<std::tuple<std::string, std::string, std::string, std::string>>{
           {"transformer", "n_layers", "-1", "[0, inf)"},
           {"transformer", "max_len", "-5", "[0, inf)"},
           {"transformer", "qkv_dim", "-4", "[0, inf)"},
           {"s4d", "lr_ssm", "-1", "[0, inf)"},
           {"s4d", "dt_min", "0", "(0, inf)"},
           {"bag", "d_model", "0", "[1, inf)"}}) {
    auto m = CreateModel(model, task, {{option, value}}, 1);
    ASSERT_FALSE(m.ok()) << model << " " << option << "=" << value;
    EXPECT_NE(m.status().message().find("'" + option + "' = " + value), std::string::npos)
        << m.status().message();
    EXPECT_NE(m.status().message().find(range), std::string::npos) << m.status().message();
  }
}

TEST(RegistryTest, DescribeListsOptionsWithDefaults) {
  const std::string d = DescribeModels();
  EXPECT_NE(d.find("s4d: "), std::string::npos);
  EXPECT_NE(d.find("d_state (int, default 64)"), std::string::npos) << d;
}

}  // namespace
}  // namespace lra::models

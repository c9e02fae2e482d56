// The names `lra export` writes are the models' parameter and buffer names, and each model's
// README promises them ("Exported weights"). This test builds every registered model on a token
// task, a pixel task and a pair task, with its default options and then with each bool option
// flipped and each string option set to each of its other choices (the variants that add or
// drop arrays), and checks that every name (layer index written {i}) appears in backquotes in
// the README of the model's folder. A model change that renames or adds an array, or a new
// model, fails here until its README says so. The README is the one next to the model's configs
// folder (models::ConfigsDir); //models/all_models:docs brings every model's README.
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "models/registry.h"

namespace lra::models {
namespace {

std::string ReadRunfile(const std::string& path) {
  std::ifstream in(std::string(std::getenv("TEST_SRCDIR")) + "/lra/" + path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TaskInfo Task(const std::string& name, int vocab, int classes, bool pixels, bool pair) {
  TaskInfo t;
  t.name = name;
  t.vocab_size = vocab;
  t.num_classes = classes;
  t.max_length = 32;
  t.pooling = "mean";
  t.pixels = pixels;
  t.pair = pair;
  return t;
}

// Every parameter and buffer name of one model, layer indices as {i}; empty when the options
// are not a valid combination (e.g. pool=cls without cls=true).
std::set<std::string> Patterns(const std::string& model, const TaskInfo& task,
                               const std::map<std::string, std::string>& options) {
  absl::StatusOr<std::unique_ptr<Model>> m = CreateModel(model, task, options, 1);
  std::set<std::string> out;
  if (!m.ok()) return out;
  std::vector<std::string> names;
  for (const ParamGroup& g : (*m)->ParamGroups())
    for (const Var& v : g.params) names.push_back(v.name());
  for (const auto& [name, t] : (*m)->Buffers()) names.push_back(name);
  static const std::regex kLayer("^layers\\.[0-9]+\\.");
  for (const std::string& n : names) out.insert(std::regex_replace(n, kLayer, "layers.{i}."));
  return out;
}

// The default options (small sizes where the model has them), then one variant per other value
// of each bool or multiple-choice option.
std::vector<std::map<std::string, std::string>> Variants(const ModelInfo& info) {
  const std::map<std::string, std::string> small = {
      {"d_model", "8"}, {"n_layers", "2"}, {"mlp_dim", "16"}, {"d_state", "4"}};
  std::map<std::string, std::string> base;
  for (const OptionSpec& spec : info.options) {
    if (auto it = small.find(spec.name); it != small.end()) base[spec.name] = it->second;
  }
  std::vector<std::map<std::string, std::string>> out = {base};
  for (const OptionSpec& spec : info.options) {
    std::vector<std::string> values = spec.choices;
    if (ResolvedType(spec) == OptionType::kBool) values = {"true", "false"};
    for (const std::string& v : values) {
      if (v == spec.default_value) continue;
      out.push_back(base);
      out.back()[spec.name] = v;
    }
  }
  return out;
}

TEST(ExportNames, EveryModelReadmeListsEveryName) {
  for (const ModelInfo* info : AllModels()) {
    // The model's folder: where its configs folder sits (models/s4/configs/s4d -> models/s4).
    const std::string configs = ConfigsDir(*info);
    const std::string readme_path = configs.substr(0, configs.rfind("/configs")) + "/README.md";
    SCOPED_TRACE(readme_path);
    const std::string readme = ReadRunfile(readme_path);
    ASSERT_FALSE(readme.empty()) << "model '" << info->name
                                 << "': list its exported names in its folder's README";
    std::set<std::string> missing;
    int built = 0, variants = 0;
    for (const auto& options : Variants(*info)) {
      ++variants;
      for (const TaskInfo& task : {Task("listops", 18, 10, false, false),
                                   Task("image", 256, 10, true, false),
                                   Task("retrieval", 18, 2, false, true)}) {
        const std::set<std::string> names = Patterns(info->name, task, options);
        built += !names.empty();
        for (const std::string& p : names) {
          if (readme.find(absl::StrCat("`", p, "`")) == std::string::npos) missing.insert(p);
        }
      }
    }
    // Most variants are valid alone; a few need a partner option (and are covered by others).
    EXPECT_GE(built, 2 * variants) << info->name << ": too few option variants build";
    EXPECT_TRUE(missing.empty()) << readme_path << " does not list these " << info->name
                                 << " arrays (as `name`): " << absl::StrJoin(missing, ", ");
  }
}

}  // namespace
}  // namespace lra::models

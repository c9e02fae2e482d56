// The names `lra export` writes are the models' parameter and buffer names, and each model's
// README promises them ("Exported weights"). This test builds every model in the option
// variants that add or remove arrays, on a token task, a pixel task and a pair task, and checks
// that each name (with the layer index written {i}) appears in backquotes in the README of the
// model's folder. A model change that renames, adds or drops an array fails here until the
// README says so.
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

// Every parameter and buffer name of one model, layer indices as {i}.
std::set<std::string> Patterns(const std::string& model, const TaskInfo& task,
                               const std::map<std::string, std::string>& options) {
  absl::StatusOr<std::unique_ptr<Model>> m = CreateModel(model, task, options, 1);
  EXPECT_TRUE(m.ok()) << model << ": " << m.status();
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

struct Case {
  std::string model, readme;
  std::vector<std::map<std::string, std::string>> variants;
};

TEST(ExportNames, EveryModelReadmeListsEveryName) {
  const std::map<std::string, std::string> small = {{"d_model", "8"}, {"n_layers", "2"}};
  auto with = [&](std::map<std::string, std::string> extra) {
    extra.insert(small.begin(), small.end());
    return extra;
  };
  const std::vector<Case> cases = {
      {"s4d", "models/s4/README.md",
       {with({}), with({{"norm", "batch"}}), with({{"prenorm", "false"}}),
        with({{"glu", "false"}, {"bidirectional", "true"}}), with({{"norm", "none"}}),
        with({{"linear_pixels", "false"}})}},
      {"s4", "models/s4/README.md", {with({{"l_max", "32"}, {"d_state", "4"}})}},
      {"transformer", "models/transformer/README.md",
       {with({{"mlp_dim", "16"}}), with({{"mlp_dim", "16"}, {"positions", "learned"}}),
        with({{"mlp_dim", "16"}, {"cls", "true"}, {"pool", "cls"}, {"head", "linear"}}),
        with({{"mlp_dim", "16"}, {"dual_head", "concat"}})}},
      {"bag", "models/bag/README.md", {{{"d_model", "8"}}}},
  };
  for (const Case& c : cases) {
    const std::string readme = ReadRunfile(c.readme);
    std::set<std::string> missing;
    for (const auto& options : c.variants) {
      for (const TaskInfo& task : {Task("listops", 18, 10, false, false),
                                     Task("image", 256, 10, true, false),
                                     Task("retrieval", 18, 2, false, true)}) {
        for (const std::string& p : Patterns(c.model, task, options)) {
          if (readme.find(absl::StrCat("`", p, "`")) == std::string::npos) missing.insert(p);
        }
      }
    }
    EXPECT_TRUE(missing.empty()) << c.readme << " does not list these " << c.model
                                 << " arrays (as `name`): " << absl::StrJoin(missing, ", ");
  }
}

}  // namespace
}  // namespace lra::models

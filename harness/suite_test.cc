#include "harness/suite.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/textproto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/config.h"
#include "models/registry.h"
#include "tasks/specs.h"

namespace lra::harness {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

Suite Parse(const std::string& text) {
  Suite suite;
  const absl::Status parsed = ParseTextProto(text, "test.textproto", &suite);
  EXPECT_TRUE(parsed.ok()) << parsed;
  return suite;
}

std::vector<std::pair<std::string, std::string>> Pairs(const std::vector<Suite::Run>& runs) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const Suite::Run& r : runs) pairs.emplace_back(r.task(), r.model());
  return pairs;
}

// A product entry stands for every pair, task-major, in place between the single entries, each
// with the entry's tier, seeds and overrides.
TEST(SuiteTest, ProductExpandsTaskMajorInPlace) {
  const Suite suite = Parse(
      "name: 't'\n"
      "run { task: 'image' model: 'bag' tier: 'small' }\n"
      "run { tasks: ['listops', 'text'] models: ['s4d', 'transformer'] tier: 'smoke' seeds: [1, 2]"
      "      overrides { train { steps: 7 } } }\n"
      "run { task: 'pathx' models: ['s4d'] }\n");
  absl::StatusOr<std::vector<Suite::Run>> runs = ExpandSuiteRuns(suite);
  ASSERT_TRUE(runs.ok()) << runs.status();
  const std::vector<std::pair<std::string, std::string>> want = {
      {"image", "bag"},       {"listops", "s4d"},  {"listops", "transformer"},
      {"text", "s4d"},        {"text", "transformer"}, {"pathx", "s4d"}};
  EXPECT_EQ(Pairs(*runs), want);
  for (int i = 1; i <= 4; ++i) {
    const Suite::Run& r = (*runs)[i];
    EXPECT_EQ(r.tier(), "smoke");
    EXPECT_THAT(r.seeds(), ElementsAreArray({1, 2}));
    EXPECT_EQ(r.overrides().train().steps(), 7);
    EXPECT_TRUE(r.tasks().empty());
    EXPECT_TRUE(r.models().empty());
  }
}

TEST(SuiteTest, AnEntryGivesEachOfTaskAndModelOnce) {
  absl::StatusOr<std::vector<Suite::Run>> both =
      ExpandSuiteRuns(Parse("name: 'x' run { task: 'a' tasks: ['b'] model: 'm' }"));
  EXPECT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(both.status().message(),
              HasSubstr("suite 'x', run entry 1 gives both task and tasks; keep one"));
  absl::StatusOr<std::vector<Suite::Run>> none =
      ExpandSuiteRuns(Parse("name: 'x' run { task: 'a' model: 'm' } run { task: 'a' }"));
  EXPECT_THAT(none.status().message(),
              HasSubstr("suite 'x', run entry 2 gives no model; add model: \"...\" or models"));
}

// Every suite in harness/suites expands, and names only registered tasks and models.
TEST(SuiteTest, RepositorySuitesNameKnownTasksAndModels) {
  for (const char* name : {"smoke", "quick", "paper"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<Suite> suite = LoadSuite(name);
    ASSERT_TRUE(suite.ok()) << suite.status();
    absl::StatusOr<std::vector<Suite::Run>> runs = ExpandSuiteRuns(*suite);
    ASSERT_TRUE(runs.ok()) << runs.status();
    EXPECT_FALSE(runs->empty());
    for (const Suite::Run& r : *runs) {
      EXPECT_TRUE(tasks::GetTaskSpec(r.task()).ok()) << r.task();
      EXPECT_TRUE(models::GetModel(r.model()).ok()) << r.model();
    }
  }
}

// The smoke suite is every task with s4d, the transformer and mamba (the product spelled out,
// 21 runs), then lstm and gru on text, then the block-sparse Transformers on text.
TEST(SuiteTest, SmokeIsEveryTaskWithBothModels) {
  absl::StatusOr<Suite> suite = LoadSuite("smoke");
  ASSERT_TRUE(suite.ok()) << suite.status();
  absl::StatusOr<std::vector<Suite::Run>> runs = ExpandSuiteRuns(*suite);
  ASSERT_TRUE(runs.ok()) << runs.status();
  std::vector<std::pair<std::string, std::string>> want;
  for (const std::string& task : tasks::ListTasks()) {
    for (const char* model : {"s4d", "transformer", "mamba"}) want.emplace_back(task, model);
  }
  want.emplace_back("text", "lstm");
  want.emplace_back("text", "gru");
  for (const char* model : {"sparse_transformer", "longformer", "bigbird"})
    want.emplace_back("text", model);
  for (const char* task : {"text", "retrieval", "pathfinder"})
    for (const char* model : {"sinkhorn", "reformer"}) want.emplace_back(task, model);
  for (const char* model : {"performer", "linformer", "synthesizer"})
    want.emplace_back("text", model);
  EXPECT_EQ(Pairs(*runs), want);
}

}  // namespace
}  // namespace lra::harness

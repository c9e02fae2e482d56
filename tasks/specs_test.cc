#include "tasks/specs.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lra::tasks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SpecsTest, AllSevenTasksParseInTableOrder) {
  EXPECT_THAT(ListTasks(), ElementsAre("listops", "text", "retrieval", "image", "pathfinder",
                                       "pathx", "fashion_mnist"));
}

// The constants of the LRA paper (arXiv:2011.04006, Section 2.2) and code (long-range-arena@cd31e5c,
// lra_benchmarks/*/input_pipeline.py), checked against the embedded specs (tasks/README.md).
TEST(SpecsTest, ConstantsMatchTheReferenceTable) {
  struct Row {
    const char* name;
    int max_length, classes, vocab;
    bool pair;
    int64_t train, val, test;
    Pooling pooling;
  };
  const Row rows[] = {
      {"listops", 2000, 10, 17, false, 96000, 2000, 2000, CLS},
      {"text", 4096, 2, 257, false, 25000, 25000, 25000, CLS},
      {"retrieval", 4000, 2, 257, true, 147086, 18090, 17437, FIRST},
      {"image", 1024, 10, 256, false, 45000, 5000, 10000, CLS},
      {"pathfinder", 1024, 2, 256, false, 160000, 20000, 20000, MEAN},
      {"pathx", 16384, 2, 256, false, 160000, 20000, 20000, MEAN},
      {"fashion_mnist", 784, 10, 256, false, 54000, 6000, 10000, CLS},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    auto spec = GetTaskSpec(row.name);
    ASSERT_TRUE(spec.ok());
    const TaskSpec& s = **spec;
    EXPECT_EQ(s.max_length(), row.max_length);
    EXPECT_EQ(s.num_classes(), row.classes);
    EXPECT_EQ(s.pair(), row.pair);
    EXPECT_EQ(s.default_pooling(), row.pooling);
    EXPECT_EQ(s.default_encoding(), "lra");
    EXPECT_EQ(s.encodings(0).vocab_size(), row.vocab);
    EXPECT_EQ(s.encodings(0).pad_id(), 0);
    ASSERT_EQ(s.splits_size(), 3);
    EXPECT_EQ(s.splits(0).expected_size(), row.train);
    EXPECT_EQ(s.splits(1).expected_size(), row.val);
    EXPECT_EQ(s.splits(2).expected_size(), row.test);
    auto hooks = GetTaskHooks(row.name);
    ASSERT_TRUE(hooks.ok());
    EXPECT_NE(hooks->plan, nullptr);
    EXPECT_EQ(hooks->generate != nullptr, !s.generate().empty());
  }
  EXPECT_EQ((*GetTaskSpec("retrieval"))->max_source_bytes(), 10000);
  EXPECT_TRUE((*GetTaskSpec("image"))->encodings(0).mask_pad_tokens());
  EXPECT_FALSE((*GetTaskSpec("image"))->encodings(1).mask_pad_tokens());
  EXPECT_EQ((*GetTaskSpec("pathx"))->difficulties(0).folder(), "curv_contour_length_14");
  EXPECT_EQ((*GetTaskSpec("text"))->generate(), "synthetic");
  EXPECT_EQ((*GetTaskSpec("listops"))->generate(), "generated");
}

// The report's columns come from the specs (harness/report/task_columns.h): every task says its
// group and averages; the LRA paper averages five tasks (Path-X out), the S4 paper all six.
TEST(SpecsTest, EveryTaskSaysHowItEntersTheReport) {
  std::vector<std::string> lra_average, s4_average, extra;
  for (const std::string& name : ListTasks()) {
    const TaskSpec& s = **GetTaskSpec(name);
    SCOPED_TRACE(name);
    EXPECT_GT(s.order(), 0);
    ASSERT_NE(s.report().group(), TASK_GROUP_UNSPECIFIED);
    if (s.report().in_lra_average()) lra_average.push_back(name);
    if (s.report().in_s4_average()) s4_average.push_back(name);
    if (s.report().group() == TASK_GROUP_EXTRA) extra.push_back(name);
  }
  EXPECT_THAT(lra_average, ElementsAre("listops", "text", "retrieval", "image", "pathfinder"));
  EXPECT_THAT(s4_average,
              ElementsAre("listops", "text", "retrieval", "image", "pathfinder", "pathx"));
  EXPECT_THAT(extra, ElementsAre("fashion_mnist"));
}

TEST(SpecsTest, UnknownTaskListsTheKnownOnes) {
  auto spec = GetTaskSpec("cifar");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(spec.status().message()),
              HasSubstr("unknown task 'cifar'; known tasks: listops, text, retrieval, image, "
                        "pathfinder, pathx, fashion_mnist"));
}

}  // namespace
}  // namespace lra::tasks

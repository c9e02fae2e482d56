// Adding a task is one folder plus one line (tasks/README.md, "Add a task"): the test task in
// tasks/testing/parity/ is linked in by the one line "//tasks/testing/parity:task" in this test's
// deps, and with no other change it is listed, prepares, loads, and gets its column in the
// accuracy table.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/report/accuracy_table.h"
#include "tasks/registry.h"

namespace lra::report {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

LoadedRun MakeRun(const std::string& model, const std::string& task, double test_accuracy) {
  LoadedRun run;
  run.result.set_model(model);
  run.result.set_task(task);
  run.result.set_config("smoke");
  run.result.set_status(harness::COMPLETED);
  run.result.mutable_best()->set_test_accuracy(test_accuracy);
  run.result.mutable_data()->set_provenance(harness::SYNTHETIC);
  return run;
}

TEST(AddTaskTest, TheTestTaskIsListedPreparesAndLoads) {
  EXPECT_THAT(tasks::ListTasks(), Contains("parity"));
  EXPECT_EQ(tasks::ListTasks().back(), "parity");  // spec order 100: after the real tasks

  tasks::PrepareOptions options;
  options.task = "parity";
  options.generate = true;
  options.size = 200;
  options.out_dir = std::string(std::getenv("TEST_TMPDIR")) + "/parity";
  tasks::PrepareReport report;
  const absl::Status prepared = tasks::PrepareTask(options, &report);
  ASSERT_TRUE(prepared.ok()) << prepared;
  EXPECT_EQ(report.manifest.task(), "parity");
  EXPECT_EQ(report.stats.examples, 200);

  datasets::ReaderOptions reader_options;
  reader_options.batch_size = 1;
  absl::StatusOr<std::unique_ptr<datasets::DatasetReader>> reader =
      datasets::DatasetReader::Open(options.out_dir, "test", reader_options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  datasets::Batch batch;
  int examples = 0;
  while (*(*reader)->Next(&batch)) {
    ++examples;
    int ones = 0;
    for (int i = 0; i < batch.lengths[0]; ++i) ones += batch.tokens[i] == 2;
    EXPECT_EQ(batch.labels[0], ones % 2) << batch.ids[0];
  }
  EXPECT_EQ(examples, 20);  // the last 10%
}

TEST(AddTaskTest, TheTestTaskGetsItsColumnFromItsSpec) {
  const AccuracyTableData table = BuildAccuracyTable(
      {MakeRun("s4d", "listops", 0.40), MakeRun("s4d", "parity", 0.75)}, nullptr, {});
  EXPECT_TRUE(table.warnings.empty()) << table.warnings[0];
  ASSERT_FALSE(table.columns.empty());
  EXPECT_EQ(table.columns.back().key, "parity");
  const std::string md = AccuracyTableMarkdown(table);
  EXPECT_THAT(md,
              HasSubstr("| Avg (LRA, 5 tasks) | Avg (S4, 6 tasks, FAIL=50) | Parity (extra) |"));
  EXPECT_THAT(md, HasSubstr("| 75.00 (n=1) S b1 |\n"));  // the last cell of the s4d row
  EXPECT_THAT(AccuracyTableCsv(table), HasSubstr(",parity,parity_std,parity_n,"));
}

}  // namespace
}  // namespace lra::report

#include "harness/report/accuracy_table.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/report/task_columns.h"
#include "harness/report/test_util.h"

namespace lra::report {
namespace {

namespace fs = std::filesystem;
using harness::RunResult;
using ::testing::HasSubstr;
using ::testing::Not;

LoadedRun MakeRun(const std::string& model, const std::string& task, double best_test,
              harness::DataProvenance provenance = harness::RELEASE,
              harness::RunStatus status = harness::COMPLETED, const std::string& config = "small",
              double last_test = -1) {
  LoadedRun run;
  RunResult& r = run.result;
  r.set_model(model);
  r.set_task(task);
  r.set_config(config);
  r.set_status(status);
  r.mutable_best()->set_test_accuracy(best_test);
  r.mutable_best()->set_val_accuracy(best_test);
  r.mutable_last()->set_test_accuracy(last_test >= 0 ? last_test : best_test);
  r.mutable_data()->set_provenance(provenance);
  r.mutable_budget()->set_description(config + ": 600 steps");
  run.path = "runs/" + model + "-" + task + "/result.json";
  return run;
}

const TableRow* FindRow(const AccuracyTableData& t, const std::string& model, bool ours) {
  for (const TableRow& row : t.rows) {
    if (row.model == model && row.ours == ours) return &row;
  }
  return nullptr;
}

// Hand-computed row: ListOps 3 seeds {50, 52, 54} -> 52 ± 2; Text 80; Retrieval missing;
// Image diverged only -> FAIL; Pathfinder 70 (synthetic); Path-X missing; F-MNIST 90.
// LRA avg: undefined (Image FAIL, Retrieval missing). S4 avg: (52 + 80 + 50 + 50 + 70 + 50) / 6.
std::vector<LoadedRun> S4dRuns() {
  return {
      MakeRun("s4d", "listops", 0.50, harness::GENERATED),
      MakeRun("s4d", "listops", 0.52, harness::GENERATED),
      MakeRun("s4d", "listops", 0.54, harness::GENERATED),
      MakeRun("s4d", "text", 0.80),
      MakeRun("s4d", "image", 0.30, harness::RELEASE, harness::DIVERGED),
      MakeRun("s4d", "pathfinder", 0.70, harness::SYNTHETIC),
      MakeRun("s4d", "fashion_mnist", 0.90, harness::SYSTEM),
      MakeRun("s4d", "retrieval", 0.99, harness::RELEASE, harness::INTERRUPTED),
  };
}

// A run stopped by the time safety net counts in its cell but is marked, so a number that
// depends on the machine's speed is never shown as a plain step-budget result.
TEST(AccuracyTableTest, CutShortRunsAreMarked) {
  std::vector<LoadedRun> runs = {MakeRun("s4d", "listops", 0.40, harness::GENERATED),
                                 MakeRun("s4d", "listops", 0.42, harness::GENERATED,
                                         harness::CUT_SHORT)};
  const AccuracyTableData t = BuildAccuracyTable(runs, nullptr, {});
  const TableRow* row = FindRow(t, "s4d", true);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->cells[0].cut_short, 1);
  EXPECT_EQ(row->cells[0].stats.n, 2);
  EXPECT_THAT(AccuracyTableMarkdown(t), HasSubstr("41.00 ± 1.41 (n=2) (1 cut short) G"));
}

TEST(AccuracyTableTest, RunTimesListEachRunsWallTime) {
  std::vector<LoadedRun> runs = {MakeRun("s4d", "listops", 0.40, harness::GENERATED,
                                         harness::CUT_SHORT)};
  runs[0].result.set_run_name("listops-s4d-small-s1");
  runs[0].result.set_steps(120);
  runs[0].result.set_wall_seconds(81.25);
  runs[0].result.set_tokens_per_second(23456.4);
  runs[0].result.set_threads(2);
  EXPECT_THAT(RunTimesMarkdown(runs),
              HasSubstr("| listops-s4d-small-s1 | CUT_SHORT | 120 | 81.2 s | 23456 | 2 |"));
}

TEST(AccuracyTableTest, MajorityClassRowFromTheRunsData) {
  std::vector<LoadedRun> runs = {MakeRun("s4d", "listops", 0.35, harness::GENERATED),
                                 MakeRun("transformer", "listops", 0.30, harness::GENERATED),
                                 MakeRun("s4d", "fashion_mnist", 0.80, harness::SYSTEM),
                                 MakeRun("s4d", "text", 0.6, harness::SYNTHETIC),
                                 MakeRun("s4d", "text", 0.6, harness::RELEASE)};
  runs[0].result.mutable_data()->set_test_majority_accuracy(0.185);
  runs[1].result.mutable_data()->set_test_majority_accuracy(0.185);
  runs[2].result.mutable_data()->set_test_majority_accuracy(0.1);
  runs[3].result.mutable_data()->set_test_majority_accuracy(0.5);
  runs[4].result.mutable_data()->set_test_majority_accuracy(0.52);
  const AccuracyTableData t = BuildAccuracyTable(runs, nullptr, {});
  ASSERT_EQ(t.rows.size(), 3u);
  const TableRow& m = t.rows.back();  // after the models
  ASSERT_TRUE(m.baseline);
  EXPECT_NEAR(m.cells[0].stats.mean, 18.5, 1e-12);  // one dataset, counted once
  const std::string md = AccuracyTableMarkdown(t);
  EXPECT_THAT(md, HasSubstr("| *majority class* (test split of our data) | class counts | 18.50 G "
                            "| 50.00–52.00 S | — |"));
  EXPECT_THAT(md, HasSubstr("| 10.00 P |"));
  EXPECT_THAT(md, HasSubstr("- Majority class: the accuracy of always answering"));
  EXPECT_THAT(AccuracyTableCsv(t), HasSubstr("baseline,majority class,,class counts,18.5000,"));
  // Without recorded majorities there is no such row and no legend line.
  const AccuracyTableData plain = BuildAccuracyTable(S4dRuns(), nullptr, {});
  EXPECT_THAT(AccuracyTableMarkdown(plain), Not(HasSubstr("majority")));
}

TEST(AccuracyTableTest, OurCellsAndBothAverages) {
  const AccuracyTableData t = BuildAccuracyTable(S4dRuns(), nullptr, {});
  ASSERT_EQ(t.rows.size(), 1u);
  const TableRow& row = t.rows[0];
  EXPECT_TRUE(row.ours);
  const OurCell& listops = row.cells[0];
  EXPECT_EQ(listops.stats.n, 3);
  EXPECT_NEAR(listops.stats.mean, 52.0, 1e-12);
  EXPECT_NEAR(listops.stats.std, 2.0, 1e-12);
  EXPECT_EQ(FormatOurCell(listops), "52.00 ± 2.00 (n=3) G b1");
  EXPECT_EQ(FormatOurCell(row.cells[1]), "80.00 (n=1) b1");  // release data: no marker
  EXPECT_EQ(FormatOurCell(row.cells[2]), "—");               // interrupted run left out
  EXPECT_TRUE(row.cells[3].failed());
  EXPECT_EQ(FormatOurCell(row.cells[3]), "FAIL (1 diverged) b1");
  EXPECT_EQ(FormatOurCell(row.cells[4]), "70.00 (n=1) S b1");
  ASSERT_EQ(t.columns.size(), 7u);  // the six LRA tasks, then the extra Fashion-MNIST
  EXPECT_EQ(t.columns[6].key, "fashion_mnist");
  EXPECT_EQ(FormatOurCell(row.cells[6]), "90.00 (n=1) P b1");
  EXPECT_FALSE(row.lra_avg.has_value());
  EXPECT_NEAR(row.s4_avg.value, (52.0 + 80 + 50 + 50 + 70 + 50) / 6, 1e-12);
  EXPECT_EQ(row.s4_avg.failed, 1);
  EXPECT_EQ(row.s4_avg.missing, 2);
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_THAT(t.warnings[0], HasSubstr("INTERRUPTED"));
  EXPECT_EQ(t.budgets, std::vector<std::string>{"config small: small: 600 steps"});
}

TEST(AccuracyTableTest, FullRowHasTheLraAverageAndFashionMnistStaysOut) {
  // LRA: (40 + 60 + 55 + 45 + 70) / 5 = 54; S4 with Path-X missing: (270 + 50) / 6.
  std::vector<LoadedRun> runs = {
      MakeRun("transformer", "listops", 0.40), MakeRun("transformer", "text", 0.60),
      MakeRun("transformer", "retrieval", 0.55), MakeRun("transformer", "image", 0.45),
      MakeRun("transformer", "pathfinder", 0.70), MakeRun("transformer", "fashion_mnist", 0.10)};
  const AccuracyTableData t = BuildAccuracyTable(runs, nullptr, {});
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_NEAR(*t.rows[0].lra_avg, 54.0, 1e-12);
  EXPECT_NEAR(t.rows[0].s4_avg.value, 320.0 / 6, 1e-12);
  EXPECT_EQ(t.rows[0].s4_avg.missing, 1);
  // With a solved Path-X at 60: S4 = (270 + 60) / 6 = 55; LRA unchanged.
  runs.push_back(MakeRun("transformer", "pathx", 0.60));
  const AccuracyTableData t2 = BuildAccuracyTable(runs, nullptr, {});
  EXPECT_NEAR(*t2.rows[0].lra_avg, 54.0, 1e-12);
  EXPECT_NEAR(t2.rows[0].s4_avg.value, 55.0, 1e-12);
  EXPECT_EQ(t2.rows[0].s4_avg.missing, 0);
}

TEST(AccuracyTableTest, MetricPicksTheCheckpointAndConfigsAreSeparateRows) {
  std::vector<LoadedRun> runs = {
      MakeRun("s4d", "listops", 0.50, harness::RELEASE, harness::COMPLETED, "small", 0.20),
      MakeRun("s4d", "listops", 0.30, harness::RELEASE, harness::COMPLETED, "smoke", 0.25)};
  AccuracyTableOptions options;
  AccuracyTableData best = BuildAccuracyTable(runs, nullptr, options);
  ASSERT_EQ(best.rows.size(), 2u);
  EXPECT_EQ(best.rows[0].config, "small");  // tier order: paper, small, smoke
  EXPECT_NEAR(best.rows[0].cells[0].stats.mean, 50.0, 1e-12);
  EXPECT_EQ(best.budgets.size(), 2u);
  options.metric = TableMetric::kTestAtLastStep;
  AccuracyTableData last = BuildAccuracyTable(runs, nullptr, options);
  EXPECT_NEAR(last.rows[0].cells[0].stats.mean, 20.0, 1e-12);
  EXPECT_NEAR(last.rows[1].cells[0].stats.mean, 25.0, 1e-12);
  EXPECT_THAT(AccuracyTableMarkdown(last), HasSubstr("test accuracy at the last step"));
}

// Each cell of ours says which recipe it ran: runs of the v3 recipe set (what `paper` means for
// S4/S4D) and of v4 are separate rows, and each budget line names the upstream file.
TEST(AccuracyTableTest, BudgetsNameTheRecipeEachCellRan) {
  const std::string v3 = "state-spaces/s4@d589d98:configs/experiment/lra/s4-lra-listops.yaml";
  const std::string v4 = "state-spaces/s4@e757cef:configs/experiment/lra/s4-listops.yaml";
  std::vector<LoadedRun> runs = {
      MakeRun("s4", "listops", 0.60, harness::RELEASE, harness::COMPLETED, "paper"),
      MakeRun("s4", "listops", 0.58, harness::RELEASE, harness::COMPLETED, "v4"),
      MakeRun("s4", "text", 0.80, harness::RELEASE, harness::COMPLETED, "small")};
  runs[0].result.set_recipe(v3);
  runs[1].result.set_recipe(v4);
  const AccuracyTableData t = BuildAccuracyTable(runs, nullptr, {});
  ASSERT_EQ(t.rows.size(), 3u);  // paper, small, v4 (our tiers first)
  EXPECT_EQ(t.rows[0].config, "paper");
  EXPECT_EQ(t.rows[2].config, "v4");
  ASSERT_EQ(t.budgets.size(), 3u);  // in the order of the runs
  EXPECT_EQ(t.budgets[0], "config paper: paper: 600 steps; recipe " + v3);
  EXPECT_EQ(t.budgets[1], "config v4: v4: 600 steps; recipe " + v4);
  EXPECT_EQ(t.budgets[2], "config small: small: 600 steps");  // our own tier: no recipe
  EXPECT_THAT(AccuracyTableMarkdown(t), HasSubstr("- b1: config paper: paper: 600 steps; recipe " + v3));
}

TEST(AccuracyTableTest, UnknownTasksAndMissingMetricsAreReportedNotAveraged) {
  LoadedRun odd = MakeRun("s4d", "sudoku", 0.9);
  LoadedRun no_test = MakeRun("s4d", "text", 0.9);
  no_test.result.mutable_best()->clear_test_accuracy();
  const AccuracyTableData t = BuildAccuracyTable({odd, no_test}, nullptr, {}, {"bad.json: oops"});
  ASSERT_EQ(t.warnings.size(), 3u);
  EXPECT_EQ(t.warnings[0], "bad.json: oops");
  EXPECT_THAT(t.warnings[1], HasSubstr("task 'sudoku' has no task spec"));
  EXPECT_THAT(t.warnings[2], HasSubstr("no test accuracy at the best-validation checkpoint"));
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_FALSE(t.rows[0].cells[1].present());
}

TEST(AccuracyTableTest, PublishedRowsDeduplicatedWithBothAveragesAndNotes) {
  absl::StatusOr<PublishedData> published = LoadEmbeddedPublished();
  ASSERT_TRUE(published.ok()) << published.status();
  const AccuracyTableData t = BuildAccuracyTable(S4dRuns(), &*published, {});
  // LRA Table 1 (11) + S4 table (16, of which 11 repeat LRA rows) + S4D (7, S4-LegS repeats the
  // updated S4 row) + ours (1).
  EXPECT_EQ(t.rows.size(), 11u + 5 + 6 + 1);
  const TableRow* transformer = FindRow(t, "Transformer", false);
  ASSERT_NE(transformer, nullptr);
  EXPECT_EQ(transformer->sources, (std::vector<int>{0, 1}));
  EXPECT_NEAR(*transformer->lra_avg, 54.388, 1e-9);
  EXPECT_NEAR(transformer->s4_avg.value, 53.6566666, 1e-6);
  EXPECT_EQ(transformer->s4_avg.failed, 1);
  const TableRow* sinkhorn = FindRow(t, "Sinkhorn Trans.", false);
  ASSERT_EQ(sinkhorn->notes.size(), 1u);
  EXPECT_THAT(t.notes[sinkhorn->notes[0]], HasSubstr("printed average 51.39"));
  EXPECT_EQ(FindRow(t, "S4-LegS", false), nullptr);  // folded into "S4 (updated)"
  EXPECT_EQ(FindRow(t, "S5", false), nullptr);       // not a default table

  const std::string md = AccuracyTableMarkdown(t);
  EXPECT_THAT(md, HasSubstr("| Transformer | [1][2] | 36.37 | 64.27 | 57.46 | 42.44 | 71.40 | "
                            "FAIL | 54.39 | 53.66 |  |"));
  EXPECT_THAT(md, HasSubstr("| **s4d** (ours, small) | this harness | 52.00 ± 2.00 (n=3) G b1 | "
                            "80.00 (n=1) b1 | — | FAIL (1 diverged) b1 | 70.00 (n=1) S b1 | — | "
                            "— | 58.67 (2×50) | 90.00 (n=1) P b1 |"));
  EXPECT_THAT(md, HasSubstr("S = synthetic stand-in"));
  EXPECT_THAT(md, HasSubstr("- b1: config small: small: 600 steps"));
  EXPECT_THAT(md, HasSubstr("arXiv 2011.04006, Table 1, p. 6"));

  // Only the S5/Mega table when asked for.
  AccuracyTableOptions options;
  options.published_tables = {"later_models"};
  const AccuracyTableData later = BuildAccuracyTable({}, &*published, options);
  ASSERT_EQ(later.rows.size(), 2u);
  EXPECT_EQ(later.rows[0].model, "S5");
  EXPECT_EQ(later.rows[0].verification, UNVERIFIED);
}

// The columns and both averages follow the task columns: an LRA-group task that enters both
// averages widens them, and published rows keep the papers' six-task averages with "—" for it.
TEST(AccuracyTableTest, ColumnsAndAveragesFollowTheTaskColumns) {
  absl::StatusOr<PublishedData> published = LoadEmbeddedPublished();
  ASSERT_TRUE(published.ok());
  AccuracyTableOptions options;
  options.columns = TaskColumnsFromSpecs();
  TaskColumn copy;
  copy.key = "copy";
  copy.display_name = "Copy";
  copy.in_lra_average = copy.in_s4_average = true;
  options.columns.insert(options.columns.begin() + 6, copy);  // after Path-X
  std::vector<LoadedRun> runs;
  for (const char* task : {"listops", "text", "retrieval", "image", "pathfinder", "copy"}) {
    runs.push_back(MakeRun("s4d", task, 0.60));
  }
  const AccuracyTableData t = BuildAccuracyTable(runs, &*published, options);
  EXPECT_TRUE(t.warnings.empty());
  const std::string md = AccuracyTableMarkdown(t);
  EXPECT_THAT(md,
              HasSubstr("| Path-X | Copy | Avg (LRA, 6 tasks) | Avg (S4, 7 tasks, FAIL=50) |\n"));
  EXPECT_THAT(md, HasSubstr("Avg (LRA) = mean of the 6 tasks without Path-X (LRA paper); Avg (S4) "
                            "= mean of 7 tasks"));
  EXPECT_THAT(md, HasSubstr("| Transformer | [1][2] | 36.37 | 64.27 | 57.46 | 42.44 | 71.40 | "
                            "FAIL | — | 54.39 | 53.66 |\n"));
  const TableRow* ours = FindRow(t, "s4d", true);
  ASSERT_NE(ours, nullptr);
  EXPECT_NEAR(*ours->lra_avg, 60.0, 1e-12);
  EXPECT_NEAR(ours->s4_avg.value, (6 * 60.0 + 50) / 7, 1e-12);  // Path-X missing
}

TEST(AccuracyTableTest, CsvIsRectangularAndMachineReadable) {
  absl::StatusOr<PublishedData> published = LoadEmbeddedPublished();
  ASSERT_TRUE(published.ok());
  const AccuracyTableData t = BuildAccuracyTable(S4dRuns(), &*published, {});
  const auto rows = ParseCsv(AccuracyTableCsv(t));
  ASSERT_EQ(rows.size(), t.rows.size() + 1);
  for (const auto& r : rows) EXPECT_EQ(r.size(), rows[0].size());
  const auto& header = rows[0];
  auto col = [&](const std::string& name) {
    return std::find(header.begin(), header.end(), name) - header.begin();
  };
  const auto& ours = rows.back();
  EXPECT_EQ(ours[col("kind")], "ours");
  EXPECT_EQ(ours[col("listops")], "52.0000");
  EXPECT_EQ(ours[col("listops_std")], "2.0000");
  EXPECT_EQ(ours[col("listops_n")], "3");
  EXPECT_EQ(ours[col("listops_data")], "GENERATED");
  EXPECT_EQ(ours[col("image")], "FAIL");
  EXPECT_EQ(ours[col("retrieval")], "");
  EXPECT_EQ(ours[col("avg_lra")], "");
  EXPECT_EQ(ours[col("avg_s4_cells_at_50")], "3");
  EXPECT_EQ(ours[col("fashion_mnist")], "90.0000");
  EXPECT_EQ(rows[1][col("model")], "Transformer");
  EXPECT_EQ(rows[1][col("avg_lra")], "54.3880");
}

TEST(AccuracyTableTest, HtmlIsWellFormedAndEscaped) {
  std::vector<LoadedRun> runs = S4dRuns();
  runs[0].result.set_model("s4d<x>&");
  const AccuracyTableData t = BuildAccuracyTable(runs, nullptr, {});
  const std::string html = AccuracyTableHtml(t);
  EXPECT_TRUE(CheckWellFormed(html, {"meta"}).ok()) << CheckWellFormed(html, {"meta"});
  EXPECT_THAT(html, HasSubstr("s4d&lt;x&gt;&amp;"));
  EXPECT_THAT(html, Not(HasSubstr("s4d<x>")));
}

TEST(AccuracyTableTest, WriteLraTablesWritesEveryFormatAtomically) {
  const fs::path dir = fs::path(::testing::TempDir()) / "write_tables";
  fs::remove_all(dir);
  for (const LoadedRun& run : S4dRuns()) {
    const fs::path run_dir = dir / "runs" / (run.result.model() + "-" + run.result.task() + "-" +
                                             std::to_string(std::rand()));
    ASSERT_TRUE(WriteRunResult((run_dir / "result.json").string(), run.result).ok());
  }
  absl::StatusOr<TableFiles> files =
      WriteLraTables({(dir / "runs").string()}, (dir / "tables").string(), {});
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->runs, 8);
  EXPECT_EQ(files->written.size(), 7u);  // lra_table.{md,csv,html}, lra_table_last.*, run_times.md
  for (const std::string& path : files->written) EXPECT_TRUE(fs::exists(path)) << path;
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir / "tables")) {
    ++entries;
    EXPECT_THAT(e.path().string(), Not(HasSubstr(".tmp.")));
  }
  EXPECT_EQ(entries, 7);
  absl::StatusOr<TableFiles> missing =
      WriteLraTables({(dir / "nothing").string()}, (dir / "tables").string(), {});
  EXPECT_FALSE(missing.ok());
}

// Runs gathered from several machines make one table: the runs of every folder count, and a run
// copied into two folders counts once (with a note naming both copies).
TEST(AccuracyTableTest, TablesFromSeveralRunFoldersCountEachRunOnce) {
  const fs::path dir = fs::path(::testing::TempDir()) / "several_runs_dirs";
  fs::remove_all(dir);
  std::vector<LoadedRun> runs = S4dRuns();
  for (size_t i = 0; i < runs.size(); ++i) {
    runs[i].result.set_run_name("run" + std::to_string(i));
    runs[i].result.set_started_at("2026-12-03T08:0" + std::to_string(i) + ":00Z");
    const std::string machine = i % 2 == 0 ? "machine_a" : "machine_b";
    const fs::path run_dir = dir / machine / ("run" + std::to_string(i));
    ASSERT_TRUE(WriteRunResult((run_dir / "result.json").string(), runs[i].result).ok());
  }
  ASSERT_TRUE(
      WriteRunResult((dir / "machine_b" / "copy" / "result.json").string(), runs[0].result).ok());
  absl::StatusOr<RunScan> scan =
      ScanRunResults({(dir / "machine_a").string(), (dir / "machine_b").string()});
  ASSERT_TRUE(scan.ok()) << scan.status();
  EXPECT_EQ(scan->runs.size(), runs.size());
  ASSERT_EQ(scan->errors.size(), 1u);
  EXPECT_THAT(scan->errors[0], HasSubstr("counted once"));
  EXPECT_THAT(scan->errors[0], HasSubstr("machine_a"));
  absl::StatusOr<TableFiles> files = WriteLraTables(
      {(dir / "machine_a").string(), (dir / "machine_b").string()}, (dir / "tables").string(), {});
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->runs, static_cast<int>(runs.size()));
}

}  // namespace
}  // namespace lra::report

// The LRA accuracy table (`lra table`): published rows beside ours, both averaging conventions,
// mean ± std over seeds, every cell of ours marked with its data provenance and budget.
//
//   LRA_ASSIGN_OR_RETURN(TableFiles files, WriteLraTables(runs_dir, out_dir, {}));
//
// Conventions (README.md, "Accuracy table"):
//   - Our row = one (model, config tier). A cell is the mean ± sample std over the COMPLETED runs
//     of that task (one per seed), in percent, with n. Test accuracy at the best-validation
//     checkpoint by default; TableMetric picks last-step test or best validation instead.
//   - A cell with no completed run but a DIVERGED one is FAIL. INTERRUPTED runs are left out
//     (and listed in the notes) unless include_interrupted.
//   - The task columns come from the task specs (TaskColumnsFromSpecs(), task_columns.h): the LRA
//     group's columns first, then the averages, then the extra tasks (e.g. Fashion-MNIST) that
//     have runs in the table.
//   - Avg (LRA) = mean of the columns the specs put in it (ListOps, Text, Retrieval, Image,
//     Pathfinder), only when all have a number. Avg (S4) = mean of its columns (those five and
//     Path-X), FAIL or missing = 50, with the number of cells filled in shown. Published rows
//     are averaged over the paper's six tasks the same way.
#ifndef LRA_HARNESS_REPORT_ACCURACY_TABLE_H_
#define LRA_HARNESS_REPORT_ACCURACY_TABLE_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "harness/report/conventions.h"
#include "harness/report/published.h"
#include "harness/report/result_io.h"
#include "harness/run_result.pb.h"

namespace lra::report {

enum class TableMetric {
  kTestAtBestVal,   // default: test accuracy of the best-validation checkpoint
  kTestAtLastStep,  // what the original LRA code reports
  kValAtBestVal,
};
const char* TableMetricName(TableMetric metric);

struct AccuracyTableOptions {
  TableMetric metric = TableMetric::kTestAtBestVal;
  bool include_published = true;
  // Published table ids to show (e.g. "lra_table1", "s4_lra", "s4d_lra", "later_models",
  // "lra_readme_external"); empty = the tables marked in_default_table.
  std::vector<std::string> published_tables;
  bool include_interrupted = false;
  // The task columns; empty = TaskColumnsFromSpecs(), the registered tasks.
  std::vector<TaskColumn> columns;
};

// One cell of our rows: every completed run of the (model, config, task).
struct OurCell {
  std::vector<double> values;  // percent, one per run
  MeanStd stats;
  int diverged = 0;  // DIVERGED runs (not in `values`)
  int cut_short = 0;  // CUT_SHORT runs (in `values`): stopped by the time safety net
  std::set<harness::DataProvenance> provenance;
  std::set<int> budgets;  // indices into AccuracyTableData::budgets
  bool present() const { return stats.n > 0; }
  bool failed() const { return stats.n == 0 && diverged > 0; }
};

struct TableRow {
  std::string model;   // display name: the registry key for ours, the paper's name otherwise
  std::string config;  // ours: the tier
  bool ours = false;
  bool baseline = false;  // ours: the majority-class row (cells hold the distinct values seen)
  std::vector<int> sources;  // published: indices into AccuracyTableData::sources
  Verification verification = VERIFICATION_UNSPECIFIED;
  LraScores published;         // published rows
  std::vector<OurCell> cells;  // our rows: one per AccuracyTableData::columns
  std::optional<double> lra_avg;
  S4Average s4_avg;
  std::vector<int> notes;  // indices into AccuracyTableData::notes
};

struct AccuracyTableData {
  std::string title;
  TableMetric metric = TableMetric::kTestAtBestVal;
  std::vector<TableRow> rows;          // published first (in file order), then ours by model
  std::vector<std::string> budgets;    // b1, b2, ...: distinct training budgets of our runs
  std::vector<std::string> sources;    // [1], [2], ...: citations of the published rows
  std::vector<std::string> notes;      // numbered footnotes
  std::vector<std::string> warnings;   // unreadable files, skipped runs, unknown tasks
  // The task columns shown: the LRA group's (always), then the extra tasks that have runs.
  std::vector<TaskColumn> columns;
};

// `published` may be null (no published rows). `scan_errors` are copied into the warnings.
AccuracyTableData BuildAccuracyTable(const std::vector<LoadedRun>& runs,
                                     const PublishedData* published,
                                     const AccuracyTableOptions& options,
                                     const std::vector<std::string>& scan_errors = {});

std::string AccuracyTableMarkdown(const AccuracyTableData& table);
std::string AccuracyTableCsv(const AccuracyTableData& table);
std::string AccuracyTableHtml(const AccuracyTableData& table);

// A cell's text as in the Markdown table: "61.20 ± 0.35 (n=3) G b1", "FAIL", "—".
std::string FormatOurCell(const OurCell& cell);

struct TableFiles {
  std::vector<std::string> written;   // paths of the files written
  std::vector<std::string> warnings;  // as in AccuracyTableData (print them)
  int runs = 0;                       // result files used
};

// The whole `lra table` job: scans `runs_dirs` for result.json files (ScanRunResults), loads
// the embedded
// published numbers, and writes atomically into `out_dir`
//   lra_table.{md,csv,html}       with options.metric (default: test at best val)
//   lra_table_last.{md,csv,html}  test accuracy at the last step (skipped when options.metric
//                                 already is kTestAtLastStep)
// Each run's status, steps, wall time and speed: the machine-dependent numbers that the
// accuracy tables leave out (run_times.md beside them).
std::string RunTimesMarkdown(const std::vector<LoadedRun>& runs);

// Writes lra_table.{md,csv,html}, lra_table_last.* and run_times.md into `out_dir`.
absl::StatusOr<TableFiles> WriteLraTables(const std::vector<std::string>& runs_dirs,
                                          const std::string& out_dir,
                                          const AccuracyTableOptions& options);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_ACCURACY_TABLE_H_

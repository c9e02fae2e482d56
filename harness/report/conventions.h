// The six LRA tasks of the published tables and the table conventions of the LRA literature.
//
// Two averages are in use:
//   LRA (Tay et al., "Long Range Arena", ICLR 2021, arXiv:2011.04006, Table 1, "Avg"): the mean
//     of the 5 tasks ListOps, Text, Retrieval, Image, Pathfinder; Path-X is left out because
//     every model failed it.
//   S4 (Gu, Goel, Re, "Efficiently Modeling Long Sequences with Structured State Spaces", ICLR
//     2022, arXiv:2111.00396, Tables 4 and 10): the mean of all 6 tasks, with a failed task
//     (chance, "FAIL"/"✗") counted as 50. Under it the LRA Transformer scores 53.66 (Table 10)
//     instead of the 54.39 of LRA Table 1.
// Our tables print both. Published rows are averaged over the paper's six tasks (LraScores); our
// rows over the columns the task specs put in each average (TaskColumn, from tasks/*/spec.textproto
// `report`). For our own rows a missing task also counts as 50 under S4 (the row says how many
// cells were substituted), while the LRA average needs all of its tasks.
#ifndef LRA_HARNESS_REPORT_CONVENTIONS_H_
#define LRA_HARNESS_REPORT_CONVENTIONS_H_

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace lra::report {

enum class LraTask { kListOps = 0, kText, kRetrieval, kImage, kPathfinder, kPathX };
inline constexpr int kNumLraTasks = 6;
inline constexpr std::array<LraTask, kNumLraTasks> kLraTasks = {
    LraTask::kListOps, LraTask::kText,       LraTask::kRetrieval,
    LraTask::kImage,   LraTask::kPathfinder, LraTask::kPathX};

// The score the S4 convention gives a failed (or, for our rows, missing) task.
inline constexpr double kFailScore = 50.0;

// "listops", "text", "retrieval", "image", "pathfinder", "pathx": the task registry keys.
const char* LraTaskKey(LraTask task);
// "ListOps", "Text", "Retrieval", "Image", "Pathfinder", "Path-X".
const char* LraTaskDisplayName(LraTask task);

// The task for a registry key or a common alias (imdb, aan, cifar10, path_x, path-x, ...),
// case-insensitive. nullopt for anything else (e.g. fashion_mnist, which is not an LRA task).
std::optional<LraTask> ParseLraTask(absl::string_view name);

// Lower case with '-' and ' ' read as '_': how task names and aliases are compared.
std::string NormalizeTaskName(absl::string_view name);

// One task column of the accuracy table: what a task spec's `report` block says
// (tasks/task_spec.proto, ReportSpec). TaskColumnsFromSpecs() (task_columns.h) makes them.
struct TaskColumn {
  std::string key;           // the task registry key, e.g. "listops"; also the CSV column
  std::string display_name;  // "ListOps"
  bool extra = false;        // after the averages, "<display_name> (extra)"; only when it has runs
  bool in_lra_average = false;
  bool in_s4_average = false;
  std::vector<std::string> aliases;  // other names result files use, e.g. "imdb"
  // The published tables' field for this task (published.proto AccuracyRow), if any.
  std::optional<LraTask> published;
  // True when `task` (a result file's task field) names this column: its key or an alias,
  // compared with NormalizeTaskName.
  bool Matches(absl::string_view task) const;
};

// One cell, in percent.
struct TaskScore {
  std::optional<double> value;
  bool failed = false;  // stayed at chance: "FAIL"
};
using LraScores = std::array<TaskScore, kNumLraTasks>;

// Mean of the 5 tasks without Path-X. nullopt unless all 5 have a value (a FAIL or a missing
// task among them leaves the LRA average undefined, as the LRA paper never averaged one).
std::optional<double> LraAverage(const LraScores& scores);

struct S4Average {
  double value = 0;
  int failed = 0;   // cells counted as 50 because they failed
  int missing = 0;  // cells counted as 50 because there was no number
};
// Mean of all 6 tasks, FAIL or missing = 50.
S4Average ComputeS4Average(const LraScores& scores);

// The same two averages over our columns: `scores[i]` is column i's. The LRA average is the mean
// of the in_lra_average columns, nullopt unless all have a number; the S4 average the mean of
// the in_s4_average columns with FAIL or missing = 50 (value 0 when no column is in it).
std::optional<double> LraAverage(const std::vector<TaskColumn>& columns,
                                 const std::vector<TaskScore>& scores);
S4Average ComputeS4Average(const std::vector<TaskColumn>& columns,
                           const std::vector<TaskScore>& scores);

struct MeanStd {
  double mean = 0;
  double std = 0;  // sample standard deviation (n - 1); 0 when n == 1
  int n = 0;
};
// Mean and spread over seeds. n == 0 gives all zeros.
MeanStd ComputeMeanStd(const std::vector<double>& values);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_CONVENTIONS_H_

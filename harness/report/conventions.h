// The six LRA tasks and the table conventions of the LRA literature.
//
// Two averages are in use (/work/shared/reference/LRA.md section 3.1, last bullet):
//   LRA (Tay et al. 2021, Table 1): the mean of the 5 tasks ListOps, Text, Retrieval, Image,
//     Pathfinder; Path-X is left out because every model failed it.
//   S4 (Gu et al. 2022): the mean of all 6 tasks, with a failed task (chance, "FAIL"/"✗")
//     counted as 50. Under it the LRA Transformer scores 53.66 instead of 54.39.
// Our tables print both. For our own rows a missing task also counts as 50 under S4 (the row
// says how many cells were substituted), while the LRA average needs all 5 tasks.
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

// True for "fashion_mnist" and its aliases: the extra column of our rows.
bool IsFashionMnist(absl::string_view name);

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

struct MeanStd {
  double mean = 0;
  double std = 0;  // sample standard deviation (n - 1); 0 when n == 1
  int n = 0;
};
// Mean and spread over seeds. n == 0 gives all zeros.
MeanStd ComputeMeanStd(const std::vector<double>& values);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_CONVENTIONS_H_

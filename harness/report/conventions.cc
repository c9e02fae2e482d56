#include "harness/report/conventions.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"

namespace lra::report {

const char* LraTaskKey(LraTask task) {
  switch (task) {
    case LraTask::kListOps: return "listops";
    case LraTask::kText: return "text";
    case LraTask::kRetrieval: return "retrieval";
    case LraTask::kImage: return "image";
    case LraTask::kPathfinder: return "pathfinder";
    case LraTask::kPathX: return "pathx";
  }
  return "?";
}

const char* LraTaskDisplayName(LraTask task) {
  switch (task) {
    case LraTask::kListOps: return "ListOps";
    case LraTask::kText: return "Text";
    case LraTask::kRetrieval: return "Retrieval";
    case LraTask::kImage: return "Image";
    case LraTask::kPathfinder: return "Pathfinder";
    case LraTask::kPathX: return "Path-X";
  }
  return "?";
}

std::string NormalizeTaskName(absl::string_view name) {
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"-", "_"}, {" ", "_"}});
}

bool TaskColumn::Matches(absl::string_view task) const {
  const std::string n = NormalizeTaskName(task);
  if (n == NormalizeTaskName(key)) return true;
  for (const std::string& alias : aliases) {
    if (n == NormalizeTaskName(alias)) return true;
  }
  return false;
}

std::optional<LraTask> ParseLraTask(absl::string_view name) {
  const std::string n = NormalizeTaskName(name);
  if (n == "listops") return LraTask::kListOps;
  if (n == "text" || n == "imdb") return LraTask::kText;
  if (n == "retrieval" || n == "aan") return LraTask::kRetrieval;
  if (n == "image" || n == "cifar" || n == "cifar10") return LraTask::kImage;
  if (n == "pathfinder" || n == "pathfinder32") return LraTask::kPathfinder;
  if (n == "pathx" || n == "path_x" || n == "pathfinder128") return LraTask::kPathX;
  return std::nullopt;
}

namespace {
// The published tables' six columns under the papers' conventions: Path-X outside the LRA
// average (LRA Table 1), all six in the S4 one (S4 Tables 4 and 10).
const std::vector<TaskColumn>& PaperColumns() {
  static const auto* columns = [] {
    auto* v = new std::vector<TaskColumn>;
    for (LraTask t : kLraTasks) {
      TaskColumn c;
      c.key = LraTaskKey(t);
      c.display_name = LraTaskDisplayName(t);
      c.in_lra_average = t != LraTask::kPathX;
      c.in_s4_average = true;
      c.published = t;
      v->push_back(std::move(c));
    }
    return v;
  }();
  return *columns;
}
}  // namespace

std::optional<double> LraAverage(const LraScores& scores) {
  return LraAverage(PaperColumns(), std::vector<TaskScore>(scores.begin(), scores.end()));
}

S4Average ComputeS4Average(const LraScores& scores) {
  return ComputeS4Average(PaperColumns(), std::vector<TaskScore>(scores.begin(), scores.end()));
}

std::optional<double> LraAverage(const std::vector<TaskColumn>& columns,
                                 const std::vector<TaskScore>& scores) {
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (!columns[i].in_lra_average) continue;
    if (scores[i].failed || !scores[i].value.has_value()) return std::nullopt;
    sum += *scores[i].value;
    ++n;
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

S4Average ComputeS4Average(const std::vector<TaskColumn>& columns,
                           const std::vector<TaskScore>& scores) {
  S4Average avg;
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (!columns[i].in_s4_average) continue;
    ++n;
    const TaskScore& s = scores[i];
    if (s.failed) {
      ++avg.failed;
      sum += kFailScore;
    } else if (!s.value.has_value()) {
      ++avg.missing;
      sum += kFailScore;
    } else {
      sum += *s.value;
    }
  }
  if (n > 0) avg.value = sum / n;
  return avg;
}

MeanStd ComputeMeanStd(const std::vector<double>& values) {
  MeanStd r;
  r.n = static_cast<int>(values.size());
  if (r.n == 0) return r;
  double sum = 0;
  for (double v : values) sum += v;
  r.mean = sum / r.n;
  if (r.n > 1) {
    // Two-pass: sum of squared deviations from the mean, no cancellation from sum(x^2) - n*m^2.
    double ss = 0;
    for (double v : values) ss += (v - r.mean) * (v - r.mean);
    r.std = std::sqrt(ss / (r.n - 1));
  }
  return r;
}

}  // namespace lra::report

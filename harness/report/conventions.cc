#include "harness/report/conventions.h"

#include <cmath>
#include <string>

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

namespace {
// Lower case with '-' and ' ' folded into '_'.
std::string Normalize(absl::string_view name) {
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"-", "_"}, {" ", "_"}});
}
}  // namespace

std::optional<LraTask> ParseLraTask(absl::string_view name) {
  const std::string n = Normalize(name);
  if (n == "listops") return LraTask::kListOps;
  if (n == "text" || n == "imdb") return LraTask::kText;
  if (n == "retrieval" || n == "aan") return LraTask::kRetrieval;
  if (n == "image" || n == "cifar" || n == "cifar10") return LraTask::kImage;
  if (n == "pathfinder" || n == "pathfinder32") return LraTask::kPathfinder;
  if (n == "pathx" || n == "path_x" || n == "pathfinder128") return LraTask::kPathX;
  return std::nullopt;
}

bool IsFashionMnist(absl::string_view name) {
  const std::string n = Normalize(name);
  return n == "fashion_mnist" || n == "fashionmnist" || n == "fmnist";
}

std::optional<double> LraAverage(const LraScores& scores) {
  double sum = 0;
  for (int t = 0; t < kNumLraTasks; ++t) {
    if (static_cast<LraTask>(t) == LraTask::kPathX) continue;
    if (scores[t].failed || !scores[t].value.has_value()) return std::nullopt;
    sum += *scores[t].value;
  }
  return sum / 5.0;
}

S4Average ComputeS4Average(const LraScores& scores) {
  S4Average avg;
  double sum = 0;
  for (const TaskScore& s : scores) {
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
  avg.value = sum / kNumLraTasks;
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

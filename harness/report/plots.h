// Training curves of a run, as an SVG a person opens. (Speed/memory against sequence length:
// BenchPlotSvg in bench_table.h.)
#ifndef LRA_HARNESS_REPORT_PLOTS_H_
#define LRA_HARNESS_REPORT_PLOTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "harness/run_result.pb.h"

namespace lra::report {

inline constexpr char kCurvesFileName[] = "curves.svg";

// Two panels: loss against step (one line per split) and accuracy against step (0..1). The
// train split is drawn as a line, val/test as lines with a dot per evaluation.
std::string TrainingCurvesSvg(const std::vector<harness::MetricsRecord>& records,
                              const std::string& title);

// Reads <run_dir>/metrics.jsonl (and result.json, if there, for the title) and writes
// <run_dir>/curves.svg atomically. Returns the path written.
absl::StatusOr<std::string> WriteTrainingCurves(const std::string& run_dir);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_PLOTS_H_

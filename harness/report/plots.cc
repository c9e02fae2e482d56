#include "harness/report/plots.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/base/file_util.h"
#include "harness/report/result_io.h"
#include "harness/report/svg_plot.h"

namespace lra::report {

namespace fs = std::filesystem;

std::string TrainingCurvesSvg(const std::vector<harness::MetricsRecord>& records,
                              const std::string& title) {
  // Splits in a fixed order so that colors mean the same thing in every run's plot.
  const std::vector<std::string> order = {"train", "val", "test"};
  std::map<std::string, PlotSeries> loss, accuracy;
  for (const harness::MetricsRecord& r : records) {
    PlotSeries& l = loss[r.split()];
    PlotSeries& a = accuracy[r.split()];
    l.x.push_back(r.step());
    l.y.push_back(r.loss());
    a.x.push_back(r.step());
    a.y.push_back(r.accuracy());
  }
  PlotSpec loss_plot, acc_plot;
  loss_plot.title = "Loss";
  loss_plot.x_label = "step";
  loss_plot.y_label = "cross-entropy";
  acc_plot.title = "Accuracy";
  acc_plot.x_label = "step";
  acc_plot.y_label = "accuracy";
  acc_plot.y_min = 0;
  acc_plot.y_max = 1;
  std::vector<std::string> splits = order;
  for (const auto& [split, series] : loss) {
    if (std::find(order.begin(), order.end(), split) == order.end()) splits.push_back(split);
  }
  for (const std::string& split : splits) {
    auto it = loss.find(split);
    if (it == loss.end()) continue;
    PlotSeries l = it->second, a = accuracy[split];
    l.label = a.label = split;
    l.markers = a.markers = split != "train";
    l.dashed = a.dashed = split == "test";
    loss_plot.series.push_back(l);
    acc_plot.series.push_back(a);
  }
  return RenderSvgPanels({loss_plot, acc_plot}, title);
}

absl::StatusOr<std::string> WriteTrainingCurves(const std::string& run_dir) {
  const std::string metrics_path = (fs::path(run_dir) / kMetricsFileName).string();
  LRA_ASSIGN_OR_RETURN(std::vector<harness::MetricsRecord> records, ReadMetricsJsonl(metrics_path));
  std::string title = fs::path(run_dir).filename().string();
  const std::string result_path = (fs::path(run_dir) / kResultFileName).string();
  if (fs::exists(result_path)) {
    absl::StatusOr<harness::RunResult> result = ReadRunResult(result_path);
    if (result.ok()) {
      title = absl::StrCat(result->model(), " on ", result->task(), " (", result->config(),
                           ", seed ", result->seed(), ")");
    }
  }
  const std::string out = (fs::path(run_dir) / kCurvesFileName).string();
  LRA_RETURN_IF_ERROR(WriteFileAtomically(out, TrainingCurvesSvg(records, title)));
  return out;
}

}  // namespace lra::report

// A small SVG line-plot writer with no dependencies: axes, ticks, labels, legend, log scales.
//
//   PlotSpec spec;
//   spec.title = "loss";  spec.x_label = "step";  spec.y_label = "cross-entropy";
//   spec.series.push_back({"train", steps, losses});
//   LRA_RETURN_IF_ERROR(WriteFileAtomically("curves.svg", RenderSvgPlot(spec)));
//
// Points that cannot be drawn (non-finite, or <= 0 on a log axis) are skipped and break the
// line there, so one NaN does not poison a plot.
#ifndef LRA_HARNESS_REPORT_SVG_PLOT_H_
#define LRA_HARNESS_REPORT_SVG_PLOT_H_

#include <optional>
#include <string>
#include <vector>

namespace lra::report {

struct PlotSeries {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;
  bool dashed = false;
  bool markers = false;  // a dot at every point (for sparse series such as evaluations)
};

struct PlotSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;
  bool log_y = false;
  std::vector<PlotSeries> series;
  // Explicit x ticks (e.g. the benchmark lengths) with optional labels ("1K", "2K", ...); empty =
  // chosen automatically.
  std::vector<double> x_ticks;
  std::vector<std::string> x_tick_labels;
  // Fixed y range (e.g. accuracy 0..1); unset = the data's range with a margin.
  std::optional<double> y_min;
  std::optional<double> y_max;
  int width = 720;
  int height = 420;
};

// A standalone SVG document.
std::string RenderSvgPlot(const PlotSpec& spec);

// Several plots side by side in one SVG document, under a common title.
std::string RenderSvgPanels(const std::vector<PlotSpec>& panels, const std::string& title);

// Tick positions: "nice" 1-2-5 steps covering [lo, hi] with about `target` ticks.
std::vector<double> LinearTicks(double lo, double hi, int target = 5);
// Powers of ten in [lo, hi] (lo > 0), with 2x and 5x in between when the range is short, and
// linear ticks when it spans less than one factor of ten.
std::vector<double> LogTicks(double lo, double hi);
// "0.25", "1500", "15k", "1.5M": compact tick text.
std::string FormatTick(double value);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_SVG_PLOT_H_

#include "harness/report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/report/format_util.h"

namespace lra::report {
namespace {

// Tableau 10: distinguishable, and readable when printed in gray.
constexpr const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kNumColors = sizeof(kColors) / sizeof(kColors[0]);

// Plot area inside a panel: room for tick labels and the axis label on the left, the title on
// top, the x label below and the legend on the right.
constexpr double kLeft = 72, kTop = 36, kBottom = 52, kLegendWidth = 150;

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double Map(double v, double from, double to) const {
    const double a = log ? std::log10(lo) : lo;
    const double b = log ? std::log10(hi) : hi;
    const double t = ((log ? std::log10(v) : v) - a) / (b - a);
    return from + t * (to - from);
  }
  bool Drawable(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

// The data range of the drawable values, widened so that a flat or single-point series still
// gets an axis, and padded 5% (in log space for log axes) so lines do not sit on the frame.
Axis MakeAxis(const std::vector<double>& values, bool log, std::optional<double> fixed_lo,
              std::optional<double> fixed_hi, bool pad) {
  Axis axis;
  axis.log = log;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    if (!axis.Drawable(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!(lo <= hi)) {
    lo = log ? 1 : 0;
    hi = log ? 10 : 1;
  }
  if (log) {
    double a = std::log10(lo), b = std::log10(hi);
    if (b - a < 1e-9) {
      a -= 0.5;
      b += 0.5;
    } else if (pad) {
      const double m = 0.05 * (b - a);
      a -= m;
      b += m;
    }
    lo = std::pow(10.0, a);
    hi = std::pow(10.0, b);
  } else {
    if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
      const double d = std::max(std::fabs(lo) * 0.1, 0.5);
      lo -= d;
      hi += d;
    } else if (pad) {
      const double m = 0.05 * (hi - lo);
      lo -= m;
      hi += m;
    }
  }
  if (fixed_lo.has_value() && (!log || *fixed_lo > 0)) lo = *fixed_lo;
  if (fixed_hi.has_value()) hi = *fixed_hi;
  if (!(hi > lo)) hi = lo + 1;
  axis.lo = lo;
  axis.hi = hi;
  return axis;
}

std::string Num(double v) { return absl::StrFormat("%.2f", v); }

std::string Text(double x, double y, const std::string& text, const char* anchor, int size,
                 const std::string& extra = "") {
  return absl::StrCat("<text x=\"", Num(x), "\" y=\"", Num(y), "\" text-anchor=\"", anchor,
                      "\" font-size=\"", size, "\"", extra, ">", HtmlEscape(text), "</text>\n");
}

// One plot with its top-left corner at (ox, oy).
std::string RenderPanel(const PlotSpec& spec, double ox, double oy) {
  std::vector<double> xs, ys;
  for (const PlotSeries& s : spec.series) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    ys.insert(ys.end(), s.y.begin(), s.y.end());
  }
  xs.insert(xs.end(), spec.x_ticks.begin(), spec.x_ticks.end());
  const Axis ax = MakeAxis(xs, spec.log_x, std::nullopt, std::nullopt, /*pad=*/spec.log_x);
  const Axis ay = MakeAxis(ys, spec.log_y, spec.y_min, spec.y_max, /*pad=*/true);
  const double x0 = ox + kLeft, x1 = ox + spec.width - kLegendWidth;
  const double y0 = oy + spec.height - kBottom, y1 = oy + kTop;  // y0 = bottom of the plot area

  std::string out;
  absl::StrAppend(&out, "<g>\n");
  absl::StrAppend(&out, Text((x0 + x1) / 2, oy + 22, spec.title, "middle", 15, " font-weight=\"bold\""));
  // Grid and ticks.
  std::vector<double> xt = spec.x_ticks;
  if (xt.empty()) xt = spec.log_x ? LogTicks(ax.lo, ax.hi) : LinearTicks(ax.lo, ax.hi);
  const std::vector<double> yt = spec.log_y ? LogTicks(ay.lo, ay.hi) : LinearTicks(ay.lo, ay.hi);
  for (size_t i = 0; i < xt.size(); ++i) {
    if (!ax.Drawable(xt[i]) || xt[i] < ax.lo - 1e-9 * std::fabs(ax.lo) ||
        xt[i] > ax.hi + 1e-9 * std::fabs(ax.hi)) {
      continue;
    }
    const double x = ax.Map(xt[i], x0, x1);
    absl::StrAppend(&out, "<line x1=\"", Num(x), "\" y1=\"", Num(y0), "\" x2=\"", Num(x), "\" y2=\"",
                    Num(y1), "\" stroke=\"#e3e3e3\" stroke-width=\"1\"/>\n");
    absl::StrAppend(&out, "<line x1=\"", Num(x), "\" y1=\"", Num(y0), "\" x2=\"", Num(x), "\" y2=\"",
                    Num(y0 + 5), "\" stroke=\"#333\" stroke-width=\"1\"/>\n");
    const std::string label =
        i < spec.x_tick_labels.size() ? spec.x_tick_labels[i] : FormatTick(xt[i]);
    absl::StrAppend(&out, Text(x, y0 + 19, label, "middle", 12));
  }
  for (double v : yt) {
    if (v < ay.lo - 1e-9 * std::fabs(ay.lo) || v > ay.hi + 1e-9 * std::fabs(ay.hi)) continue;
    const double y = ay.Map(v, y0, y1);
    absl::StrAppend(&out, "<line x1=\"", Num(x0), "\" y1=\"", Num(y), "\" x2=\"", Num(x1), "\" y2=\"",
                    Num(y), "\" stroke=\"#e3e3e3\" stroke-width=\"1\"/>\n");
    absl::StrAppend(&out, "<line x1=\"", Num(x0 - 5), "\" y1=\"", Num(y), "\" x2=\"", Num(x0),
                    "\" y2=\"", Num(y), "\" stroke=\"#333\" stroke-width=\"1\"/>\n");
    absl::StrAppend(&out, Text(x0 - 8, y + 4, FormatTick(v), "end", 12));
  }
  // Frame and axis labels.
  absl::StrAppend(&out, "<rect x=\"", Num(x0), "\" y=\"", Num(y1), "\" width=\"", Num(x1 - x0),
                  "\" height=\"", Num(y0 - y1), "\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n");
  absl::StrAppend(&out, Text((x0 + x1) / 2, y0 + 40, spec.x_label + (spec.log_x && !spec.x_label.empty() ? " (log)" : ""),
                             "middle", 13));
  const double ly = (y0 + y1) / 2, lx = ox + 18;
  absl::StrAppend(&out, Text(lx, ly, spec.y_label + (spec.log_y && !spec.y_label.empty() ? " (log)" : ""), "middle", 13,
                             absl::StrCat(" transform=\"rotate(-90 ", Num(lx), " ", Num(ly), ")\"")));
  // Series, clipped to the plot area by dropping points outside a fixed y range.
  int index = 0;
  for (const PlotSeries& s : spec.series) {
    const char* color = kColors[index % kNumColors];
    const std::string dash = s.dashed ? " stroke-dasharray=\"6 4\"" : "";
    std::string path;
    bool pen_down = false;
    std::string dots;
    const size_t n = std::min(s.x.size(), s.y.size());
    for (size_t i = 0; i < n; ++i) {
      const bool ok = ax.Drawable(s.x[i]) && ay.Drawable(s.y[i]) && s.y[i] >= ay.lo &&
                      s.y[i] <= ay.hi;
      if (!ok) {
        pen_down = false;
        continue;
      }
      const double px = ax.Map(s.x[i], x0, x1), py = ay.Map(s.y[i], y0, y1);
      absl::StrAppend(&path, pen_down ? " L " : (path.empty() ? "M " : " M "), Num(px), " ", Num(py));
      pen_down = true;
      if (s.markers || n == 1) {
        absl::StrAppend(&dots, "<circle cx=\"", Num(px), "\" cy=\"", Num(py), "\" r=\"3\" fill=\"",
                        color, "\"/>\n");
      }
    }
    if (!path.empty()) {
      absl::StrAppend(&out, "<path d=\"", path, "\" fill=\"none\" stroke=\"", color,
                      "\" stroke-width=\"2\"", dash, "/>\n");
    }
    out += dots;
    // Legend entry.
    const double ey = y1 + 8 + 20 * index;
    absl::StrAppend(&out, "<line x1=\"", Num(x1 + 12), "\" y1=\"", Num(ey), "\" x2=\"", Num(x1 + 36),
                    "\" y2=\"", Num(ey), "\" stroke=\"", color, "\" stroke-width=\"2\"", dash, "/>\n");
    absl::StrAppend(&out, Text(x1 + 42, ey + 4, s.label, "start", 12));
    ++index;
  }
  if (spec.series.empty()) absl::StrAppend(&out, Text((x0 + x1) / 2, ly, "no data", "middle", 14));
  out += "</g>\n";
  return out;
}

std::string Document(double width, double height, const std::string& body) {
  return absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"",
      Num(width), "\" height=\"", Num(height), "\" viewBox=\"0 0 ", Num(width), " ", Num(height),
      "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n<rect x=\"0\" y=\"0\" width=\"",
      Num(width), "\" height=\"", Num(height), "\" fill=\"white\"/>\n", body, "</svg>\n");
}

}  // namespace

std::vector<double> LinearTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  const double first = std::ceil(lo / step - 1e-9) * step;
  for (double v = first; v <= hi + 1e-9 * step; v += step) {
    ticks.push_back(std::fabs(v) < 1e-12 * step ? 0.0 : v);  // no "-0" or 1e-17 labels
  }
  return ticks;
}

std::vector<double> LogTicks(double lo, double hi) {
  std::vector<double> ticks;
  if (!(lo > 0) || !(hi > lo)) return ticks;
  for (const std::vector<double>& mantissas :
       std::vector<std::vector<double>>{{1}, {1, 2, 5}, {1, 2, 3, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    ticks.clear();
    for (int e = static_cast<int>(std::floor(std::log10(lo))); e <= std::ceil(std::log10(hi)); ++e) {
      for (double m : mantissas) {
        const double v = m * std::pow(10.0, e);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
      }
    }
    if (ticks.size() >= 3) return ticks;
  }
  return LinearTicks(lo, hi);
}

std::string FormatTick(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return absl::StrFormat("%gG", v / 1e9);
  if (a >= 1e6) return absl::StrFormat("%gM", v / 1e6);
  if (a >= 1e4) return absl::StrFormat("%gk", v / 1e3);
  if (a == 0) return "0";
  if (a < 1e-3) return absl::StrFormat("%.0e", v);
  return absl::StrFormat("%.4g", v);
}

std::string RenderSvgPlot(const PlotSpec& spec) {
  return Document(spec.width, spec.height, RenderPanel(spec, 0, 0));
}

std::string RenderSvgPanels(const std::vector<PlotSpec>& panels, const std::string& title) {
  const double top = title.empty() ? 0 : 34;
  double width = 0, height = 0;
  std::string body;
  if (!title.empty()) {
    double total = 0;
    for (const PlotSpec& p : panels) total += p.width;
    body += Text(total / 2, 24, title, "middle", 17, " font-weight=\"bold\"");
  }
  for (const PlotSpec& p : panels) {
    body += RenderPanel(p, width, top);
    width += p.width;
    height = std::max<double>(height, p.height + top);
  }
  return Document(std::max(width, 1.0), std::max(height, 1.0), body);
}

}  // namespace lra::report

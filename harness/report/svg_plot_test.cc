#include "harness/report/svg_plot.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/report/test_util.h"

namespace lra::report {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Keeps a copy for a person to open: bazel-testlogs/harness/report/svg_plot_test/test.outputs/.
void Keep(const std::string& name, const std::string& svg) {
  if (const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR")) {
    std::ofstream(std::string(dir) + "/" + name) << svg;
  }
}

TEST(SvgPlotTest, LinearTicksAreNiceAndCoverTheRange) {
  EXPECT_THAT(LinearTicks(0, 1), ElementsAre(0, 0.2, 0.4, 0.6000000000000001, 0.8, 1));
  EXPECT_THAT(LinearTicks(-0.3, 2.2, 5), ElementsAre(0, 0.5, 1, 1.5, 2));
  std::vector<double> t = LinearTicks(113, 9870);
  ASSERT_GE(t.size(), 3u);
  EXPECT_EQ(t[0], 2000);
  EXPECT_TRUE(LinearTicks(1, 1).empty());
}

TEST(SvgPlotTest, LogTicks) {
  EXPECT_THAT(LogTicks(1, 1000), ElementsAre(1, 10, 100, 1000));
  EXPECT_THAT(LogTicks(3, 60), ElementsAre(5, 10, 20, 50));
  // Less than one decade: falls back to more mantissas, then to linear ticks.
  EXPECT_THAT(LogTicks(1000, 4100), ElementsAre(1000, 2000, 3000));
  EXPECT_THAT(LogTicks(1000, 1900), ElementsAre(1000, 1200, 1400, 1600, 1800));
  EXPECT_TRUE(LogTicks(0, 10).empty());
}

TEST(SvgPlotTest, TickText) {
  EXPECT_EQ(FormatTick(0), "0");
  EXPECT_EQ(FormatTick(0.25), "0.25");
  EXPECT_EQ(FormatTick(1500), "1500");
  EXPECT_EQ(FormatTick(15000), "15k");
  EXPECT_EQ(FormatTick(2.5e6), "2.5M");
  EXPECT_EQ(FormatTick(1e-5), "1e-05");
}

TEST(SvgPlotTest, WellFormedWithFiniteNumbersEvenWithBadPoints) {
  PlotSpec spec;
  spec.title = "loss <&> test";
  spec.x_label = "step";
  spec.y_label = "loss";
  spec.series.push_back({"train", {0, 10, 20, 30, 40}, {2.3, 1.9, NAN, 1.2, 1.0}});
  spec.series.push_back({"val", {10, 30}, {2.0, INFINITY}, /*dashed=*/true, /*markers=*/true});
  const std::string svg = RenderSvgPlot(spec);
  Keep("linear.svg", svg);
  absl::Status s = CheckWellFormed(svg);
  EXPECT_TRUE(s.ok()) << s << "\n" << svg;
  EXPECT_THAT(svg, HasSubstr("loss &lt;&amp;&gt; test"));
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
  // The NaN splits the train line into two pieces: one "M" starts each piece.
  const size_t train = svg.find("<path d=\"M ");
  ASSERT_NE(train, std::string::npos);
  const std::string d = svg.substr(train, svg.find('"', train + 9) - train);
  EXPECT_EQ(std::count(d.begin(), d.end(), 'M'), 2) << d;
  EXPECT_THAT(svg, HasSubstr("stroke-dasharray"));
  EXPECT_THAT(svg, HasSubstr(">train</text>"));
  EXPECT_THAT(svg, HasSubstr(">val</text>"));
}

TEST(SvgPlotTest, LogAxesDropNonPositivePoints) {
  PlotSpec spec;
  spec.title = "speed";
  spec.x_label = "sequence length";
  spec.y_label = "steps / s";
  spec.log_x = spec.log_y = true;
  spec.x_ticks = {1024, 2048, 4096};
  spec.x_tick_labels = {"1K", "2K", "4K"};
  spec.series.push_back({"transformer", {1024, 2048, 4096}, {8.1, 4.9, 1.4}});
  spec.series.push_back({"s4d", {1024, 2048, 4096}, {9.0, 0.0, 8.0}, false, true});
  const std::string svg = RenderSvgPlot(spec);
  Keep("loglog.svg", svg);
  EXPECT_TRUE(CheckWellFormed(svg).ok()) << CheckWellFormed(svg);
  EXPECT_THAT(svg, HasSubstr(">2K</text>"));
  EXPECT_THAT(svg, HasSubstr("(log)"));
}

TEST(SvgPlotTest, EmptyAndSinglePointPlotsStillRender) {
  PlotSpec empty;
  empty.title = "nothing";
  EXPECT_TRUE(CheckWellFormed(RenderSvgPlot(empty)).ok());
  EXPECT_THAT(RenderSvgPlot(empty), HasSubstr("no data"));
  PlotSpec one;
  one.series.push_back({"x", {5}, {0.5}});
  const std::string svg = RenderSvgPlot(one);
  EXPECT_TRUE(CheckWellFormed(svg).ok()) << CheckWellFormed(svg);
  EXPECT_THAT(svg, HasSubstr("<circle"));
}

TEST(SvgPlotTest, TheCheckerCatchesBrokenSvg) {
  // The well-formedness check is what the plot tests rely on: make sure it can fail.
  EXPECT_FALSE(CheckWellFormed("<svg><g></svg>").ok());
  EXPECT_FALSE(CheckWellFormed("<svg><line x1=\"nan\"/></svg>").ok());
  EXPECT_FALSE(CheckWellFormed("<svg><path d=\"M 1 inf\"/></svg>").ok());
  EXPECT_FALSE(CheckWellFormed("<svg width=10></svg>").ok());
  EXPECT_FALSE(CheckWellFormed("<svg></svg><svg></svg>").ok());
  EXPECT_TRUE(CheckWellFormed("<?xml version=\"1.0\"?><svg><g/></svg>").ok());
}

}  // namespace
}  // namespace lra::report

#include "harness/progress.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "harness/system_info.h"

namespace lra::harness {
namespace {

TEST(Progress, FormatsDurationsAndCounts) {
  EXPECT_EQ(Progress::FormatDuration(12.4), "12s");
  EXPECT_EQ(Progress::FormatDuration(185), "3m05s");
  EXPECT_EQ(Progress::FormatDuration(3720), "1h02m");
  EXPECT_EQ(Progress::FormatCount(950), "950");
  EXPECT_EQ(Progress::FormatCount(12345), "12.3k");
  EXPECT_EQ(Progress::FormatCount(1.2e6), "1.20M");
}

TEST(Progress, PlainLogLinesEveryNStepsAndAtTheEnd) {
  testing::internal::CaptureStderr();
  {
    Progress p("run", 10, /*terminal=*/false, /*log_every=*/4);
    for (int step = 1; step <= 10; ++step) p.Update(step, {{"loss", 0.5}, {"acc", 0.25}}, 0);
  }
  std::string out = testing::internal::GetCapturedStderr();
  // Steps 1, 5, 9 (every 4 from the first) and 10 (the last).
  int lines = 0;
  for (char c : out) lines += c == '\n';
  EXPECT_EQ(lines, 4) << out;
  EXPECT_NE(out.find("run 10/10 loss 0.5 acc 25.0%"), std::string::npos) << out;
}

TEST(SystemInfo, ReportsMemoryAndMachine) {
  EXPECT_GT(CurrentRssBytes(), 0);
  EXPECT_GE(PeakRssBytes(), CurrentRssBytes());
  int64_t before = PeakRssBytes();
  std::vector<char> touched(64 << 20);
  std::memset(touched.data(), 1, touched.size());
  EXPECT_GE(PeakRssBytes(), before + (60 << 20) * int64_t{touched[123]});
  EXPECT_NE(MachineDescription().find("GiB"), std::string::npos);
  // /proc/cpuinfo pads its keys ("model name\t: ..."); the CPU must still be found.
  EXPECT_EQ(MachineDescription().find("unknown CPU"), std::string::npos) << MachineDescription();
}

}  // namespace
}  // namespace lra::harness

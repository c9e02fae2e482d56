// Progress of long work: a one-line bar on a terminal, plain log lines otherwise.
//
//   Progress p("listops s4d small", /*total=*/600, Progress::StderrIsTerminal());
//   p.Update(step, {{"loss", 1.23}, {"acc", 0.41}}, tokens_per_second);
//   p.Message("val acc 42.1% (best)");   // printed above the bar
//   p.Finish();
#ifndef LRA_HARNESS_PROGRESS_H_
#define LRA_HARNESS_PROGRESS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace lra::harness {

class Progress {
 public:
  // `log_every`: on a non-terminal, one line per this many steps (and always the last one).
  Progress(std::string label, int64_t total, bool terminal, int64_t log_every = 50);
  ~Progress();

  static bool StderrIsTerminal();

  // `values` are printed as "name value" pairs; accuracies (names ending in "acc") as percent.
  void Update(int64_t done, const std::vector<std::pair<std::string, double>>& values,
              double tokens_per_second);
  void Message(const std::string& line);
  void Finish();

  // "1h02m", "3m05s", "12s".
  static std::string FormatDuration(double seconds);
  // "12.3k", "1.20M".
  static std::string FormatCount(double value);

 private:
  std::string Line(int64_t done, bool with_bar) const;

  std::string label_;
  int64_t total_;
  bool terminal_;
  int64_t log_every_;
  int64_t start_done_ = -1;
  absl::Time start_;
  absl::Time last_draw_ = absl::InfinitePast();
  int64_t last_logged_ = -1;
  bool bar_visible_ = false;
  std::vector<std::pair<std::string, double>> values_;
  double tokens_per_second_ = 0;
  int64_t done_ = 0;
};

}  // namespace lra::harness

#endif  // LRA_HARNESS_PROGRESS_H_

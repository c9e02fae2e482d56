#include "harness/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lra::harness {

Progress::Progress(std::string label, int64_t total, bool terminal, int64_t log_every)
    : label_(std::move(label)),
      total_(total),
      terminal_(terminal),
      log_every_(log_every > 0 ? log_every : 1),
      start_(absl::Now()) {}

Progress::~Progress() { Finish(); }

bool Progress::StderrIsTerminal() { return isatty(fileno(stderr)) == 1; }

std::string Progress::FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

std::string Progress::FormatCount(double value) {
  if (value >= 1e6) return absl::StrFormat("%.2fM", value / 1e6);
  if (value >= 1e3) return absl::StrFormat("%.1fk", value / 1e3);
  return absl::StrFormat("%.0f", value);
}

std::string Progress::Line(int64_t done, bool with_bar) const {
  // An unknown total (0) shows the count alone.
  std::string line = total_ > 0 ? absl::StrCat(label_, " ", done, "/", total_)
                                : absl::StrCat(label_, " ", done);
  if (with_bar && total_ > 0) {
    constexpr int kWidth = 20;
    int filled = static_cast<int>(kWidth * std::min<double>(1.0, double(done) / total_));
    absl::StrAppend(&line, " [", std::string(filled, '='), std::string(kWidth - filled, ' '), "]");
  }
  for (const auto& [name, value] : values_) {
    if (absl::EndsWith(name, "acc")) {
      absl::StrAppendFormat(&line, " %s %.1f%%", name, 100 * value);
    } else {
      absl::StrAppendFormat(&line, " %s %.4g", name, value);
    }
  }
  if (tokens_per_second_ > 0) absl::StrAppend(&line, " ", FormatCount(tokens_per_second_), " tok/s");
  double elapsed = absl::ToDoubleSeconds(absl::Now() - start_);
  int64_t progressed = done - std::max<int64_t>(start_done_, 0);
  if (progressed > 0 && total_ > done) {
    absl::StrAppend(&line, " ETA ", FormatDuration(elapsed / progressed * (total_ - done)));
  }
  return line;
}

void Progress::Update(int64_t done, const std::vector<std::pair<std::string, double>>& values,
                      double tokens_per_second) {
  if (start_done_ < 0) start_done_ = done;
  done_ = done;
  values_ = values;
  tokens_per_second_ = tokens_per_second;
  absl::Time now = absl::Now();
  if (terminal_) {
    if (now - last_draw_ < absl::Milliseconds(100) && done < total_) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r\033[K%s", Line(done, true).c_str());
    std::fflush(stderr);
    bar_visible_ = true;
  } else if (last_logged_ < 0 || done - last_logged_ >= log_every_ || done == total_) {
    last_logged_ = done;
    std::fprintf(stderr, "%s\n", Line(done, false).c_str());
  }
}

void Progress::Message(const std::string& line) {
  if (terminal_ && bar_visible_) {
    std::fprintf(stderr, "\r\033[K%s\n%s", line.c_str(), Line(done_, true).c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

void Progress::Finish() {
  if (terminal_ && bar_visible_) {
    std::fprintf(stderr, "\n");
    bar_visible_ = false;
  }
}

}  // namespace lra::harness

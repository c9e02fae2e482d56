#include "harness/report/published.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "core/base/textproto.h"
#include "core/base/file_util.h"
#include "harness/report/published_embedded.h"

namespace lra::report {
namespace {

namespace fs = std::filesystem;

absl::Status ValidateScore(const Score& s, const std::string& where) {
  if (s.has_value() && (!std::isfinite(s.value()) || s.value() < 0 || s.value() > 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": score ", s.value(), " is outside [0, 100] (percent)"));
  }
  if (s.has_value() && s.failed()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": both a value and failed: true"));
  }
  return absl::OkStatus();
}

absl::Status ValidateFile(const std::string& name, const PublishedFile& file,
                          std::set<std::string>* ids) {
  for (const AccuracyTable& t : file.accuracy()) {
    const std::string where = absl::StrCat(name, ": accuracy table '", t.id(), "'");
    if (t.id().empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": a table without id"));
    if (!ids->insert(t.id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate table id"));
    }
    if (t.avg_convention() == AVG_CONVENTION_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": avg_convention is not set"));
    }
    for (const AccuracyRow& row : t.row()) {
      if (row.model().empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": a row without model"));
      for (LraTask task : kLraTasks) {
        LRA_RETURN_IF_ERROR(ValidateScore(
            RowScore(row, task), absl::StrCat(where, ", row '", row.model(), "', ", LraTaskKey(task))));
      }
    }
  }
  for (const EfficiencyTable& t : file.efficiency()) {
    const std::string where = absl::StrCat(name, ": efficiency table '", t.id(), "'");
    if (t.id().empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": a table without id"));
    if (!ids->insert(t.id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate table id"));
    }
    for (const EfficiencyRow& row : t.row()) {
      for (const Series& s : row.series()) {
        if (s.value_size() != t.axis_size()) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s, row '%s', %s: %d values for %d axis points", where, row.model(),
              Quantity_Name(s.quantity()), s.value_size(), t.axis_size()));
        }
        if (s.cell_note_size() != 0 && s.cell_note_size() != t.axis_size()) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s, row '%s', %s: cell_note needs one entry per axis point (%d), has %d", where,
              row.model(), Quantity_Name(s.quantity()), t.axis_size(), s.cell_note_size()));
        }
        for (double v : s.value()) {
          if (!std::isfinite(v) || v < 0) {
            return absl::InvalidArgumentError(absl::StrCat(where, ", row '", row.model(),
                                                           "': value ", v, " is not a finite >= 0"));
          }
        }
      }
    }
  }
  for (const Figure& f : file.figure()) {
    if (f.id().empty() || !ids->insert(f.id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": figure '", f.id(), "' has an empty or duplicate id"));
    }
  }
  return absl::OkStatus();
}

// Decimals a printed number had: the fewest (up to 4) that represent it exactly.
int PrintedDecimals(double v) {
  for (int d = 0; d < 4; ++d) {
    const double scaled = v * std::pow(10.0, d);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6) return d;
  }
  return 4;
}

double HalfUlpOfPrinting(double v) { return 0.5 * std::pow(10.0, -PrintedDecimals(v)); }

// Could printed ratio r come from the unrounded values behind printed a / b?
bool RatioConsistent(double a, double b, double r) {
  const double ha = HalfUlpOfPrinting(a), hb = HalfUlpOfPrinting(b), hr = HalfUlpOfPrinting(r);
  if (b - hb <= 0) return true;  // the denominator could be anything near 0
  const double lo = (a - ha) / (b + hb);
  const double hi = (a + ha) / (b - hb);
  // 1e-9 absorbs binary representation error of the decimal inputs.
  return hi >= r - hr - 1e-9 && lo <= r + hr + 1e-9;
}

const EfficiencyRow* FindRow(const EfficiencyTable& t, absl::string_view model) {
  for (const EfficiencyRow& row : t.row()) {
    if (row.model() == model) return &row;
  }
  return nullptr;
}

void CheckRatios(const EfficiencyTable& t, const EfficiencyRow& row, const Series& ratio,
                 const EfficiencyRow& num, const EfficiencyRow& den, Quantity of,
                 std::vector<std::string>* problems) {
  const Series* a = FindSeries(num, of);
  const Series* b = FindSeries(den, of);
  if (a == nullptr || b == nullptr) {
    problems->push_back(absl::StrCat(t.id(), ", row '", row.model(), "': no ", Quantity_Name(of),
                                     " series to check the ratio against"));
    return;
  }
  for (int i = 0; i < t.axis_size(); ++i) {
    const bool ok = RatioConsistent(a->value(i), b->value(i), ratio.value(i));
    const bool flagged = ratio.cell_note_size() > i && !ratio.cell_note(i).empty();
    if (ok == flagged) {
      problems->push_back(absl::StrFormat(
          "%s, row '%s', %s at %s %d: printed %g vs %g / %g = %.4g%s", t.id(), row.model(),
          Quantity_Name(ratio.quantity()), t.axis_name(), t.axis(i), ratio.value(i), a->value(i),
          b->value(i), a->value(i) / b->value(i),
          flagged ? " is consistent, but the cell is flagged as inconsistent"
                  : " cannot come from the printed numbers (a typo?)"));
    }
  }
}

}  // namespace

std::vector<const AccuracyTable*> PublishedData::AccuracyTables() const {
  std::vector<const AccuracyTable*> out;
  for (const auto& [name, file] : files) {
    for (const AccuracyTable& t : file.accuracy()) out.push_back(&t);
  }
  return out;
}

std::vector<const EfficiencyTable*> PublishedData::EfficiencyTables() const {
  std::vector<const EfficiencyTable*> out;
  for (const auto& [name, file] : files) {
    for (const EfficiencyTable& t : file.efficiency()) out.push_back(&t);
  }
  return out;
}

std::vector<const Figure*> PublishedData::Figures() const {
  std::vector<const Figure*> out;
  for (const auto& [name, file] : files) {
    for (const Figure& f : file.figure()) out.push_back(&f);
  }
  return out;
}

absl::StatusOr<PublishedData> ParsePublishedFiles(
    const std::vector<std::pair<std::string, std::string>>& named_texts) {
  PublishedData data;
  std::set<std::string> ids;
  for (const auto& [name, text] : named_texts) {
    PublishedFile file;
    LRA_RETURN_IF_ERROR(ParseTextProto(text, name, &file));
    LRA_RETURN_IF_ERROR(ValidateFile(name, file, &ids));
    data.files.emplace_back(name, std::move(file));
  }
  std::sort(data.files.begin(), data.files.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return data;
}

absl::StatusOr<PublishedData> LoadEmbeddedPublished() {
  std::vector<std::pair<std::string, std::string>> texts;
  for (int i = 0; i < kNumEmbeddedPublished; ++i) {
    texts.emplace_back(absl::StrCat("results/published/", kEmbeddedPublished[i].name),
                       kEmbeddedPublished[i].text);
  }
  return ParsePublishedFiles(texts);
}

absl::StatusOr<PublishedData> LoadPublishedDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("no folder '", dir, "' of published numbers"));
  }
  std::vector<std::pair<std::string, std::string>> texts;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".textproto") continue;
    LRA_ASSIGN_OR_RETURN(std::string text, ReadFile(e.path().string()));
    texts.emplace_back(e.path().string(), std::move(text));
  }
  if (texts.empty()) {
    return absl::NotFoundError(absl::StrCat("no *.textproto files in '", dir, "'"));
  }
  return ParsePublishedFiles(texts);
}

const AccuracyTable* FindAccuracyTable(const PublishedData& data, absl::string_view id) {
  for (const AccuracyTable* t : data.AccuracyTables()) {
    if (t->id() == id) return t;
  }
  return nullptr;
}

const EfficiencyTable* FindEfficiencyTable(const PublishedData& data, absl::string_view id) {
  for (const EfficiencyTable* t : data.EfficiencyTables()) {
    if (t->id() == id) return t;
  }
  return nullptr;
}

const Series* FindSeries(const EfficiencyRow& row, Quantity quantity) {
  for (const Series& s : row.series()) {
    if (s.quantity() == quantity) return &s;
  }
  return nullptr;
}

const Score& RowScore(const AccuracyRow& row, LraTask task) {
  switch (task) {
    case LraTask::kListOps: return row.listops();
    case LraTask::kText: return row.text();
    case LraTask::kRetrieval: return row.retrieval();
    case LraTask::kImage: return row.image();
    case LraTask::kPathfinder: return row.pathfinder();
    case LraTask::kPathX: return row.path_x();
  }
  return Score::default_instance();
}

LraScores RowScores(const AccuracyRow& row) {
  LraScores scores;
  for (int t = 0; t < kNumLraTasks; ++t) {
    const Score& s = RowScore(row, static_cast<LraTask>(t));
    if (s.has_value()) scores[t].value = s.value();
    scores[t].failed = s.failed();
  }
  return scores;
}

std::optional<double> ConventionAverage(const AccuracyRow& row, AvgConvention convention) {
  const LraScores scores = RowScores(row);
  if (convention == LRA_5) return LraAverage(scores);
  if (convention == S4_6) return ComputeS4Average(scores).value;
  return std::nullopt;
}

std::string CitationText(const Citation& c) {
  std::vector<std::string> parts;
  for (const std::string* s : {&c.authors(), &c.venue()}) {
    if (!s->empty()) parts.push_back(*s);
  }
  if (parts.empty() && !c.paper().empty()) parts.push_back(c.paper());
  if (!c.arxiv_id().empty()) parts.push_back(absl::StrCat("arXiv ", c.arxiv_id()));
  if (!c.table().empty()) parts.push_back(c.table());
  if (!c.page().empty()) parts.push_back(c.page());
  return absl::StrJoin(parts, ", ");
}

const char* VerificationName(Verification v) {
  switch (v) {
    case VERIFIED: return "verified";
    case RECALLED: return "recalled";
    case UNVERIFIED: return "unverified";
    default: return "unspecified";
  }
}

std::vector<std::string> CheckPublishedConsistency(const PublishedData& data) {
  std::vector<std::string> problems;
  for (const AccuracyTable* t : data.AccuracyTables()) {
    for (const AccuracyRow& row : t->row()) {
      if (!row.has_printed_avg()) continue;
      const std::optional<double> avg = ConventionAverage(row, t->avg_convention());
      if (!avg.has_value()) {
        problems.push_back(absl::StrCat(t->id(), ", row '", row.model(),
                                        "': a printed average but the row has no defined mean"));
        continue;
      }
      const double diff = std::fabs(*avg - row.printed_avg());
      const bool consistent = diff <= 0.01 + 1e-9;
      if (consistent == row.printed_avg_inconsistent()) {
        problems.push_back(absl::StrFormat(
            "%s, row '%s': printed avg %.2f, mean of the row %.3f (%s)%s", t->id(), row.model(),
            row.printed_avg(), *avg, AvgConvention_Name(t->avg_convention()),
            consistent ? ": agree, but the row is flagged printed_avg_inconsistent"
                       : ": differ by more than rounding (a mistyped number?)"));
      }
    }
    for (const ColumnSummary& summary : t->column_summary()) {
      std::vector<double> column;
      for (const AccuracyRow& row : t->row()) {
        if (summary.task() == "avg") {
          if (row.has_printed_avg()) column.push_back(row.printed_avg());
          continue;
        }
        const std::optional<LraTask> task = ParseLraTask(summary.task());
        if (!task.has_value()) continue;
        const Score& s = RowScore(row, *task);
        if (s.has_value()) column.push_back(s.value());
      }
      const MeanStd ms = ComputeMeanStd(column);
      // Printed rounding of the summary plus the inputs' own 2-decimal rounding (0.005).
      const double mean_tol = 0.5 * std::pow(10.0, -summary.mean_decimals()) + 0.005 + 1e-9;
      const double std_tol = 0.5 * std::pow(10.0, -summary.std_decimals()) + 0.005 + 1e-9;
      if (std::fabs(ms.mean - summary.mean()) > mean_tol ||
          std::fabs(ms.std - summary.std()) > std_tol) {
        problems.push_back(absl::StrFormat(
            "%s, summary '%s': printed %g (%g), computed %.3f (%.3f) over %d rows", t->id(),
            summary.task(), summary.mean(), summary.std(), ms.mean, ms.std, ms.n));
      }
    }
  }
  for (const EfficiencyTable* t : data.EfficiencyTables()) {
    const EfficiencyRow* reference =
        t->reference_model().empty() ? nullptr : FindRow(*t, t->reference_model());
    for (const EfficiencyRow& row : t->row()) {
      for (const Series& s : row.series()) {
        if (s.quantity() == SPEED_RELATIVE && reference != nullptr &&
            FindSeries(*reference, STEPS_PER_SECOND) != nullptr) {
          CheckRatios(*t, row, s, row, *reference, STEPS_PER_SECOND, &problems);
        } else if (s.quantity() == MEMORY_RELATIVE && reference != nullptr &&
                   FindSeries(*reference, PEAK_MEMORY_GB) != nullptr) {
          CheckRatios(*t, row, s, row, *reference, PEAK_MEMORY_GB, &problems);
        } else if (s.quantity() == RATIO) {
          const EfficiencyRow* num = FindRow(*t, row.ratio_of().numerator());
          const EfficiencyRow* den = FindRow(*t, row.ratio_of().denominator());
          if (num == nullptr || den == nullptr) {
            problems.push_back(absl::StrCat(t->id(), ", row '", row.model(),
                                            "': ratio_of names rows that do not exist"));
            continue;
          }
          CheckRatios(*t, row, s, *num, *den, row.ratio_of().quantity(), &problems);
        }
      }
    }
  }
  return problems;
}

}  // namespace lra::report

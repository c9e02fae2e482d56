#include "harness/report/accuracy_table.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "core/base/status_macros.h"
#include "core/base/file_util.h"
#include "harness/report/format_util.h"
#include "harness/report/task_columns.h"

namespace lra::report {
namespace {

using harness::DataProvenance;
using harness::RunResult;

constexpr char kDash[] = "—";

// Marker letters for the data a cell was trained and tested on (README.md, "Markers").
const char* ProvenanceMarker(DataProvenance p) {
  switch (p) {
    case harness::RELEASE: return "";
    case harness::GENERATED: return "G";
    case harness::SYNTHETIC: return "S";
    case harness::SYSTEM: return "P";
    default: return "?";
  }
}

int TierOrder(const std::string& tier) {
  if (tier == "paper") return 0;
  if (tier == "small") return 1;
  if (tier == "smoke") return 2;
  return 3;
}

// The accuracy `metric` selects, as a fraction; nullopt when that point was not evaluated.
std::optional<double> MetricValue(const RunResult& r, TableMetric metric) {
  switch (metric) {
    case TableMetric::kTestAtBestVal:
      if (r.best().has_test_accuracy()) return r.best().test_accuracy();
      return std::nullopt;
    case TableMetric::kTestAtLastStep:
      if (r.last().has_test_accuracy()) return r.last().test_accuracy();
      return std::nullopt;
    case TableMetric::kValAtBestVal:
      if (r.best().has_val_accuracy()) return r.best().val_accuracy();
      return std::nullopt;
  }
  return std::nullopt;
}

std::string BudgetText(const RunResult& r) {
  const harness::TrainingBudget& b = r.budget();
  std::vector<std::string> parts;
  if (!b.description().empty()) parts.push_back(b.description());
  if (b.description().empty()) {
    if (b.max_steps() > 0) parts.push_back(absl::StrCat(b.max_steps(), " steps"));
    if (b.batch_size() > 0) parts.push_back(absl::StrCat("batch ", b.batch_size()));
    if (b.max_minutes() > 0) parts.push_back(absl::StrCat(b.max_minutes(), " min cap"));
  }
  if (parts.empty()) parts.push_back("budget not recorded");
  std::string text = absl::StrCat("config ", r.config().empty() ? "?" : r.config(), ": ",
                                  absl::StrJoin(parts, ", "));
  // Which upstream recipe a paper config ran (RunConfig.recipe), so a reader can tell e.g. the
  // S4 V3 recipe behind the published S4 rows from the V4 one.
  if (!r.recipe().empty()) absl::StrAppend(&text, "; recipe ", r.recipe());
  return text;
}

void Accumulate(const LoadedRun& run, TableMetric metric, std::map<std::string, int>* budget_ids,
                AccuracyTableData* table, OurCell* cell) {
  const RunResult& r = run.result;
  const std::string budget = BudgetText(r);
  auto [it, inserted] = budget_ids->emplace(budget, static_cast<int>(table->budgets.size()));
  if (inserted) table->budgets.push_back(budget);
  cell->budgets.insert(it->second);
  cell->provenance.insert(r.data().provenance());
  if (r.status() == harness::DIVERGED) {
    ++cell->diverged;
    return;
  }
  const std::optional<double> value = MetricValue(r, metric);
  if (!value.has_value()) {
    table->warnings.push_back(absl::StrCat(run.path, ": no ", TableMetricName(metric),
                                           " recorded; the run is left out of its cell"));
    return;
  }
  cell->values.push_back(*value * 100.0);
  if (r.status() == harness::CUT_SHORT) ++cell->cut_short;
}

std::vector<TaskScore> OurScores(const TableRow& row) {
  std::vector<TaskScore> scores(row.cells.size());
  for (size_t i = 0; i < row.cells.size(); ++i) {
    const OurCell& c = row.cells[i];
    if (c.present()) scores[i].value = c.stats.mean;
    scores[i].failed = c.failed();
  }
  return scores;
}

std::string SourceRefs(const TableRow& row) {
  std::string out;
  for (int s : row.sources) absl::StrAppend(&out, "[", s + 1, "]");
  return out;
}

std::string PublishedCell(const TaskScore& s) {
  if (s.failed) return "FAIL";
  if (!s.value.has_value()) return kDash;
  return Fixed(*s.value, 2);
}

std::string S4AvgText(const S4Average& a) {
  std::string text = Fixed(a.value, 2);
  if (a.missing > 0) absl::StrAppend(&text, " (", a.missing, "×50)");
  return text;
}

std::string RowLabel(const TableRow& row) {
  if (row.baseline) return "*majority class* (test split of our data)";
  if (row.ours) return absl::StrCat("**", row.model, "** (ours, ", row.config, ")");
  return row.model;
}

std::string SourceText(const TableRow& row) {
  if (row.baseline) return "class counts";
  if (row.ours) return "this harness";
  std::string s = SourceRefs(row);
  if (row.verification == RECALLED || row.verification == UNVERIFIED) {
    absl::StrAppend(&s, " ", VerificationName(row.verification));
  }
  return s;
}

std::string NoteRefs(const TableRow& row) {
  std::string out;
  for (int n : row.notes) absl::StrAppend(&out, " (note ", n + 1, ")");
  return out;
}

int CountColumns(const AccuracyTableData& table, bool TaskColumn::*in_average) {
  return static_cast<int>(std::count_if(table.columns.begin(), table.columns.end(),
                                        [&](const TaskColumn& c) { return c.*in_average; }));
}

// The header cells shared by all three formats: the LRA group's columns, the two averages, the
// extra columns.
std::vector<std::string> Header(const AccuracyTableData& table) {
  std::vector<std::string> h = {"Model", "Source"};
  for (const TaskColumn& c : table.columns) {
    if (!c.extra) h.push_back(c.display_name);
  }
  h.push_back(absl::StrCat("Avg (LRA, ", CountColumns(table, &TaskColumn::in_lra_average),
                           " tasks)"));
  h.push_back(absl::StrCat("Avg (S4, ", CountColumns(table, &TaskColumn::in_s4_average),
                           " tasks, FAIL=50)"));
  for (const TaskColumn& c : table.columns) {
    if (c.extra) h.push_back(absl::StrCat(c.display_name, " (extra)"));
  }
  return h;
}

// The majority-class share of a task's test split, with the data marker; several datasets of
// one task (e.g. generated and release) show as a range.
std::string BaselineCell(const OurCell& cell) {
  if (cell.values.empty()) return kDash;
  const auto [lo, hi] = std::minmax_element(cell.values.begin(), cell.values.end());
  std::string text = *lo == *hi ? Fixed(*lo, 2) : absl::StrCat(Fixed(*lo, 2), "–", Fixed(*hi, 2));
  std::string marks;
  for (DataProvenance p : cell.provenance) absl::StrAppend(&marks, ProvenanceMarker(p));
  if (!marks.empty()) absl::StrAppend(&text, " ", marks);
  return text;
}

// A published row's cell: the paper's number where the column has a published field; blank in
// an extra column, "—" in an LRA-group column the papers do not have.
std::string PublishedColumnCell(const TableRow& row, const TaskColumn& column) {
  if (column.published.has_value()) {
    return PublishedCell(row.published[static_cast<int>(*column.published)]);
  }
  return column.extra ? "" : kDash;
}

std::vector<std::string> DisplayCells(const AccuracyTableData& table, const TableRow& row) {
  std::vector<std::string> cells = {RowLabel(row) + NoteRefs(row), SourceText(row)};
  auto add_columns = [&](bool extra) {
    for (size_t i = 0; i < table.columns.size(); ++i) {
      if (table.columns[i].extra != extra) continue;
      cells.push_back(row.baseline ? BaselineCell(row.cells[i])
                      : row.ours   ? FormatOurCell(row.cells[i])
                                   : PublishedColumnCell(row, table.columns[i]));
    }
  };
  add_columns(/*extra=*/false);
  cells.push_back(row.lra_avg.has_value() ? Fixed(*row.lra_avg, 2) : kDash);
  cells.push_back(S4AvgText(row.s4_avg));
  add_columns(/*extra=*/true);
  return cells;
}

std::vector<std::string> LegendLines(const AccuracyTableData& table) {
  std::vector<std::string> lines;
  lines.push_back(absl::StrCat(
      "Cells are accuracy in percent. Ours: ", TableMetricName(table.metric),
      ", mean ± sample std over seeds, n = completed runs."));
  lines.push_back(
      "Data markers on our cells: none = original release files; G = generated by a port of the "
      "original generator; S = synthetic stand-in (not the real task); P = real data from a "
      "system package; ? = provenance not recorded.");
  lines.push_back(
      "b1, b2, ...: the training budget of the runs in the cell (below), with the upstream "
      "recipe (repository@commit:path) a paper config copies. FAIL = stayed at chance "
      "(published) or every run diverged (ours); — = no number. \"cut short\": runs stopped by "
      "the train.max_minutes safety net before their step budget; such a number depends on the "
      "machine's speed.");
  std::vector<std::string> outside_lra;  // LRA-group columns left out of the LRA average
  for (const TaskColumn& c : table.columns) {
    if (!c.extra && !c.in_lra_average) outside_lra.push_back(c.display_name);
  }
  lines.push_back(absl::StrCat(
      "Avg (LRA) = mean of the ", CountColumns(table, &TaskColumn::in_lra_average), " tasks",
      outside_lra.empty() ? "" : absl::StrCat(" without ", absl::StrJoin(outside_lra, ", ")),
      " (LRA paper); Avg (S4) = mean of ", CountColumns(table, &TaskColumn::in_s4_average),
      " tasks with FAIL or a missing cell counted as 50 (S4 paper), \"(k×50)\" = k missing cells "
      "filled in. Both are recomputed from the cells shown; printed averages that differ are "
      "noted."));
  if (std::any_of(table.rows.begin(), table.rows.end(),
                  [](const TableRow& r) { return r.baseline; }))
    lines.push_back(
      "Majority class: the accuracy of always answering the most common class of the test split "
      "our runs used (recorded by each run); a model has learned something only clearly above "
      "it.");
  lines.push_back(
      "Published numbers come from other hardware and full training budgets; ours from this "
      "harness's budgets. Compare with care.");
  return lines;
}

}  // namespace

const char* TableMetricName(TableMetric metric) {
  switch (metric) {
    case TableMetric::kTestAtBestVal: return "test accuracy at the best-validation checkpoint";
    case TableMetric::kTestAtLastStep: return "test accuracy at the last step";
    case TableMetric::kValAtBestVal: return "best validation accuracy";
  }
  return "?";
}

std::string FormatOurCell(const OurCell& cell) {
  std::string text;
  if (cell.present()) {
    text = Fixed(cell.stats.mean, 2);
    if (cell.stats.n > 1) absl::StrAppend(&text, " ± ", Fixed(cell.stats.std, 2));
    absl::StrAppend(&text, " (n=", cell.stats.n, ")");
    if (cell.diverged > 0) absl::StrAppend(&text, " +", cell.diverged, " diverged");
    if (cell.cut_short > 0) absl::StrAppend(&text, " (", cell.cut_short, " cut short)");
  } else if (cell.failed()) {
    text = absl::StrCat("FAIL (", cell.diverged, " diverged)");
  } else {
    return kDash;
  }
  std::string marks;
  for (DataProvenance p : cell.provenance) absl::StrAppend(&marks, ProvenanceMarker(p));
  if (!marks.empty()) absl::StrAppend(&text, " ", marks);
  std::vector<std::string> budgets;
  for (int b : cell.budgets) budgets.push_back(absl::StrCat("b", b + 1));
  if (!budgets.empty()) absl::StrAppend(&text, " ", absl::StrJoin(budgets, ","));
  return text;
}

AccuracyTableData BuildAccuracyTable(const std::vector<LoadedRun>& runs,
                                     const PublishedData* published,
                                     const AccuracyTableOptions& options,
                                     const std::vector<std::string>& scan_errors) {
  AccuracyTableData table;
  table.metric = options.metric;
  table.title = absl::StrCat("Long Range Arena accuracy (", TableMetricName(options.metric), ")");
  table.warnings = scan_errors;

  // Published rows, in file order; a row whose six cells equal an earlier row's (the S4 paper
  // repeats the LRA baselines) is folded into it and only adds its source.
  if (published != nullptr && options.include_published) {
    std::vector<std::pair<LraScores, int>> seen;  // scores -> row index
    for (const AccuracyTable* t : published->AccuracyTables()) {
      const bool wanted =
          options.published_tables.empty()
              ? t->in_default_table()
              : std::find(options.published_tables.begin(), options.published_tables.end(),
                          t->id()) != options.published_tables.end();
      if (!wanted) continue;
      const int source = static_cast<int>(table.sources.size());
      table.sources.push_back(absl::StrCat(t->title(), ": ", CitationText(t->citation()), " (",
                                           VerificationName(t->citation().verification()), ")"));
      for (const AccuracyRow& row : t->row()) {
        const LraScores scores = RowScores(row);
        auto same = std::find_if(seen.begin(), seen.end(), [&](const auto& s) {
          for (int i = 0; i < kNumLraTasks; ++i) {
            if (s.first[i].value != scores[i].value || s.first[i].failed != scores[i].failed) {
              return false;
            }
          }
          return true;
        });
        if (same != seen.end()) {
          table.rows[same->second].sources.push_back(source);
          continue;
        }
        TableRow out;
        out.model = row.model();
        out.sources.push_back(source);
        out.verification = row.verification() != VERIFICATION_UNSPECIFIED
                               ? row.verification()
                               : t->citation().verification();
        out.published = scores;
        out.lra_avg = LraAverage(scores);
        out.s4_avg = ComputeS4Average(scores);
        // Note a printed average that does not show as ours does (to 2 decimals).
        const std::optional<double> ours_conv = ConventionAverage(row, t->avg_convention());
        if (row.has_printed_avg() && ours_conv.has_value() &&
            Fixed(row.printed_avg(), 2) != Fixed(*ours_conv, 2)) {
          out.notes.push_back(static_cast<int>(table.notes.size()));
          table.notes.push_back(absl::StrCat(
              row.model(), " [", source + 1, "]: printed average ", Fixed(row.printed_avg(), 2),
              " (", t->avg_convention() == LRA_5 ? "LRA" : "S4", " convention); the mean of the "
              "row is ", Fixed(*ours_conv, 3), row.note().empty() ? "" : ". ", row.note()));
        }
        seen.emplace_back(scores, static_cast<int>(table.rows.size()));
        table.rows.push_back(std::move(out));
      }
    }
  }

  // Our rows: (model, config) -> row, one cell per column.
  std::vector<TaskColumn> columns = options.columns.empty() ? TaskColumnsFromSpecs()
                                                            : options.columns;
  std::stable_partition(columns.begin(), columns.end(),
                        [](const TaskColumn& c) { return !c.extra; });
  auto find_column = [&](const std::string& task) -> std::optional<size_t> {
    for (size_t i = 0; i < columns.size(); ++i) {
      if (columns[i].Matches(task)) return i;
    }
    return std::nullopt;
  };
  std::vector<bool> has_runs(columns.size(), false);
  std::map<std::tuple<std::string, int, std::string>, TableRow> ours;
  std::map<std::string, int> budget_ids;
  for (const LoadedRun& run : runs) {
    const RunResult& r = run.result;
    if (r.status() == harness::INTERRUPTED && !options.include_interrupted) {
      table.warnings.push_back(
          absl::StrCat(run.path, ": INTERRUPTED, left out (resume it with `lra train --resume`)"));
      continue;
    }
    const std::optional<size_t> column = find_column(r.task());
    if (!column.has_value()) {
      table.warnings.push_back(absl::StrCat(
          run.path, ": task '", r.task(), "' has no task spec (`lra tasks` lists them); left out"));
      continue;
    }
    TableRow& row = ours[{r.model(), TierOrder(r.config()), r.config()}];
    row.ours = true;
    row.model = r.model();
    row.config = r.config();
    row.cells.resize(columns.size());
    has_runs[*column] = true;
    Accumulate(run, options.metric, &budget_ids, &table, &row.cells[*column]);
  }
  // The majority-class baseline of the data our runs used, from their results: one value per
  // dataset, normally the same for every run of a task.
  TableRow majority;
  majority.ours = majority.baseline = true;
  majority.model = "majority class";
  majority.cells.resize(columns.size());
  bool any_majority = false;
  for (const LoadedRun& run : runs) {
    const RunResult& r = run.result;
    const double m = r.data().test_majority_accuracy();
    if (m <= 0) continue;
    const std::optional<size_t> column = find_column(r.task());
    if (!column.has_value()) continue;
    OurCell* cell = &majority.cells[*column];
    cell->provenance.insert(r.data().provenance());
    if (std::find(cell->values.begin(), cell->values.end(), m * 100.0) == cell->values.end())
      cell->values.push_back(m * 100.0);
    any_majority = true;
  }
  if (any_majority) ours[{"~majority", 1000, ""}] = std::move(majority);  // sorts last

  // Every LRA-group column is shown; an extra one only when it has runs.
  std::vector<size_t> shown;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (!columns[i].extra || has_runs[i]) {
      shown.push_back(i);
      table.columns.push_back(columns[i]);
    }
  }
  for (auto& [key, row] : ours) {
    std::vector<OurCell> cells;
    for (size_t i : shown) cells.push_back(std::move(row.cells[i]));
    row.cells = std::move(cells);
    for (OurCell& c : row.cells) c.stats = ComputeMeanStd(c.values);
    const std::vector<TaskScore> scores = OurScores(row);
    row.lra_avg = LraAverage(table.columns, scores);
    row.s4_avg = ComputeS4Average(table.columns, scores);
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::string AccuracyTableMarkdown(const AccuracyTableData& table) {
  std::string out = absl::StrCat("# ", table.title, "\n\n");
  const std::vector<std::string> header = Header(table);
  absl::StrAppend(&out, "| ", absl::StrJoin(header, " | "), " |\n|");
  for (size_t i = 0; i < header.size(); ++i) absl::StrAppend(&out, i < 2 ? "---|" : "---:|");
  out += "\n";
  for (const TableRow& row : table.rows) {
    std::vector<std::string> cells = DisplayCells(table, row);
    for (std::string& c : cells) c = absl::StrReplaceAll(c, {{"|", "\\|"}});
    absl::StrAppend(&out, "| ", absl::StrJoin(cells, " | "), " |\n");
  }
  out += "\n## Legend\n\n";
  for (const std::string& line : LegendLines(table)) absl::StrAppend(&out, "- ", line, "\n");
  if (!table.budgets.empty()) {
    out += "\nTraining budgets:\n\n";
    for (size_t i = 0; i < table.budgets.size(); ++i) {
      absl::StrAppend(&out, "- b", i + 1, ": ", table.budgets[i], "\n");
    }
  }
  if (!table.sources.empty()) {
    out += "\nSources:\n\n";
    for (size_t i = 0; i < table.sources.size(); ++i) {
      absl::StrAppend(&out, "- [", i + 1, "] ", table.sources[i], "\n");
    }
  }
  if (!table.notes.empty()) {
    out += "\nNotes:\n\n";
    for (size_t i = 0; i < table.notes.size(); ++i) {
      absl::StrAppend(&out, i + 1, ". ", table.notes[i], "\n");
    }
  }
  if (!table.warnings.empty()) {
    out += "\nLeft out:\n\n";
    for (const std::string& w : table.warnings) absl::StrAppend(&out, "- ", w, "\n");
  }
  return out;
}

std::string AccuracyTableCsv(const AccuracyTableData& table) {
  std::vector<std::string> header = {"kind", "model", "config", "source"};
  for (const TaskColumn& c : table.columns) {
    for (const char* suffix : {"", "_std", "_n", "_data", "_budget"}) {
      header.push_back(absl::StrCat(c.key, suffix));
    }
  }
  for (const char* h : {"avg_lra", "avg_s4", "avg_s4_cells_at_50", "metric"}) header.push_back(h);
  std::string out = CsvLine(header);
  for (const TableRow& row : table.rows) {
    std::vector<std::string> f = {row.baseline ? "baseline" : row.ours ? "ours" : "published",
                                  row.model, row.config,
                                  row.ours ? SourceText(row) : SourceRefs(row)};
    auto add_our_cell = [&](const OurCell& c) {
      f.push_back(c.present() ? absl::StrFormat("%.4f", c.stats.mean) : c.failed() ? "FAIL" : "");
      f.push_back(c.stats.n > 1 ? absl::StrFormat("%.4f", c.stats.std) : "");
      f.push_back(absl::StrCat(c.stats.n));
      std::vector<std::string> data;
      for (DataProvenance p : c.provenance) data.push_back(harness::DataProvenance_Name(p));
      f.push_back(absl::StrJoin(data, ";"));
      std::vector<std::string> budgets;
      for (int b : c.budgets) budgets.push_back(absl::StrCat("b", b + 1));
      f.push_back(absl::StrJoin(budgets, ";"));
    };
    for (size_t i = 0; i < table.columns.size(); ++i) {
      const TaskColumn& column = table.columns[i];
      if (row.ours) {
        add_our_cell(row.cells[i]);
      } else if (column.published.has_value()) {
        const TaskScore& s = row.published[static_cast<int>(*column.published)];
        f.push_back(s.failed ? "FAIL" : s.value.has_value() ? Fixed(*s.value, 2) : "");
        f.insert(f.end(), {"", "", "", ""});
      } else {
        f.insert(f.end(), {"", "", "", "", ""});
      }
    }
    f.push_back(row.lra_avg.has_value() ? absl::StrFormat("%.4f", *row.lra_avg) : "");
    f.push_back(absl::StrFormat("%.4f", row.s4_avg.value));
    f.push_back(absl::StrCat(row.s4_avg.failed + row.s4_avg.missing));
    f.push_back(row.baseline ? "majority-class share of the test split"
                : row.ours   ? TableMetricName(table.metric)
                             : "test accuracy (published)");
    out += CsvLine(f);
  }
  return out;
}

std::string AccuracyTableHtml(const AccuracyTableData& table) {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
      HtmlEscape(table.title),
      "</title>\n<style>\n"
      "body { font-family: sans-serif; margin: 2em; }\n"
      "table { border-collapse: collapse; }\n"
      "th, td { border: 1px solid #bbb; padding: 4px 8px; }\n"
      "td.num { text-align: right; white-space: nowrap; }\n"
      "tr.ours { background: #eef5ff; }\n"
      "</style>\n</head>\n<body>\n<h1>",
      HtmlEscape(table.title), "</h1>\n<table>\n<thead><tr>");
  for (const std::string& h : Header(table)) absl::StrAppend(&out, "<th>", HtmlEscape(h), "</th>");
  out += "</tr></thead>\n<tbody>\n";
  for (const TableRow& row : table.rows) {
    std::vector<std::string> cells = DisplayCells(table, row);
    cells[0] = absl::StrReplaceAll(cells[0], {{"**", ""}});
    absl::StrAppend(&out, "<tr class=\"", row.ours ? "ours" : "published", "\">");
    for (size_t i = 0; i < cells.size(); ++i) {
      absl::StrAppend(&out, i < 2 ? "<td>" : "<td class=\"num\">", HtmlEscape(cells[i]), "</td>");
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n<h2>Legend</h2>\n<ul>\n";
  for (const std::string& line : LegendLines(table)) absl::StrAppend(&out, "<li>", HtmlEscape(line), "</li>\n");
  out += "</ul>\n";
  auto list = [&](const char* title, const std::vector<std::string>& items, const char* prefix) {
    if (items.empty()) return;
    absl::StrAppend(&out, "<h3>", title, "</h3>\n<ul>\n");
    for (size_t i = 0; i < items.size(); ++i) {
      std::string label = prefix[0] ? absl::StrFormat(prefix, static_cast<int>(i + 1)) : "";
      absl::StrAppend(&out, "<li>", HtmlEscape(label), HtmlEscape(items[i]), "</li>\n");
    }
    out += "</ul>\n";
  };
  list("Training budgets", table.budgets, "b%d: ");
  list("Sources", table.sources, "[%d] ");
  list("Notes", table.notes, "%d. ");
  list("Left out", table.warnings, "");
  out += "</body>\n</html>\n";
  return out;
}

std::string RunTimesMarkdown(const std::vector<LoadedRun>& runs) {
  std::string out =
      "# Wall time of each run\n\nBeside the accuracy tables, which hold no time: budgets are "
      "steps, so the tables are the same on any machine while these times are this machine's.\n\n"
      "| run | status | steps | wall time | tokens/s | threads |\n|---|---|---:|---:|---:|---:|\n";
  for (const LoadedRun& run : runs) {
    const harness::RunResult& r = run.result;
    absl::StrAppendFormat(&out, "| %s | %s | %d | %.1f s | %.0f | %d |\n",
                          r.run_name().empty() ? run.path : r.run_name(),
                          harness::RunStatus_Name(r.status()), r.steps(), r.wall_seconds(),
                          r.tokens_per_second(), r.threads());
  }
  return out;
}

absl::StatusOr<TableFiles> WriteLraTables(const std::vector<std::string>& runs_dirs,
                                          const std::string& out_dir,
                                          const AccuracyTableOptions& options) {
  LRA_ASSIGN_OR_RETURN(RunScan scan, ScanRunResults(runs_dirs));
  LRA_ASSIGN_OR_RETURN(PublishedData published, LoadEmbeddedPublished());
  TableFiles files;
  files.runs = static_cast<int>(scan.runs.size());
  std::vector<std::pair<std::string, AccuracyTableOptions>> variants = {{"lra_table", options}};
  if (options.metric != TableMetric::kTestAtLastStep) {
    AccuracyTableOptions last = options;
    last.metric = TableMetric::kTestAtLastStep;
    variants.emplace_back("lra_table_last", last);
  }
  for (const auto& [base, opts] : variants) {
    const AccuracyTableData table = BuildAccuracyTable(scan.runs, &published, opts, scan.errors);
    if (files.warnings.empty()) files.warnings = table.warnings;
    const std::pair<const char*, std::string> outputs[] = {
        {".md", AccuracyTableMarkdown(table)},
        {".csv", AccuracyTableCsv(table)},
        {".html", AccuracyTableHtml(table)},
    };
    for (const auto& [ext, text] : outputs) {
      const std::string path = absl::StrCat(out_dir, "/", base, ext);
      LRA_RETURN_IF_ERROR(WriteFileAtomically(path, text));
      files.written.push_back(path);
    }
  }
  const std::string times = absl::StrCat(out_dir, "/run_times.md");
  LRA_RETURN_IF_ERROR(WriteFileAtomically(times, RunTimesMarkdown(scan.runs)));
  files.written.push_back(times);
  return files;
}

}  // namespace lra::report

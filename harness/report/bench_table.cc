#include "harness/report/bench_table.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "core/base/file_util.h"
#include "harness/report/format_util.h"
#include "harness/report/svg_plot.h"
#include "harness/report/result_io.h"

namespace lra::report {
namespace {

using harness::BenchResult;

constexpr char kDash[] = "—";

double Examples(const BenchCell& c) {
  return c.examples_per_second > 0 ? c.examples_per_second : c.steps_per_second * c.batch_size;
}

std::string SpeedCell(const BenchCell& c) {
  if (c.skipped) return absl::StrCat("skipped (", c.skipped_reason, ")");
  if (!c.present()) return kDash;
  std::string s = absl::StrFormat("%#.3g", c.steps_per_second);
  if (c.relative_speed.has_value()) absl::StrAppend(&s, absl::StrFormat(" (%.2fx)", *c.relative_speed));
  return s;
}

std::string MemoryCell(const BenchCell& c) {
  if (c.skipped || !c.present()) return kDash;
  return absl::StrFormat("%.2f", c.peak_memory_gb);
}

std::string Join(const std::vector<int>& v) { return absl::StrJoin(v, ", "); }

// A published efficiency table in Markdown: one column per (quantity, axis point).
std::string PublishedMarkdown(const EfficiencyTable& t) {
  std::vector<Quantity> quantities;
  for (const EfficiencyRow& row : t.row()) {
    for (const Series& s : row.series()) {
      if (std::find(quantities.begin(), quantities.end(), s.quantity()) == quantities.end()) {
        quantities.push_back(s.quantity());
      }
    }
  }
  auto name = [](Quantity q) -> std::string {
    switch (q) {
      case STEPS_PER_SECOND: return "steps/s";
      case SPEED_RELATIVE: return "speed ×";
      case PEAK_MEMORY_GB: return "mem GB";
      case MEMORY_RELATIVE: return "mem ×";
      case STEP_MILLISECONDS: return "step ms";
      case PEAK_MEMORY_MB: return "mem MB";
      case RATIO: return "ratio";
      default: return "?";
    }
  };
  std::string out = absl::StrCat("### ", t.title(), "\n\n", CitationText(t.citation()), " (",
                                 VerificationName(t.citation().verification()), "). Hardware: ",
                                 t.hardware(), ". Protocol: ", t.protocol(), ".\n\n| Model |");
  int columns = 0;
  for (Quantity q : quantities) {
    for (int a : t.axis()) {
      absl::StrAppend(&out, " ", name(q), " ",
                      t.axis_name() == "sequence length" ? LengthLabel(a) : absl::StrCat(a), " |");
      ++columns;
    }
  }
  out += "\n|---|";
  for (int i = 0; i < columns; ++i) out += "---:|";
  out += "\n";
  std::vector<std::string> notes;
  for (const EfficiencyRow& row : t.row()) {
    absl::StrAppend(&out, "| ", row.model(), " |");
    for (Quantity q : quantities) {
      const Series* s = FindSeries(row, q);
      for (int i = 0; i < t.axis_size(); ++i) {
        if (s == nullptr) {
          out += " |";
          continue;
        }
        // As printed: the decimals of the series' most precise value (8.0 beside 9.5, not 8).
        int decimals = 0;
        for (double v : s->value()) {
          for (int d = decimals; d < 4; ++d) {
            const double scaled = v * std::pow(10.0, d);
            if (std::fabs(scaled - std::round(scaled)) < 1e-6) break;
            decimals = d + 1;
          }
        }
        std::string cell = Fixed(s->value(i), decimals);
        if (s->cell_note_size() > i && !s->cell_note(i).empty()) {
          notes.push_back(absl::StrCat(row.model(), ", ", name(q), " ", t.axis(i), ": ", s->cell_note(i)));
          absl::StrAppend(&cell, " (note ", notes.size(), ")");
        }
        absl::StrAppend(&out, " ", cell, " |");
      }
    }
    out += "\n";
  }
  for (size_t i = 0; i < notes.size(); ++i) absl::StrAppend(&out, "\n", i + 1, ". ", notes[i]);
  if (!notes.empty()) out += "\n";
  return out + "\n";
}

std::string CellJson(const BenchCell& c) {
  if (!c.present() && !c.skipped) return "null";
  std::vector<std::string> f = {
      absl::StrCat("\"n\":", c.n),
      absl::StrCat("\"batch_size\":", c.batch_size),
      absl::StrCat("\"train_steps_per_second\":", JsonNumber(c.steps_per_second)),
      absl::StrCat("\"examples_per_second\":", JsonNumber(c.examples_per_second)),
      absl::StrCat("\"tokens_per_second\":", JsonNumber(c.tokens_per_second)),
      absl::StrCat("\"peak_memory_gb\":", JsonNumber(c.peak_memory_gb)),
      absl::StrCat("\"relative_speed\":",
                   c.relative_speed.has_value() ? JsonNumber(*c.relative_speed) : "null"),
      absl::StrCat("\"recurrent_tokens_per_second\":",
                   c.recurrent_tokens_per_second.has_value()
                       ? JsonNumber(*c.recurrent_tokens_per_second)
                       : "null"),
  };
  if (c.skipped) f.push_back(absl::StrCat("\"skipped\":", JsonString(c.skipped_reason)));
  return absl::StrCat("{", absl::StrJoin(f, ","), "}");
}

}  // namespace

bool SameModel(const std::string& a, const std::string& b) {
  return absl::AsciiStrToLower(a) == absl::AsciiStrToLower(b);
}

absl::Status WriteTableOutputs(const std::string& out_dir,
                               const std::vector<std::pair<std::string, std::string>>& outputs,
                               TableFiles* files) {
  for (const auto& [name, text] : outputs) {
    const std::string path = absl::StrCat(out_dir, "/", name);
    LRA_RETURN_IF_ERROR(WriteFileAtomically(path, text));
    files->written.push_back(path);
  }
  return absl::OkStatus();
}

std::string LengthLabel(int length) {
  if (length >= 1024 && length % 1024 == 0) return absl::StrCat(length / 1024, "K");
  return absl::StrCat(length);
}

BenchTableData BuildBenchTable(const std::vector<BenchResult>& results,
                               const BenchTableOptions& options) {
  BenchTableData table;
  table.task = options.task;
  std::set<int> lengths(options.lengths.begin(), options.lengths.end());
  std::set<std::string> machines;
  std::set<int> threads, batches;
  // model -> length -> measurements
  std::map<std::string, std::map<int, std::vector<const BenchResult*>>> groups;
  for (const BenchResult& r : results) {
    if (!options.task.empty() && r.task() != options.task) continue;
    if (options.batch_size > 0 && r.batch_size() != options.batch_size) continue;
    if (!options.lengths.empty() && lengths.count(r.seq_length()) == 0) continue;
    if (options.lengths.empty()) lengths.insert(r.seq_length());
    groups[r.model()][r.seq_length()].push_back(&r);
    if (!r.machine().empty()) machines.insert(r.machine());
    if (r.threads() > 0) threads.insert(r.threads());
    batches.insert(r.batch_size());
  }
  table.lengths.assign(lengths.begin(), lengths.end());
  table.machines.assign(machines.begin(), machines.end());
  table.threads.assign(threads.begin(), threads.end());
  table.batch_sizes.assign(batches.begin(), batches.end());
  if (table.batch_sizes.size() > 1) {
    table.notes.push_back(absl::StrCat("Batch sizes differ (", Join(table.batch_sizes),
                                       "): relative speed compares examples/s."));
  }
  for (const auto& [model, by_length] : groups) {
    // The --model_options each measurement of this model ran with (one set, normally).
    std::set<std::string> option_sets;
    for (const auto& [length, rs] : by_length) {
      for (const BenchResult* r : rs) {
        if (r->model_options_size() > 0) option_sets.insert(absl::StrJoin(r->model_options(), ", "));
      }
    }
    if (!option_sets.empty()) {
      table.notes.push_back(absl::StrCat(
          model, ": over its Text config, --model_options ", absl::StrJoin(option_sets, " | "),
          option_sets.size() > 1 ? " (measurements with different options are averaged: give "
                                   "each set its own --results_dir)"
                                 : ""));
    }
    BenchRow row;
    row.model = model;
    for (int length : table.lengths) {
      BenchCell cell;
      auto it = by_length.find(length);
      if (it != by_length.end()) {
        double recurrent_sum = 0;
        int recurrent_n = 0;
        for (const BenchResult* r : it->second) {
          if (!r->skipped_reason().empty()) {
            cell.skipped_reason = r->skipped_reason();
            continue;
          }
          ++cell.n;
          cell.batch_size = r->batch_size();
          cell.steps_per_second += r->train_steps_per_second();
          cell.examples_per_second += r->examples_per_second();
          cell.tokens_per_second += r->tokens_per_second();
          cell.peak_memory_gb = std::max(cell.peak_memory_gb, r->peak_memory_bytes() / double(1 << 30));
          if (r->has_recurrent_tokens_per_second()) {
            recurrent_sum += r->recurrent_tokens_per_second();
            ++recurrent_n;
          }
        }
        if (cell.n > 0) {
          cell.steps_per_second /= cell.n;
          cell.examples_per_second /= cell.n;
          cell.tokens_per_second /= cell.n;
        } else {
          cell.skipped = true;
        }
        if (recurrent_n > 0) {
          cell.recurrent_tokens_per_second = recurrent_sum / recurrent_n;
          table.has_recurrent = true;
        }
      }
      row.cells.push_back(cell);
    }
    table.rows.push_back(std::move(row));
  }
  // Reference model first; relative speeds against it.
  std::stable_sort(table.rows.begin(), table.rows.end(), [&](const BenchRow& a, const BenchRow& b) {
    return SameModel(a.model, options.reference_model) && !SameModel(b.model, options.reference_model);
  });
  if (!table.rows.empty() && SameModel(table.rows[0].model, options.reference_model)) {
    const BenchRow& ref = table.rows[0];
    for (BenchRow& row : table.rows) {
      for (size_t i = 0; i < row.cells.size(); ++i) {
        if (row.cells[i].present() && ref.cells[i].present() && Examples(ref.cells[i]) > 0) {
          row.cells[i].relative_speed = Examples(row.cells[i]) / Examples(ref.cells[i]);
        }
      }
    }
    for (size_t i = 0; i < ref.cells.size(); ++i) {
      if (ref.cells[i].skipped) {
        table.notes.push_back(absl::StrCat("No relative speed at ", LengthLabel(table.lengths[i]), ": ",
                                           ref.model, " was skipped (", ref.cells[i].skipped_reason, ")."));
      }
    }
  } else if (!table.rows.empty()) {
    table.notes.push_back(absl::StrCat("No '", options.reference_model,
                                       "' measurements: relative speeds are not shown."));
  }
  return table;
}

std::string BenchTableMarkdown(const BenchTableData& t, const PublishedData* published) {
  std::string out = absl::StrCat(
      "# Efficiency (LRA Table 2 protocol)\n\nOurs: task ", t.task, ", batch ", Join(t.batch_sizes),
      ", threads ", Join(t.threads), ", machine: ",
      t.machines.empty() ? "not recorded" : absl::StrJoin(t.machines, "; "),
      ". Training steps per second (in brackets: examples/s relative to the first row at the same "
      "length) and peak memory in GiB (process peak RSS).\n\n| Model |");
  for (int l : t.lengths) absl::StrAppend(&out, " steps/s ", LengthLabel(l), " |");
  for (int l : t.lengths) absl::StrAppend(&out, " mem GiB ", LengthLabel(l), " |");
  out += "\n|---|";
  for (size_t i = 0; i < 2 * t.lengths.size(); ++i) out += "---:|";
  out += "\n";
  for (const BenchRow& row : t.rows) {
    absl::StrAppend(&out, "| ", row.model, " |");
    for (const BenchCell& c : row.cells) absl::StrAppend(&out, " ", SpeedCell(c), " |");
    for (const BenchCell& c : row.cells) absl::StrAppend(&out, " ", MemoryCell(c), " |");
    out += "\n";
  }
  if (t.has_recurrent) {
    out += "\nRecurrent-mode inference (token by token), tokens/s:\n\n| Model |";
    for (int l : t.lengths) absl::StrAppend(&out, " ", LengthLabel(l), " |");
    out += "\n|---|";
    for (size_t i = 0; i < t.lengths.size(); ++i) out += "---:|";
    out += "\n";
    for (const BenchRow& row : t.rows) {
      bool any = false;
      for (const BenchCell& c : row.cells) any |= c.recurrent_tokens_per_second.has_value();
      if (!any) continue;
      absl::StrAppend(&out, "| ", row.model, " |");
      for (const BenchCell& c : row.cells) {
        absl::StrAppend(&out, " ",
                        c.recurrent_tokens_per_second.has_value()
                            ? absl::StrFormat("%.0f", *c.recurrent_tokens_per_second)
                            : kDash,
                        " |");
      }
      out += "\n";
    }
  }
  if (!t.notes.empty()) {
    out += "\n";
    for (const std::string& n : t.notes) absl::StrAppend(&out, "- ", n, "\n");
  }
  if (published != nullptr) {
    out += "\n## Published (different hardware: compare ratios, not absolute numbers)\n\n";
    for (const EfficiencyTable* e : published->EfficiencyTables()) out += PublishedMarkdown(*e);
    for (const Figure* f : published->Figures()) {
      absl::StrAppend(&out, "- ", f->model(), ": ", absl::StrFormat("%g", f->value()), " ", f->unit(),
                      ". ", f->description(), " (", CitationText(f->citation()), ", ",
                      VerificationName(f->citation().verification()), ")\n");
    }
  }
  return out;
}

std::string BenchTableCsv(const BenchTableData& t) {
  std::string out = CsvLine({"model", "task", "seq_length", "batch_size", "n", "train_steps_per_second",
                             "examples_per_second", "tokens_per_second", "peak_memory_gb",
                             "relative_speed", "recurrent_tokens_per_second", "skipped"});
  for (const BenchRow& row : t.rows) {
    for (size_t i = 0; i < row.cells.size(); ++i) {
      const BenchCell& c = row.cells[i];
      if (!c.present() && !c.skipped) continue;
      auto num = [&](double v, bool ok) { return ok ? absl::StrFormat("%.6g", v) : std::string(); };
      out += CsvLine({row.model, t.task, absl::StrCat(t.lengths[i]), absl::StrCat(c.batch_size),
                      absl::StrCat(c.n), num(c.steps_per_second, c.present()),
                      num(c.examples_per_second, c.present()), num(c.tokens_per_second, c.present()),
                      num(c.peak_memory_gb, c.present()),
                      num(c.relative_speed.value_or(0), c.relative_speed.has_value()),
                      num(c.recurrent_tokens_per_second.value_or(0),
                          c.recurrent_tokens_per_second.has_value()),
                      c.skipped ? c.skipped_reason : ""});
    }
  }
  return out;
}

std::string BenchTableJson(const BenchTableData& t, const PublishedData* published) {
  std::vector<std::string> rows;
  for (const BenchRow& row : t.rows) {
    std::vector<std::string> cells;
    for (const BenchCell& c : row.cells) cells.push_back(CellJson(c));
    rows.push_back(absl::StrCat("    {\"model\":", JsonString(row.model), ",\"cells\":[",
                                absl::StrJoin(cells, ","), "]}"));
  }
  std::vector<std::string> machines;
  for (const std::string& m : t.machines) machines.push_back(JsonString(m));
  std::vector<std::string> notes;
  for (const std::string& n : t.notes) notes.push_back(JsonString(n));
  std::string out = absl::StrCat("{\n  \"task\": ", JsonString(t.task), ",\n  \"lengths\": [",
                                 Join(t.lengths), "],\n  \"batch_sizes\": [", Join(t.batch_sizes),
                                 "],\n  \"threads\": [", Join(t.threads), "],\n  \"machines\": [",
                                 absl::StrJoin(machines, ", "), "],\n  \"notes\": [",
                                 absl::StrJoin(notes, ", "), "],\n  \"ours\": [\n",
                                 absl::StrJoin(rows, ",\n"), "\n  ]");
  if (published != nullptr) {
    std::vector<std::string> tables;
    for (const EfficiencyTable* e : published->EfficiencyTables()) {
      std::vector<std::string> prow;
      for (const EfficiencyRow& row : e->row()) {
        std::vector<std::string> series;
        for (const Series& s : row.series()) {
          std::vector<std::string> values;
          for (double v : s.value()) values.push_back(JsonNumber(v));
          series.push_back(absl::StrCat(JsonString(Quantity_Name(s.quantity())), ":[",
                                        absl::StrJoin(values, ","), "]"));
        }
        prow.push_back(absl::StrCat("{\"model\":", JsonString(row.model()), ",",
                                    absl::StrJoin(series, ","), "}"));
      }
      tables.push_back(absl::StrCat(
          "    {\"id\":", JsonString(e->id()), ",\"citation\":", JsonString(CitationText(e->citation())),
          ",\"verification\":", JsonString(VerificationName(e->citation().verification())),
          ",\"hardware\":", JsonString(e->hardware()), ",\"axis_name\":", JsonString(e->axis_name()),
          ",\"axis\":[", absl::StrJoin(e->axis(), ","), "],\"rows\":[", absl::StrJoin(prow, ","), "]}"));
    }
    absl::StrAppend(&out, ",\n  \"published\": [\n", absl::StrJoin(tables, ",\n"), "\n  ]");
  }
  out += "\n}\n";
  return out;
}

std::string BenchPlotSvg(const BenchTableData& table, const std::string& title) {
  PlotSpec speed, memory;
  speed.title = "Training speed";
  speed.y_label = "steps / s";
  memory.title = "Peak memory";
  memory.y_label = "GiB";
  for (PlotSpec* p : {&speed, &memory}) {
    p->x_label = "sequence length";
    p->log_x = p->log_y = true;
    for (int l : table.lengths) {
      p->x_ticks.push_back(l);
      p->x_tick_labels.push_back(LengthLabel(l));
    }
  }
  for (const BenchRow& row : table.rows) {
    PlotSeries s, m;
    s.label = m.label = row.model;
    s.markers = m.markers = true;
    for (size_t i = 0; i < row.cells.size(); ++i) {
      if (!row.cells[i].present()) continue;
      s.x.push_back(table.lengths[i]);
      s.y.push_back(row.cells[i].steps_per_second);
      m.x.push_back(table.lengths[i]);
      m.y.push_back(row.cells[i].peak_memory_gb);
    }
    speed.series.push_back(s);
    memory.series.push_back(m);
  }
  return RenderSvgPanels({speed, memory}, title);
}

absl::StatusOr<TableFiles> WriteBenchTables(const std::string& bench_dir, const std::string& out_dir,
                                            const BenchTableOptions& options) {
  LRA_ASSIGN_OR_RETURN(BenchScan scan, ScanBenchResults(bench_dir));
  const PublishedData* published = nullptr;
  PublishedData data;
  if (options.include_published) {
    LRA_ASSIGN_OR_RETURN(data, LoadEmbeddedPublished());
    published = &data;
  }
  const BenchTableData table = BuildBenchTable(scan.results, options);
  TableFiles files;
  files.runs = static_cast<int>(scan.results.size());
  files.warnings = scan.errors;
  LRA_RETURN_IF_ERROR(WriteTableOutputs(
      out_dir,
      {{"bench_table.md", BenchTableMarkdown(table, published)},
       {"bench_table.csv", BenchTableCsv(table)},
       {"bench_table.json", BenchTableJson(table, published)},
       {"bench.svg", BenchPlotSvg(table, absl::StrCat("Efficiency on ", options.task))}},
      &files));
  return files;
}

}  // namespace lra::report

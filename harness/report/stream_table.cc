#include "harness/report/stream_table.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "harness/report/bench_table.h"
#include "harness/report/format_util.h"
#include "harness/report/result_io.h"
#include "harness/report/svg_plot.h"

namespace lra::report {
namespace {

using harness::StreamResult;

constexpr char kDash[] = "—";

template <typename T>
std::string JoinSet(const std::set<T>& s) {
  return absl::StrJoin(s, ", ");
}

std::string Rate(double v) {
  return v >= 100 ? absl::StrFormat("%.0f", v) : absl::StrFormat("%#.3g", v);
}

std::string TokensCell(const StreamCell& c) {
  if (c.skipped) return absl::StrCat("skipped (", c.skipped_reason, ")");
  if (!c.present()) return kDash;
  std::string s = Rate(c.tokens_per_second);
  if (c.relative.has_value()) absl::StrAppend(&s, absl::StrFormat(" (%.2fx)", *c.relative));
  return s;
}

std::string LatencyCell(const StreamCell& c) {
  if (!c.present()) return kDash;
  return absl::StrFormat("%#.3g", c.seconds_per_step * 1e3);
}

std::string Header(const std::vector<int>& contexts, const std::string& what) {
  std::string out;
  for (int c : contexts) absl::StrAppend(&out, " ", what, " ", LengthLabel(c), " |");
  return out;
}

std::string Rule(size_t columns) {
  std::string out = "|---|";
  for (size_t i = 0; i < columns; ++i) out += "---:|";
  return out + "\n";
}

std::string OptionsText(const std::vector<std::string>& options) {
  return options.empty() ? "its config as is" : absl::StrJoin(options, ", ");
}

// The state cell of a model at context i: from the first block that measured it.
const StreamCell* StateCell(const StreamTableData& t, const std::string& model, size_t i) {
  for (const StreamBlock& b : t.blocks) {
    for (const StreamRow& r : b.rows) {
      if (r.model == model && r.cells[i].present()) return &r.cells[i];
    }
  }
  return nullptr;
}

std::string CellJson(const StreamCell& c) {
  if (!c.present() && !c.skipped) return "null";
  std::vector<std::string> f = {
      absl::StrCat("\"n\":", c.n),
      absl::StrCat("\"tokens_per_second\":", JsonNumber(c.tokens_per_second)),
      absl::StrCat("\"seconds_per_step\":", JsonNumber(c.seconds_per_step)),
      absl::StrCat("\"relative\":", c.relative.has_value() ? JsonNumber(*c.relative) : "null"),
      absl::StrCat("\"state_bytes_per_stream\":", c.state_bytes_per_stream),
      absl::StrCat("\"rss_growth_bytes_per_stream\":",
                   c.rss_growth_bytes_per_stream.has_value()
                       ? absl::StrCat(*c.rss_growth_bytes_per_stream)
                       : "null"),
  };
  if (c.skipped) f.push_back(absl::StrCat("\"skipped\":", JsonString(c.skipped_reason)));
  return absl::StrCat("{", absl::StrJoin(f, ","), "}");
}

void AddClaims(const StreamTableOptions& options, StreamTableData* t) {
  if (t->contexts.size() > 1) {
    const int first = t->contexts.front(), last = t->contexts.back();
    for (const StreamBlock& b : t->blocks) {
      std::vector<std::string> growth;
      for (const StreamRow& r : b.rows) {
        if (r.latency_growth.has_value())
          growth.push_back(absl::StrFormat("%s %.2fx", r.model, *r.latency_growth));
      }
      if (growth.empty()) continue;
      t->claims.push_back(absl::StrCat(
          "Per-token latency from ", LengthLabel(first), " to ", LengthLabel(last), " (",
          absl::StrFormat("%.3g", double(last) / first), "x the context), ", b.streams,
          b.streams == 1 ? " stream: " : " streams: ", absl::StrJoin(growth, ", "),
          " (constant per-token cost: about 1x)."));
    }
  }
  const auto at = std::find(t->contexts.begin(), t->contexts.end(), options.ratio_context);
  if (at == t->contexts.end()) return;
  const size_t i = at - t->contexts.begin();
  std::vector<std::string> ratios;
  for (const StreamBlock& b : t->blocks) {
    for (const StreamRow& r : b.rows) {
      if (SameModel(r.model, options.ratio_model) && r.cells[i].relative.has_value()) {
        ratios.push_back(absl::StrFormat("%.2fx with %d stream%s", *r.cells[i].relative, b.streams,
                                         b.streams == 1 ? "" : "s"));
      }
    }
  }
  if (ratios.empty()) return;
  t->claims.push_back(absl::StrCat(options.ratio_model, " over ", options.reference_model,
                                   " in tokens/s at ", LengthLabel(options.ratio_context), ": ",
                                   absl::StrJoin(ratios, ", "), absl::StrFormat(
                                       " (claimed: %gx).", options.claimed_ratio)));
}

}  // namespace

std::string FormatBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  if (b < 1024.0 * 1024) return absl::StrFormat("%.1f KiB", b / 1024);
  if (b < 1024.0 * 1024 * 1024) return absl::StrFormat("%.1f MiB", b / (1024.0 * 1024));
  return absl::StrFormat("%.2f GiB", b / (1024.0 * 1024 * 1024));
}

StreamTableData BuildStreamTable(const std::vector<StreamResult>& results,
                                 const StreamTableOptions& options) {
  StreamTableData table;
  std::set<int> contexts, threads, windows;
  std::set<std::string> tiers, tasks, machines;
  // streams -> model -> context -> measurements
  std::map<int, std::map<std::string, std::map<int, std::vector<const StreamResult*>>>> groups;
  for (const StreamResult& r : results) {
    groups[r.streams()][r.model()][r.context()].push_back(&r);
    contexts.insert(r.context());
    if (!r.tier().empty()) tiers.insert(r.tier());
    tasks.insert(r.task());
    if (!r.machine().empty()) machines.insert(r.machine());
    if (r.threads() > 0) threads.insert(r.threads());
    if (r.skipped_reason().empty()) windows.insert(r.timed_steps());
  }
  table.contexts.assign(contexts.begin(), contexts.end());
  table.tiers.assign(tiers.begin(), tiers.end());
  table.tasks.assign(tasks.begin(), tasks.end());
  table.machines.assign(machines.begin(), machines.end());
  table.threads.assign(threads.begin(), threads.end());
  table.timed_steps.assign(windows.begin(), windows.end());
  for (const auto& [streams, by_model] : groups) {
    StreamBlock block;
    block.streams = streams;
    for (const auto& [model, by_context] : by_model) {
      StreamRow row;
      row.model = model;
      for (int context : table.contexts) {
        StreamCell cell;
        auto it = by_context.find(context);
        if (it != by_context.end()) {
          for (const StreamResult* r : it->second) {
            if (row.model_options.empty()) {
              row.model_options.assign(r->model_options().begin(), r->model_options().end());
            }
            if (!r->skipped_reason().empty()) {
              cell.skipped_reason = r->skipped_reason();
              continue;
            }
            ++cell.n;
            cell.tokens_per_second += r->tokens_per_second();
            cell.seconds_per_step += r->seconds_per_step();
            cell.state_bytes_per_stream =
                std::max(cell.state_bytes_per_stream, r->state_bytes_per_stream());
            if (r->has_rss_growth_bytes_per_stream()) {
              cell.rss_growth_bytes_per_stream =
                  std::max(cell.rss_growth_bytes_per_stream.value_or(0),
                           r->rss_growth_bytes_per_stream());
            }
          }
          if (cell.n > 0) {
            cell.tokens_per_second /= cell.n;
            cell.seconds_per_step /= cell.n;
          } else {
            cell.skipped = true;
          }
        }
        row.cells.push_back(cell);
      }
      const StreamCell& first = row.cells.front();
      const StreamCell& last = row.cells.back();
      if (row.cells.size() > 1 && first.present() && last.present() && first.seconds_per_step > 0) {
        row.latency_growth = last.seconds_per_step / first.seconds_per_step;
      }
      block.rows.push_back(std::move(row));
    }
    std::stable_sort(block.rows.begin(), block.rows.end(),
                     [&](const StreamRow& a, const StreamRow& b) {
                       return SameModel(a.model, options.reference_model) &&
                              !SameModel(b.model, options.reference_model);
                     });
    if (!block.rows.empty() && SameModel(block.rows[0].model, options.reference_model)) {
      const StreamRow ref = block.rows[0];
      for (StreamRow& row : block.rows) {
        for (size_t i = 0; i < row.cells.size(); ++i) {
          if (row.cells[i].present() && ref.cells[i].present() &&
              ref.cells[i].tokens_per_second > 0) {
            row.cells[i].relative = row.cells[i].tokens_per_second / ref.cells[i].tokens_per_second;
          }
        }
      }
    } else if (!block.rows.empty()) {
      table.notes.push_back(absl::StrCat("No '", options.reference_model, "' measurements with ",
                                         streams, " stream(s): relative speeds are not shown."));
    }
    table.blocks.push_back(std::move(block));
  }
  AddClaims(options, &table);
  return table;
}

std::string StreamTableMarkdown(const StreamTableData& t) {
  const std::string first = t.contexts.empty() ? "" : LengthLabel(t.contexts.front());
  const std::string last = t.contexts.empty() ? "" : LengthLabel(t.contexts.back());
  std::string out = absl::StrCat(
      "# Streaming inference (one token at a time)\n\nOurs: `lra bench --mode=stream`, task ",
      absl::StrJoin(t.tasks, ", "), ", tier ", absl::StrJoin(t.tiers, ", "), ", threads ",
      absl::StrJoin(t.threads, ", "), ", machine: ",
      t.machines.empty() ? "not recorded" : absl::StrJoin(t.machines, "; "),
      ". Each model runs in its streaming form (options below). A cell times ",
      absl::StrJoin(t.timed_steps, ", "),
      " Steps centred on the context C (stream positions C - W/2 to C + W/2 - 1, W the Steps "
      "timed), after stepping every stream there untimed; a Step advances every stream by one "
      "token. tokens/s = streams x Steps / seconds (in brackets: relative to the first row at the "
      "same context and streams); ms/token = the wall time of one Step. Latency growth = ms/token "
      "at ",
      last, " over ", first,
      ": about 1 for a constant-size state (RNN, SSM), about the context ratio for attention over "
      "a key/value cache.\n");
  for (const StreamBlock& b : t.blocks) {
    absl::StrAppend(&out, "\n## ", b.streams, b.streams == 1 ? " stream" : " streams",
                    "\n\n| Model |", Header(t.contexts, "tokens/s"), Header(t.contexts, "ms/token"),
                    " latency ", last, " / ", first, " |\n", Rule(2 * t.contexts.size() + 1));
    for (const StreamRow& row : b.rows) {
      absl::StrAppend(&out, "| ", row.model, " |");
      for (const StreamCell& c : row.cells) absl::StrAppend(&out, " ", TokensCell(c), " |");
      for (const StreamCell& c : row.cells) absl::StrAppend(&out, " ", LatencyCell(c), " |");
      absl::StrAppend(&out, " ",
                      row.latency_growth.has_value() ? absl::StrFormat("%.2fx", *row.latency_growth)
                                                     : kDash,
                      " |\n");
    }
  }
  // State per stream: one row per model (the same at every stream count).
  std::vector<std::string> models;
  std::map<std::string, std::vector<std::string>> options;
  for (const StreamBlock& b : t.blocks) {
    for (const StreamRow& r : b.rows) {
      if (options.emplace(r.model, r.model_options).second) models.push_back(r.model);
    }
  }
  if (!models.empty()) {
    absl::StrAppend(&out,
                    "\n## State held per stream\n\nAnalytic (RecurrentModel::StateBytes: SSM "
                    "state and conv window, RNN h/c, the Transformer's key/value cache at that "
                    "context), and measured: the growth of the process RSS per stream from the "
                    "window at ",
                    first, " to the window at ", last,
                    " (the largest over stream counts).\n\n| Model |", Header(t.contexts, "state"),
                    " RSS growth ", first, " to ", last, " |\n", Rule(t.contexts.size() + 1));
    for (const std::string& m : models) {
      absl::StrAppend(&out, "| ", m, " |");
      for (size_t i = 0; i < t.contexts.size(); ++i) {
        const StreamCell* c = StateCell(t, m, i);
        absl::StrAppend(&out, " ", c ? FormatBytes(c->state_bytes_per_stream) : kDash, " |");
      }
      const StreamCell* c = t.contexts.empty() ? nullptr : StateCell(t, m, t.contexts.size() - 1);
      absl::StrAppend(&out, " ",
                      c && c->rss_growth_bytes_per_stream.has_value()
                          ? FormatBytes(*c->rss_growth_bytes_per_stream)
                          : kDash,
                      " |\n");
    }
    out += "\nModel options over the tier's Text config:\n\n";
    for (const std::string& m : models) {
      absl::StrAppend(&out, "- ", m, ": ", OptionsText(options[m]), "\n");
    }
  }
  if (!t.claims.empty()) {
    out += "\n## Claims\n\n";
    for (const std::string& c : t.claims) absl::StrAppend(&out, "- ", c, "\n");
  }
  if (!t.notes.empty()) {
    out += "\n";
    for (const std::string& n : t.notes) absl::StrAppend(&out, "- ", n, "\n");
  }
  return out;
}

std::string StreamTableCsv(const StreamTableData& t) {
  std::string out = CsvLine({"model", "streams", "context", "n", "tokens_per_second",
                             "seconds_per_step", "relative", "state_bytes_per_stream",
                             "rss_growth_bytes_per_stream", "model_options", "skipped"});
  for (const StreamBlock& b : t.blocks) {
    for (const StreamRow& row : b.rows) {
      for (size_t i = 0; i < row.cells.size(); ++i) {
        const StreamCell& c = row.cells[i];
        if (!c.present() && !c.skipped) continue;
        auto num = [](double v, bool ok) { return ok ? absl::StrFormat("%.6g", v) : std::string(); };
        out += CsvLine({row.model, absl::StrCat(b.streams), absl::StrCat(t.contexts[i]),
                        absl::StrCat(c.n), num(c.tokens_per_second, c.present()),
                        num(c.seconds_per_step, c.present()),
                        num(c.relative.value_or(0), c.relative.has_value()),
                        c.present() ? absl::StrCat(c.state_bytes_per_stream) : "",
                        c.rss_growth_bytes_per_stream.has_value()
                            ? absl::StrCat(*c.rss_growth_bytes_per_stream)
                            : "",
                        absl::StrJoin(row.model_options, " "), c.skipped ? c.skipped_reason : ""});
      }
    }
  }
  return out;
}

std::string StreamTableJson(const StreamTableData& t) {
  auto strings = [](const std::vector<std::string>& v) {
    std::vector<std::string> q;
    for (const std::string& s : v) q.push_back(JsonString(s));
    return absl::StrCat("[", absl::StrJoin(q, ", "), "]");
  };
  std::vector<std::string> blocks;
  for (const StreamBlock& b : t.blocks) {
    std::vector<std::string> rows;
    for (const StreamRow& row : b.rows) {
      std::vector<std::string> cells;
      for (const StreamCell& c : row.cells) cells.push_back(CellJson(c));
      rows.push_back(absl::StrCat(
          "      {\"model\":", JsonString(row.model), ",\"model_options\":",
          strings(row.model_options), ",\"latency_growth\":",
          row.latency_growth.has_value() ? JsonNumber(*row.latency_growth) : "null",
          ",\"cells\":[", absl::StrJoin(cells, ","), "]}"));
    }
    blocks.push_back(absl::StrCat("    {\"streams\":", b.streams, ",\"rows\":[\n",
                                  absl::StrJoin(rows, ",\n"), "\n    ]}"));
  }
  return absl::StrCat("{\n  \"contexts\": [", absl::StrJoin(t.contexts, ", "),
                      "],\n  \"tasks\": ", strings(t.tasks), ",\n  \"tiers\": ", strings(t.tiers),
                      ",\n  \"threads\": [", absl::StrJoin(t.threads, ", "),
                      "],\n  \"timed_steps\": [", absl::StrJoin(t.timed_steps, ", "),
                      "],\n  \"machines\": ", strings(t.machines), ",\n  \"notes\": ",
                      strings(t.notes), ",\n  \"claims\": ", strings(t.claims),
                      ",\n  \"blocks\": [\n", absl::StrJoin(blocks, ",\n"),
                      "\n  ]\n}\n");
}

std::string StreamPlotSvg(const StreamTableData& table, const std::string& title) {
  std::vector<PlotSpec> panels;
  for (const StreamBlock& b : table.blocks) {
    PlotSpec p;
    p.title = absl::StrCat(b.streams, b.streams == 1 ? " stream" : " streams");
    p.x_label = "context (tokens)";
    p.y_label = "tokens / s";
    p.log_x = p.log_y = true;
    for (int c : table.contexts) {
      p.x_ticks.push_back(c);
      p.x_tick_labels.push_back(LengthLabel(c));
    }
    for (const StreamRow& row : b.rows) {
      PlotSeries s;
      s.label = row.model;
      s.markers = true;
      for (size_t i = 0; i < row.cells.size(); ++i) {
        if (!row.cells[i].present()) continue;
        s.x.push_back(table.contexts[i]);
        s.y.push_back(row.cells[i].tokens_per_second);
      }
      p.series.push_back(s);
    }
    panels.push_back(std::move(p));
  }
  return RenderSvgPanels(panels, title);
}

absl::StatusOr<TableFiles> WriteStreamTables(const std::string& bench_dir,
                                             const std::string& out_dir,
                                             const StreamTableOptions& options) {
  LRA_ASSIGN_OR_RETURN(StreamScan scan, ScanStreamResults(bench_dir));
  const StreamTableData table = BuildStreamTable(scan.results, options);
  TableFiles files;
  files.runs = static_cast<int>(scan.results.size());
  files.warnings = scan.errors;
  LRA_RETURN_IF_ERROR(WriteTableOutputs(
      out_dir,
      {{"stream_table.md", StreamTableMarkdown(table)},
       {"stream_table.csv", StreamTableCsv(table)},
       {"stream_table.json", StreamTableJson(table)},
       {"stream.svg", StreamPlotSvg(table, "Streaming inference: tokens/s against context")}},
      &files));
  return files;
}

}  // namespace lra::report

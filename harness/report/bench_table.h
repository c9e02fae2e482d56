// The efficiency table (`lra bench`) in the LRA Table 2 protocol: training steps/s and peak
// memory per model and sequence length (Text task, batch 32, 1K-4K, optionally 8K/16K), speed
// relative to the Transformer at each length, the published tables beside ours (other hardware),
// and recurrent-mode inference tokens/s for models that have a step mode.
//
//   LRA_ASSIGN_OR_RETURN(TableFiles files, WriteBenchTables(bench_dir, out_dir, {}));
#ifndef LRA_HARNESS_REPORT_BENCH_TABLE_H_
#define LRA_HARNESS_REPORT_BENCH_TABLE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "harness/report/accuracy_table.h"
#include "harness/report/published.h"
#include "harness/run_result.pb.h"

namespace lra::report {

struct BenchTableOptions {
  std::string task = "text";  // LRA Table 2 times the byte-level Text task
  int batch_size = 0;         // keep only this batch size; 0 = any (the table shows it)
  std::vector<int> lengths;   // columns; empty = every length measured, ascending
  std::string reference_model = "transformer";  // the 1x row
  bool include_published = true;
};

// One (model, length): the mean over repeated measurements (n), peak memory the maximum.
struct BenchCell {
  int n = 0;
  bool skipped = false;  // every measurement was skipped (out of memory, ...)
  std::string skipped_reason;
  int batch_size = 0;
  double steps_per_second = 0;
  double examples_per_second = 0;
  double tokens_per_second = 0;
  double peak_memory_gb = 0;  // 2^30 bytes
  std::optional<double> relative_speed;  // examples/s over the reference model's at this length
  std::optional<double> recurrent_tokens_per_second;
  bool present() const { return n > 0; }
};

struct BenchRow {
  std::string model;
  std::vector<BenchCell> cells;  // one per BenchTableData::lengths
};

struct BenchTableData {
  std::string task;
  std::vector<int> lengths;
  std::vector<BenchRow> rows;  // reference model first, then by name
  std::vector<std::string> machines;  // distinct machine descriptions
  std::vector<int> threads;           // distinct thread counts
  std::vector<int> batch_sizes;       // distinct batch sizes
  std::vector<std::string> notes;
  bool has_recurrent = false;
};

BenchTableData BuildBenchTable(const std::vector<harness::BenchResult>& results,
                               const BenchTableOptions& options);

// "1K" for 1024, "3K" for 3072, "16K" for 16384, else the number.
std::string LengthLabel(int length);

// Model names compare case-insensitively (the reference row "transformer" matches "Transformer").
bool SameModel(const std::string& a, const std::string& b);

// Writes each (file name, text) into `out_dir` atomically and appends the paths to
// files->written (the efficiency and streaming tables).
absl::Status WriteTableOutputs(const std::string& out_dir,
                               const std::vector<std::pair<std::string, std::string>>& outputs,
                               TableFiles* files);

// `published` may be null (no published tables).
std::string BenchTableMarkdown(const BenchTableData& table, const PublishedData* published);
// Ours, one line per (model, length): model, task, seq_length, batch_size, steps/s, ...
std::string BenchTableCsv(const BenchTableData& table);
// {"task":..., "lengths":[...], "ours":[{model, cells:[...]}], "published":[...]}
std::string BenchTableJson(const BenchTableData& table, const PublishedData* published);

// Two panels, one line per model: training steps/s and peak memory (GiB) against sequence
// length, log-log, from the table's cells (so the plot shows exactly the table's numbers).
std::string BenchPlotSvg(const BenchTableData& table, const std::string& title);

// The whole `lra bench` report: scans `bench_dir` for bench-*.json, writes atomically into
// `out_dir` bench_table.{md,csv,json} and bench.svg (steps/s and memory against length).
absl::StatusOr<TableFiles> WriteBenchTables(const std::string& bench_dir, const std::string& out_dir,
                                            const BenchTableOptions& options);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_BENCH_TABLE_H_

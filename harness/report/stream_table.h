// The streaming-inference table (`lra bench --mode=stream`, harness/stream_bench.h): per model,
// number of streams and context length, the tokens/s and per-token latency of stepping one
// token at a time, each relative to the reference model (the Transformer's key/value cache) at
// the same context and streams, the latency growth from the shortest to the longest context
// (about 1 for a recurrence, about the context ratio for attention over a cache), and the state
// held per stream.
//
//   LRA_ASSIGN_OR_RETURN(TableFiles files, WriteStreamTables(bench_dir, out_dir, {}));
#ifndef LRA_HARNESS_REPORT_STREAM_TABLE_H_
#define LRA_HARNESS_REPORT_STREAM_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "harness/report/accuracy_table.h"
#include "harness/run_result.pb.h"

namespace lra::report {

struct StreamTableOptions {
  std::string reference_model = "transformer";  // the 1x row of every streams block
  // The "Claims" lines: this model's tokens/s over the reference's at this context, against
  // the claimed ratio. Mamba's authors claim 5x the Transformer's inference throughput (Gu and
  // Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", arXiv
  // 2312.00752, abstract: "5x higher throughput than Transformers").
  std::string ratio_model = "mamba";
  int ratio_context = 4096;
  double claimed_ratio = 5;
};

// One (model, streams, context): the mean over repeated measurements (n).
struct StreamCell {
  int n = 0;
  bool skipped = false;  // every measurement was skipped
  std::string skipped_reason;
  double tokens_per_second = 0;
  double seconds_per_step = 0;
  int64_t state_bytes_per_stream = 0;
  std::optional<int64_t> rss_growth_bytes_per_stream;  // the largest measured
  std::optional<double> relative;  // tokens/s over the reference model's at this context
  bool present() const { return n > 0; }
};

struct StreamRow {
  std::string model;
  std::vector<std::string> model_options;  // of the first measurement
  std::vector<StreamCell> cells;           // one per StreamTableData::contexts
  // seconds_per_step at the longest context over that at the shortest (both measured).
  std::optional<double> latency_growth;
};

// The rows of one stream count, reference model first, then by name.
struct StreamBlock {
  int streams = 0;
  std::vector<StreamRow> rows;
};

struct StreamTableData {
  std::vector<int> contexts;         // ascending
  std::vector<StreamBlock> blocks;   // ascending streams
  std::vector<std::string> tiers, tasks, machines;
  std::vector<int> threads, timed_steps;
  // What the table shows about the claims it is for: the latency growth of every model from the
  // shortest to the longest context, and ratio_model over the reference at ratio_context.
  std::vector<std::string> claims;
  std::vector<std::string> notes;
};

StreamTableData BuildStreamTable(const std::vector<harness::StreamResult>& results,
                                 const StreamTableOptions& options);

// "512 B", "12.0 KiB", "16.0 MiB", "1.50 GiB".
std::string FormatBytes(int64_t bytes);

std::string StreamTableMarkdown(const StreamTableData& table);
// One line per (model, streams, context).
std::string StreamTableCsv(const StreamTableData& table);
std::string StreamTableJson(const StreamTableData& table);
// One panel per stream count: tokens/s against context, log-log, one line per model.
std::string StreamPlotSvg(const StreamTableData& table, const std::string& title);

// Scans `bench_dir` for stream-*.json and writes atomically into `out_dir`
// stream_table.{md,csv,json} and stream.svg.
absl::StatusOr<TableFiles> WriteStreamTables(const std::string& bench_dir,
                                             const std::string& out_dir,
                                             const StreamTableOptions& options);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_STREAM_TABLE_H_

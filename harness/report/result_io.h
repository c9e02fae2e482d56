// Reading and writing the result files of runs and benchmarks (formats: README.md here).
//
//   <run dir>/result.json    one RunResult, protobuf JSON with proto field names
//   <run dir>/metrics.jsonl  one MetricsRecord per line
//   <bench dir>/bench-*.json one BenchResult each
//   <bench dir>/stream-*.json one StreamResult each (`lra bench --mode=stream`)
//
//   LRA_RETURN_IF_ERROR(WriteRunResult(run_dir + "/result.json", result));
//   LRA_ASSIGN_OR_RETURN(RunScan scan, ScanRunResults(DefaultRunsDir()));
//
// Every error names the file and what is wrong with it.
#ifndef LRA_HARNESS_REPORT_RESULT_IO_H_
#define LRA_HARNESS_REPORT_RESULT_IO_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "harness/run_result.pb.h"

namespace lra::report {

inline constexpr char kResultFileName[] = "result.json";
inline constexpr char kMetricsFileName[] = "metrics.jsonl";

// Checks the invariants a table relies on: task and model set, status set, accuracies in
// [0, 1] (a value above 1 was probably written in percent), non-negative counts, finite numbers.
// The message does not name a file; the Read/Write functions add it.
absl::Status ValidateRunResult(const harness::RunResult& result);
absl::Status ValidateBenchResult(const harness::BenchResult& result);
absl::Status ValidateStreamResult(const harness::StreamResult& result);

// JSON text (pretty-printed, proto field names, zero values included so people see every field).
std::string RunResultToJson(const harness::RunResult& result);
std::string BenchResultToJson(const harness::BenchResult& result);

// Validate, then write atomically (temporary file + rename).
absl::Status WriteRunResult(const std::string& path, const harness::RunResult& result);
absl::Status WriteBenchResult(const std::string& path, const harness::BenchResult& result);

// Parse and validate. Unknown fields are an error (a typo in a hand-edited file must not pass).
absl::StatusOr<harness::RunResult> ReadRunResult(const std::string& path);
absl::StatusOr<harness::BenchResult> ReadBenchResult(const std::string& path);
absl::Status WriteStreamResult(const std::string& path, const harness::StreamResult& result);
absl::StatusOr<harness::StreamResult> ReadStreamResult(const std::string& path);

// One metrics.jsonl line (no trailing newline) and the whole file back. Unknown keys are
// ignored when reading, so the training loop may log more than MetricsRecord holds; a line that
// is not a JSON object, or lacks `step` or `split`, is an error naming "<path>:<line>".
std::string MetricsRecordToJsonLine(const harness::MetricsRecord& record);
absl::StatusOr<std::vector<harness::MetricsRecord>> ReadMetricsJsonl(const std::string& path);

struct LoadedRun {
  std::string path;  // the result.json file
  harness::RunResult result;
};

struct RunScan {
  std::vector<LoadedRun> runs;      // sorted by path
  std::vector<std::string> errors;  // one message per unreadable or malformed result.json
};

// Every result.json below `runs_dir` (any depth). A malformed file does not stop the scan; its
// message lands in `errors` so the table can list it. NotFoundError when `runs_dir` does not
// exist (with the command that makes runs).
absl::StatusOr<RunScan> ScanRunResults(const std::string& runs_dir);

// The runs below several folders (runs gathered from many machines), in the order given. A run
// found twice (the same run name and start time: a run folder copied into two places) counts
// once, from the first folder; the other copy is named in `errors`.
absl::StatusOr<RunScan> ScanRunResults(const std::vector<std::string>& runs_dirs);

struct BenchScan {
  std::vector<harness::BenchResult> results;  // sorted by file path
  std::vector<std::string> errors;
};

// Every bench-*.json below `bench_dir` (any depth).
absl::StatusOr<BenchScan> ScanBenchResults(const std::string& bench_dir);

// A file name for a measurement: "bench-<model>-<task>-L<len>-B<batch>.json".
std::string BenchFileName(const harness::BenchResult& result);

struct StreamScan {
  std::vector<harness::StreamResult> results;  // sorted by file path
  std::vector<std::string> errors;
};

// Every stream-*.json below `bench_dir` (any depth).
absl::StatusOr<StreamScan> ScanStreamResults(const std::string& bench_dir);

// "stream-<model>-<task>-C<context>-S<streams>.json".
std::string StreamFileName(const harness::StreamResult& result);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_RESULT_IO_H_

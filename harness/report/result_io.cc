#include "harness/report/result_io.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "core/base/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "core/base/file_util.h"

namespace lra::report {
namespace {

namespace fs = std::filesystem;
using harness::BenchResult;
using harness::EvalPoint;
using harness::MetricsRecord;
using harness::RunResult;
using harness::StreamResult;

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(what); }

absl::Status CheckFinite(double v, absl::string_view field) {
  if (!std::isfinite(v)) return Invalid(absl::StrCat("field '", field, "' is not finite (", v, ")"));
  return absl::OkStatus();
}

absl::Status CheckNonNegative(double v, absl::string_view field) {
  LRA_RETURN_IF_ERROR(CheckFinite(v, field));
  if (v < 0) return Invalid(absl::StrCat("field '", field, "' is negative (", v, ")"));
  return absl::OkStatus();
}

absl::Status CheckAccuracy(double v, absl::string_view field) {
  LRA_RETURN_IF_ERROR(CheckFinite(v, field));
  if (v < 0 || v > 1) {
    return Invalid(absl::StrCat("field '", field, "' is ", v,
                                "; accuracies are fractions in [0, 1]",
                                v > 1 && v <= 100 ? " (was it written in percent?)" : ""));
  }
  return absl::OkStatus();
}

absl::Status CheckEvalPoint(const EvalPoint& p, absl::string_view name) {
  if (p.step() < 0) return Invalid(absl::StrCat("field '", name, ".step' is negative"));
  if (p.has_val_accuracy()) {
    LRA_RETURN_IF_ERROR(CheckAccuracy(p.val_accuracy(), absl::StrCat(name, ".val_accuracy")));
  }
  if (p.has_test_accuracy()) {
    LRA_RETURN_IF_ERROR(CheckAccuracy(p.test_accuracy(), absl::StrCat(name, ".test_accuracy")));
  }
  if (p.has_val_loss()) LRA_RETURN_IF_ERROR(CheckFinite(p.val_loss(), absl::StrCat(name, ".val_loss")));
  if (p.has_test_loss()) {
    LRA_RETURN_IF_ERROR(CheckFinite(p.test_loss(), absl::StrCat(name, ".test_loss")));
  }
  return absl::OkStatus();
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  // Printing a valid message cannot fail (there are no Any fields to resolve).
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

absl::Status FromJson(const std::string& path, absl::string_view text, bool ignore_unknown,
                      google::protobuf::Message* message) {
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::DataLossError(absl::StrCat(
        path, ": the file is empty (an interrupted write?); rerun the run or delete the file"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = ignore_unknown;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(text.data(), text.size()), message, options);
  if (!status.ok()) {
    return Invalid(absl::StrCat(path, ": not a valid ", message->GetDescriptor()->name(),
                                " JSON file: ", std::string(status.message())));
  }
  return absl::OkStatus();
}

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

template <typename Message>
absl::StatusOr<Message> ReadJsonFile(const std::string& path,
                                     absl::Status (*validate)(const Message&)) {
  LRA_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Message message;
  LRA_RETURN_IF_ERROR(FromJson(path, text, /*ignore_unknown=*/false, &message));
  LRA_RETURN_IF_ERROR(WithPath(path, validate(message)));
  return message;
}

// Every regular file below `dir` whose name satisfies `match`, sorted.
absl::StatusOr<std::vector<std::string>> FindFiles(const std::string& dir,
                                                   bool (*match)(const std::string&),
                                                   absl::string_view what_makes_them) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("no folder '", dir, "'; ", what_makes_them, " or pass the folder that holds them"));
  }
  std::vector<std::string> files;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && match(it->path().filename().string())) {
      files.push_back(it->path().string());
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat(dir, ": cannot list: ", ec.message()));
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

absl::Status ValidateRunResult(const RunResult& r) {
  if (r.task().empty()) return Invalid("field 'task' is empty");
  if (r.model().empty()) return Invalid("field 'model' is empty");
  if (r.status() == harness::RUN_STATUS_UNSPECIFIED) {
    return Invalid("field 'status' is not set (COMPLETED, DIVERGED, INTERRUPTED or CUT_SHORT)");
  }
  LRA_RETURN_IF_ERROR(CheckEvalPoint(r.best(), "best"));
  LRA_RETURN_IF_ERROR(CheckEvalPoint(r.last(), "last"));
  if (r.threads() < 0) return Invalid("field 'threads' is negative");
  if (r.steps() < 0) return Invalid("field 'steps' is negative");
  LRA_RETURN_IF_ERROR(CheckNonNegative(r.epochs(), "epochs"));
  LRA_RETURN_IF_ERROR(CheckNonNegative(r.wall_seconds(), "wall_seconds"));
  LRA_RETURN_IF_ERROR(CheckNonNegative(r.tokens_per_second(), "tokens_per_second"));
  if (r.peak_memory_bytes() < 0) return Invalid("field 'peak_memory_bytes' is negative");
  LRA_RETURN_IF_ERROR(CheckNonNegative(r.budget().max_minutes(), "budget.max_minutes"));
  if (r.best().step() > r.steps() && r.steps() > 0) {
    return Invalid(absl::StrCat("field 'best.step' (", r.best().step(), ") is after the last step (",
                                r.steps(), ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateBenchResult(const BenchResult& r) {
  if (r.model().empty()) return Invalid("field 'model' is empty");
  if (r.task().empty()) return Invalid("field 'task' is empty");
  if (r.seq_length() <= 0) return Invalid("field 'seq_length' must be positive");
  if (r.batch_size() <= 0) return Invalid("field 'batch_size' must be positive");
  LRA_RETURN_IF_ERROR(CheckNonNegative(r.train_steps_per_second(), "train_steps_per_second"));
  LRA_RETURN_IF_ERROR(CheckNonNegative(r.examples_per_second(), "examples_per_second"));
  LRA_RETURN_IF_ERROR(CheckNonNegative(r.tokens_per_second(), "tokens_per_second"));
  if (r.peak_memory_bytes() < 0) return Invalid("field 'peak_memory_bytes' is negative");
  if (r.has_recurrent_tokens_per_second()) {
    LRA_RETURN_IF_ERROR(
        CheckNonNegative(r.recurrent_tokens_per_second(), "recurrent_tokens_per_second"));
  }
  if (r.skipped_reason().empty() && r.train_steps_per_second() <= 0) {
    return Invalid("field 'train_steps_per_second' is 0 but 'skipped_reason' is empty");
  }
  return absl::OkStatus();
}

absl::Status ValidateStreamResult(const StreamResult& r) {
  if (r.model().empty()) return Invalid("field 'model' is empty");
  if (r.task().empty()) return Invalid("field 'task' is empty");
  if (r.context() <= 0) return Invalid("field 'context' must be positive");
  if (r.streams() <= 0) return Invalid("field 'streams' must be positive");
  if (r.timed_steps() < 0) return Invalid("field 'timed_steps' is negative");
  LRA_RETURN_IF_ERROR(CheckNonNegative(r.seconds_per_step(), "seconds_per_step"));
  LRA_RETURN_IF_ERROR(CheckNonNegative(r.tokens_per_second(), "tokens_per_second"));
  if (r.state_bytes_per_stream() < 0) return Invalid("field 'state_bytes_per_stream' is negative");
  if (r.skipped_reason().empty() && (r.tokens_per_second() <= 0 || r.timed_steps() <= 0)) {
    return Invalid("fields 'tokens_per_second' and 'timed_steps' must be positive when "
                   "'skipped_reason' is empty");
  }
  return absl::OkStatus();
}

std::string RunResultToJson(const RunResult& result) { return ToJson(result); }
std::string BenchResultToJson(const BenchResult& result) { return ToJson(result); }

absl::Status WriteRunResult(const std::string& path, const RunResult& result) {
  LRA_RETURN_IF_ERROR(WithPath(path, ValidateRunResult(result)));
  return WriteFileAtomically(path, RunResultToJson(result));
}

absl::Status WriteBenchResult(const std::string& path, const BenchResult& result) {
  LRA_RETURN_IF_ERROR(WithPath(path, ValidateBenchResult(result)));
  return WriteFileAtomically(path, BenchResultToJson(result));
}

absl::StatusOr<RunResult> ReadRunResult(const std::string& path) {
  return ReadJsonFile<RunResult>(path, &ValidateRunResult);
}

absl::StatusOr<BenchResult> ReadBenchResult(const std::string& path) {
  return ReadJsonFile<BenchResult>(path, &ValidateBenchResult);
}

absl::Status WriteStreamResult(const std::string& path, const StreamResult& result) {
  LRA_RETURN_IF_ERROR(WithPath(path, ValidateStreamResult(result)));
  return WriteFileAtomically(path, ToJson(result));
}

absl::StatusOr<StreamResult> ReadStreamResult(const std::string& path) {
  return ReadJsonFile<StreamResult>(path, &ValidateStreamResult);
}

std::string MetricsRecordToJsonLine(const MetricsRecord& record) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(record, &out, options);
  return out;
}

absl::StatusOr<std::vector<MetricsRecord>> ReadMetricsJsonl(const std::string& path) {
  LRA_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<MetricsRecord> records;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const std::string where = absl::StrCat(path, ":", line_number);
    if (!absl::StartsWith(line, "{")) {
      return Invalid(absl::StrCat(where, ": expected a JSON object per line, got '",
                                  line.substr(0, 40), "'"));
    }
    MetricsRecord record;
    LRA_RETURN_IF_ERROR(FromJson(where, line, /*ignore_unknown=*/true, &record));
    // proto3 JSON cannot tell an absent key from 0, so look for the required keys by name.
    if (!absl::StrContains(line, "\"step\"")) return Invalid(absl::StrCat(where, ": no \"step\" key"));
    if (record.split().empty()) return Invalid(absl::StrCat(where, ": no \"split\" key"));
    if (!std::isfinite(record.accuracy()) || record.accuracy() < 0 || record.accuracy() > 1) {
      return Invalid(absl::StrCat(where, ": \"accuracy\" is ", record.accuracy(),
                                  "; accuracies are fractions in [0, 1]"));
    }
    records.push_back(std::move(record));
  }
  return records;
}

absl::StatusOr<RunScan> ScanRunResults(const std::string& runs_dir) {
  LRA_ASSIGN_OR_RETURN(
      std::vector<std::string> files,
      FindFiles(
          runs_dir, [](const std::string& name) { return name == kResultFileName; },
          "runs are made by `lra train` or `lra suite`;"));
  RunScan scan;
  for (const std::string& file : files) {
    absl::StatusOr<RunResult> result = ReadRunResult(file);
    if (result.ok()) {
      scan.runs.push_back({file, *std::move(result)});
    } else {
      scan.errors.push_back(std::string(result.status().message()));
    }
  }
  return scan;
}

absl::StatusOr<RunScan> ScanRunResults(const std::vector<std::string>& runs_dirs) {
  RunScan all;
  std::map<std::string, std::string> seen;  // run identity -> the result.json counted
  for (const std::string& dir : runs_dirs) {
    LRA_ASSIGN_OR_RETURN(RunScan scan, ScanRunResults(dir));
    all.errors.insert(all.errors.end(), scan.errors.begin(), scan.errors.end());
    for (LoadedRun& run : scan.runs) {
      const RunResult& r = run.result;
      const std::string identity = absl::StrCat(r.run_name(), " started ", r.started_at());
      auto [it, fresh] = seen.emplace(identity, run.path);
      if (!r.started_at().empty() && !fresh) {
        all.errors.push_back(absl::StrCat(run.path, ": the same run (", identity, ") as ",
                                          it->second, "; counted once"));
        continue;
      }
      all.runs.push_back(std::move(run));
    }
  }
  return all;
}

namespace {
// Reads every file with `read`: a good one into `results`, a bad one's message into `errors`.
template <typename Result>
void ReadAll(const std::vector<std::string>& files,
             absl::StatusOr<Result> (*read)(const std::string&), std::vector<Result>* results,
             std::vector<std::string>* errors) {
  for (const std::string& file : files) {
    absl::StatusOr<Result> result = read(file);
    if (result.ok()) {
      results->push_back(*std::move(result));
    } else {
      errors->push_back(std::string(result.status().message()));
    }
  }
}
}  // namespace

absl::StatusOr<BenchScan> ScanBenchResults(const std::string& bench_dir) {
  LRA_ASSIGN_OR_RETURN(std::vector<std::string> files,
                       FindFiles(
                           bench_dir,
                           [](const std::string& name) {
                             return absl::StartsWith(name, "bench-") && absl::EndsWith(name, ".json");
                           },
                           "bench results are made by `lra bench`;"));
  BenchScan scan;
  ReadAll(files, &ReadBenchResult, &scan.results, &scan.errors);
  return scan;
}

std::string BenchFileName(const BenchResult& r) {
  return absl::StrCat("bench-", r.model(), "-", r.task(), "-L", r.seq_length(), "-B", r.batch_size(),
                      ".json");
}

absl::StatusOr<StreamScan> ScanStreamResults(const std::string& bench_dir) {
  LRA_ASSIGN_OR_RETURN(std::vector<std::string> files,
                       FindFiles(
                           bench_dir,
                           [](const std::string& name) {
                             return absl::StartsWith(name, "stream-") && absl::EndsWith(name, ".json");
                           },
                           "streaming results are made by `lra bench --mode=stream`;"));
  StreamScan scan;
  ReadAll(files, &ReadStreamResult, &scan.results, &scan.errors);
  return scan;
}

std::string StreamFileName(const StreamResult& r) {
  return absl::StrCat("stream-", r.model(), "-", r.task(), "-C", r.context(), "-S", r.streams(),
                      ".json");
}

}  // namespace lra::report

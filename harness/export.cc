#include "harness/export.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/file_util.h"
#include "core/base/npz.h"
#include "core/base/status_macros.h"
#include "core/tensor.h"
#include "google/protobuf/util/json_util.h"
#include "harness/config.h"
#include "harness/report/format_util.h"
#include "harness/trainer.h"
#include "models/registry.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the export writes tensor memory as '<f4' (little-endian) as is");

using report::JsonString;

std::string JsonBool(bool b) { return b ? "true" : "false"; }
// The shortest of %.15g..%.17g that reads back as `d` (0.1 is "0.1", and nothing is lost).
std::string JsonDouble(double d) {
  for (int digits = 15;; ++digits) {
    std::string s = absl::StrFormat("%.*g", digits, d);
    if (digits == 17 || std::strtod(s.c_str(), nullptr) == d) return s;
  }
}

// One exported array: where its floats live and what it is.
struct Entry {
  std::string name;
  std::vector<int64_t> shape;
  const Tensor* tensor;
  std::string kind;   // "parameter" or "buffer"
  std::string group;  // optimizer group of a parameter; "" for a buffer
};

// Shape as exported: a complex64 tensor (none of today's models keeps one; they store complex
// parameters as float32 [..., 2] themselves) gets the same trailing axis of 2.
std::vector<int64_t> ExportShape(const Tensor& t) {
  std::vector<int64_t> shape;
  for (int i = 0; i < t.rank(); ++i) shape.push_back(t.dim(i));
  if (t.dtype() == DType::kC64) shape.push_back(2);
  return shape;
}

absl::string_view TensorBytes(const Tensor& t) {
  const void* data = t.dtype() == DType::kF32 ? static_cast<const void*>(t.data<float>())
                                              : static_cast<const void*>(t.data<c64>());
  return absl::string_view(static_cast<const char*>(data), t.nbytes());
}

absl::StatusOr<std::string> MetaJson(const ExportOptions& options, const LoadedRun& run,
                                     const std::vector<Entry>& entries) {
  const RunConfig& config = run.setup.config;
  const models::TaskInfo& task = run.setup.task;
  LRA_ASSIGN_OR_RETURN(const models::ModelInfo* model, models::GetModel(config.model()));
  LRA_ASSIGN_OR_RETURN(auto set, ModelOptionMap(config));
  std::vector<std::string> model_options;
  for (const models::OptionSpec& spec : model->options) {
    auto it = set.find(spec.name);
    model_options.push_back(absl::StrCat(JsonString(spec.name), ": ",
                                         JsonString(it != set.end() ? it->second
                                                                    : spec.default_value)));
  }
  const TrainConfig& t = config.train();
  std::vector<std::string> groups;
  for (const models::ParamGroup& g : run.setup.groups) {
    groups.push_back(absl::StrCat(JsonString(g.name), ": {\"lr\": ", JsonDouble(g.lr.value_or(t.lr())),
                                  ", \"weight_decay\": ",
                                  JsonDouble(g.weight_decay.value_or(t.weight_decay())), "}"));
  }
  std::vector<std::string> arrays;
  for (const Entry& e : entries) {
    arrays.push_back(absl::StrCat("    {\"name\": ", JsonString(e.name), ", \"shape\": [",
                                  absl::StrJoin(e.shape, ", "),
                                  "], \"dtype\": \"float32\", \"kind\": ", JsonString(e.kind),
                                  e.group.empty() ? "" : absl::StrCat(", \"group\": ", JsonString(e.group)),
                                  "}"));
  }
  std::string config_json;
  google::protobuf::util::JsonPrintOptions json_options;
  json_options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(config, &config_json, json_options).ok()) {
    return absl::InternalError("export: the run's config does not convert to JSON");
  }
  return absl::StrCat(
      "{\n  \"format\": ", JsonString(kExportFormatVersion),
      ",\n  \"run\": ", JsonString(fs::path(options.run_dir).lexically_normal().filename().string()),
      ",\n  \"checkpoint\": ", JsonString(options.checkpoint), ",\n  \"step\": ", run.step,
      ",\n  \"model\": ", JsonString(config.model()), ",\n  \"model_options\": {",
      absl::StrJoin(model_options, ", "), "},\n  \"task\": {\"name\": ", JsonString(task.name),
      ", \"vocab_size\": ", task.vocab_size, ", \"pad_id\": ", task.pad_id,
      ", \"num_classes\": ", task.num_classes, ", \"max_length\": ", task.max_length,
      ", \"pair\": ", JsonBool(task.pair), ", \"pixels\": ", JsonBool(task.pixels),
      ", \"pooling\": ", JsonString(task.pooling), ", \"mask_pad_tokens\": ",
      JsonBool(task.mask_pad_tokens), "},\n  \"groups\": {", absl::StrJoin(groups, ", "),
      "},\n  \"config\": ", config_json, ",\n  \"arrays\": [\n", absl::StrJoin(arrays, ",\n"),
      "\n  ]\n}\n");
}

}  // namespace

absl::StatusOr<ExportReport> ExportRun(const ExportOptions& options) {
  if (options.format != "npz") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--format must be npz (NumPy's .npz, the only export format), not '", options.format,
        "'"));
  }
  // Checked before loading, so a typo costs no model build.
  if (options.checkpoint != "best" && options.checkpoint != "last") {
    return absl::InvalidArgumentError(
        absl::StrCat("--checkpoint must be best or last, not '", options.checkpoint, "'"));
  }
  LRA_ASSIGN_OR_RETURN(LoadedRun run, LoadRun(options.run_dir, options.checkpoint,
                                              options.data_dir));
  std::vector<Entry> entries;
  for (const models::ParamGroup& g : run.setup.groups) {
    for (const Var& v : g.params) {
      entries.push_back({v.name(), ExportShape(v.value()), &v.value(), "parameter", g.name});
    }
  }
  for (const auto& [name, t] : run.setup.model->Buffers()) {
    entries.push_back({name, ExportShape(*t), t, "buffer", ""});
  }
  ExportReport report;
  std::vector<NpyArray> arrays;
  for (const Entry& e : entries) {
    arrays.push_back({e.name, "<f4", e.shape, TensorBytes(*e.tensor)});
    report.scalars += static_cast<int64_t>(e.tensor->nbytes() / sizeof(float));
  }
  LRA_ASSIGN_OR_RETURN(const std::string meta, MetaJson(options, run, entries));
  report.path = options.out.empty()
                    ? (fs::path(options.run_dir) / (options.checkpoint + ".npz")).string()
                    : options.out;
  absl::StatusOr<std::string> archive = EncodeNpz(arrays, {{"__meta__.json", meta}});
  if (!archive.ok()) {
    return absl::Status(archive.status().code(),
                        absl::StrCat("cannot export '", options.run_dir, "': ",
                                     archive.status().message()));
  }
  std::error_code ec;
  if (fs::is_directory(report.path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--out='", report.path, "' is a folder; give a file path such as ",
        (fs::path(report.path) / (options.checkpoint + ".npz")).string()));
  }
  if (options.cancelled && options.cancelled()) {
    return absl::CancelledError(absl::StrCat("interrupted; ", report.path, " was not written"));
  }
  if (absl::Status written = WriteFileAtomically(report.path, *archive); !written.ok()) {
    return absl::Status(written.code(),
                        absl::StrCat("cannot write the export to '", report.path, "' (",
                                     written.message(), "); choose a writable --out"));
  }
  report.arrays = static_cast<int>(entries.size());
  report.bytes = static_cast<int64_t>(archive->size());
  report.step = run.step;
  return report;
}

}  // namespace lra::harness

#include "models/registry.h"

#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace lra::models {
namespace {

std::map<std::string, ModelInfo>& Registry() {
  static auto* registry = new std::map<std::string, ModelInfo>();
  return *registry;
}

std::string RegisteredNames() {
  std::vector<std::string> names;
  for (const auto& [name, info] : Registry()) names.push_back(name);
  return names.empty() ? "(none)" : absl::StrJoin(names, ", ");
}

// The model's options from `values`, validated; errors name the model.
absl::StatusOr<Options> MakeOptions(const ModelInfo& info,
                                    const std::map<std::string, std::string>& values) {
  absl::StatusOr<Options> opts = Options::Make(info.options, values);
  if (!opts.ok())
    return absl::Status(opts.status().code(),
                        absl::StrCat("model '", info.name, "': ", opts.status().message()));
  return opts;
}

}  // namespace

namespace internal {
bool RegisterModel(ModelInfo info) {
  ABSL_RAW_CHECK(!info.name.empty() && info.create, "ModelInfo needs a name and a create function");
  std::string name = info.name;
  if (!Registry().emplace(name, std::move(info)).second) {
    ABSL_RAW_LOG(FATAL, "model '%s' is registered twice", name.c_str());
  }
  return true;
}
}  // namespace internal

const ModelInfo* FindModel(absl::string_view name) {
  auto it = Registry().find(std::string(name));
  return it == Registry().end() ? nullptr : &it->second;
}

absl::StatusOr<const ModelInfo*> GetModel(absl::string_view name) {
  if (const ModelInfo* info = FindModel(name)) return info;
  return absl::NotFoundError(absl::StrCat(
      "unknown model '", name, "'; registered: ", RegisteredNames(),
      ". A new model's library is made by lra_model (models/model.bzl) and listed in "
      "models/all_models/BUILD.bazel"));
}

std::vector<const ModelInfo*> AllModels() {
  std::vector<const ModelInfo*> out;
  for (const auto& [name, info] : Registry()) out.push_back(&info);
  return out;
}

absl::StatusOr<std::unique_ptr<Model>> CreateModel(absl::string_view name, const TaskInfo& task,
                                                   const std::map<std::string, std::string>& options,
                                                   uint64_t seed) {
  absl::StatusOr<const ModelInfo*> info = GetModel(name);
  if (!info.ok()) return info.status();
  absl::StatusOr<Options> opts = MakeOptions(**info, options);
  if (!opts.ok()) return opts.status();
  return (*info)->create(task, *opts, seed);
}

absl::StatusOr<std::optional<MemoryEstimate>> EstimateMemory(
    absl::string_view name, const TaskInfo& task,
    const std::map<std::string, std::string>& options, int64_t batch, int64_t length) {
  absl::StatusOr<const ModelInfo*> info = GetModel(name);
  if (!info.ok()) return info.status();
  absl::StatusOr<Options> opts = MakeOptions(**info, options);
  if (!opts.ok()) return opts.status();
  if (!(*info)->estimate) return std::optional<MemoryEstimate>();
  return std::optional<MemoryEstimate>((*info)->estimate(task, *opts, batch, length));
}

std::string ConfigsDir(const ModelInfo& info) {
  return info.configs.empty() ? absl::StrCat("models/", info.name, "/configs") : info.configs;
}

std::string DescribeModels() {
  std::string out;
  for (const ModelInfo* m : AllModels()) {
    absl::StrAppend(&out, m->name, ": ", m->description, "\n");
    for (const OptionSpec& o : m->options) {
      absl::StrAppend(&out, "    ", o.name, " (", OptionTypeName(ResolvedType(o)),
                      ", default ", o.default_value.empty() ? "\"\"" : o.default_value, ")");
      if (!o.choices.empty()) absl::StrAppend(&out, " {", absl::StrJoin(o.choices, "|"), "}");
      if (!o.RangeText().empty()) absl::StrAppend(&out, " ", o.RangeText());
      absl::StrAppend(&out, ": ", o.help, "\n");
    }
  }
  return out;
}

}  // namespace lra::models

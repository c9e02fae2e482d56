// The model registry: a plugin registers itself with one line at the end of its .cc file,
//
//   LRA_REGISTER_MODEL(BagModelInfo());   // a function returning ModelInfo
//
// and its library is made by `lra_model` (models/model.bzl), which sets `alwayslink = True` (the
// registration runs in a static initializer, which the linker would otherwise drop); one line in
// //models/all_models links it into lra. The map lives in a function-local static, so
// registration order between translation units does not matter.
#ifndef LRA_MODELS_REGISTRY_H_
#define LRA_MODELS_REGISTRY_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/model.h"

namespace lra::models {

// nullptr if unknown.
const ModelInfo* FindModel(absl::string_view name);
// NotFoundError listing the registered models when unknown.
absl::StatusOr<const ModelInfo*> GetModel(absl::string_view name);
// Sorted by name.
std::vector<const ModelInfo*> AllModels();
// Validates `options` against the model's OptionSpecs, then calls its create function.
absl::StatusOr<std::unique_ptr<Model>> CreateModel(absl::string_view name, const TaskInfo& task,
                                                   const std::map<std::string, std::string>& options,
                                                   uint64_t seed);
// The model's memory estimate for one training step (ModelInfo::estimate) after validating
// `options`; std::nullopt inside the StatusOr when the model has no estimate.
absl::StatusOr<std::optional<MemoryEstimate>> EstimateMemory(
    absl::string_view name, const TaskInfo& task,
    const std::map<std::string, std::string>& options, int64_t batch, int64_t length);

// The folder of `info`'s config files relative to the repository root: ModelInfo::configs, or
// models/<name>/configs when that is empty.
std::string ConfigsDir(const ModelInfo& info);

// Help text for `lra models`: every model, its description and options with defaults.
std::string DescribeModels();

namespace internal {
// Aborts on a duplicate name (two plugins claiming one name is a build bug). Returns true so it
// can initialize a static.
bool RegisterModel(ModelInfo info);
}  // namespace internal

}  // namespace lra::models

#define LRA_MODEL_CONCAT_INNER(a, b) a##b
#define LRA_MODEL_CONCAT(a, b) LRA_MODEL_CONCAT_INNER(a, b)
#define LRA_REGISTER_MODEL(info_expr)                                           \
  static const bool LRA_MODEL_CONCAT(lra_model_registered_, __LINE__) [[maybe_unused]] = \
      ::lra::models::internal::RegisterModel(info_expr)

#endif  // LRA_MODELS_REGISTRY_H_

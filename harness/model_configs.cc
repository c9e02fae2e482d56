// The registry half of harness/config.h: which folder holds a model's configs is said by the
// model's registration (models::ConfigsDir), kept out of config.cc so the config parser builds
// (and fuzzes, config_fuzzer_test.sh) without the models.
#include "absl/status/statusor.h"
#include "core/base/status_macros.h"
#include "harness/config.h"
#include "models/registry.h"

namespace lra::harness {

absl::StatusOr<std::string> ModelConfigsDir(absl::string_view model) {
  LRA_ASSIGN_OR_RETURN(const models::ModelInfo* info, models::GetModel(model));
  return models::ConfigsDir(*info);
}

absl::StatusOr<RunConfig> ResolveRunConfig(absl::string_view task, absl::string_view model,
                                           absl::string_view tier, const RunConfig& overrides) {
  LRA_ASSIGN_OR_RETURN(std::string dir, ModelConfigsDir(model));
  return ResolveRunConfigIn(dir, task, model, tier, overrides);
}

}  // namespace lra::harness

// Resolving the config of one run from its layers.
//
//   tier defaults        harness/configs/<tier>.textproto
//   model x task x tier  models/<model>/configs/<task>.<tier>.textproto
//   suite overrides      Suite.Run.overrides
//   command-line flags   --set=train.lr=0.001 style overrides, applied by the caller
//
// Each layer is a RunConfig; later layers win field by field (proto MergeFrom on `optional`
// scalars), and model options accumulate with the last value of a name winning.
#ifndef LRA_HARNESS_CONFIG_H_
#define LRA_HARNESS_CONFIG_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "harness/config.pb.h"

namespace lra::harness {

// Recipe sets are named paper-sized config sets of one upstream recipe version ("v3", "v4" for
// S4/S4D); they share the paper tier's defaults.
bool IsRecipeSet(absl::string_view tier);

// The config files that make up (task, model, tier), in layer order, relative to the repo root.
// A model file with `use_tier: T` is read as the model's file at tier T (ResolveRunConfig).
std::vector<std::string> ConfigLayers(absl::string_view task, absl::string_view model,
                                      absl::string_view tier);

// Reads and merges the layers, then `overrides`. A missing model config is an error that lists
// the configs the model has; a malformed file names file, line and field.
absl::StatusOr<RunConfig> ResolveRunConfig(absl::string_view task, absl::string_view model,
                                           absl::string_view tier, const RunConfig& overrides);

// Merges `layer` into `config` (scalars that `layer` sets win; model options append).
void MergeLayer(const RunConfig& layer, RunConfig* config);

// "name=value" strings -> map; the last value of a name wins. InvalidArgumentError for an entry
// without '='.
absl::StatusOr<std::map<std::string, std::string>> ModelOptionMap(const RunConfig& config);

// Applies one "--set" style override "path=value", e.g. "train.lr=0.001" or
// "model_option=d_model=64", through protobuf reflection, so every RunConfig field can be set
// from the command line. Unknown fields list the known ones.
absl::Status ApplyOverride(absl::string_view assignment, RunConfig* config);

// Every RunConfig field against its allowed range, in one place (the table is in
// harness/README.md "Config ranges"): e.g. train.batch_size >= 1, train.warmup_steps >= 0,
// train.beta1 in [0, 1), max_length >= 0, floats finite. The error names the field, the value
// and the range, and says where to set it. Sizes that are valid but too large for the machine
// are the memory estimate's business (harness/trainer.h MakeTrainingSetup).
absl::Status ValidateRunConfig(const RunConfig& config);

absl::StatusOr<Suite> LoadSuite(absl::string_view name_or_path);

}  // namespace lra::harness

#endif  // LRA_HARNESS_CONFIG_H_

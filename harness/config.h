// Resolving the config of one run from its layers, each a RunConfig text proto:
//
//   tier defaults   harness/tiers/<tier>.textproto (the recipe sets v3, v4: paper.textproto)
//   model base      <configs>/<tier>.textproto            required: every task at this tier
//   task override   <configs>/<task>.<tier>.textproto     optional: only what this task changes
//   suite overrides Suite.Run.overrides
//   command line    --set=train.lr=0.001 style overrides, applied by the caller
//
// <configs> is the folder the model's registration names (models::ConfigsDir: ModelInfo::configs,
// models/<model>/configs by default). Later layers win field by field (proto MergeFrom on
// `optional` scalars); model options accumulate and the last value of a name wins
// (ModelOptionMap). A model with no task-specific needs has one file per tier.
//
// A model base may instead say only `use_tier: "<set>"`: its configs at this tier are those at
// tier <set> (base and task override), read with this tier's defaults; the S4 family's paper
// tier names its recipe set that way. One level only, and no task override beside it.
// task, model and tier come from the request, never from a file (a file that sets one is an
// error).
//
// Every file here is named by its path in the repository and read by the rule of
// harness/paths.h: the source tree's file when lra runs in one, else the copy compiled into the
// binary (so an installed lra finds them). LoadSuite reads a path (ending .textproto) from disk.
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

// The files that make up (task, tier) for a model whose configs are in `configs_dir`, in layer
// order, relative to the repo root: tier defaults, model base, task override (which may be
// absent). Before any use_tier is followed.
std::vector<std::string> ConfigLayers(absl::string_view task, absl::string_view configs_dir,
                                      absl::string_view tier);

// The names (file names without .textproto) of the config files in `configs_dir`, sorted:
// "<tier>" for a base, "<task>.<tier>" for an override. Empty if there are none.
std::vector<std::string> ConfigNames(absl::string_view configs_dir);

// The tiers `configs_dir` has a base for (the "<tier>" entries of ConfigNames).
std::vector<std::string> ConfigTiers(absl::string_view configs_dir);

// Reads and merges the layers of (task, tier) from `configs_dir`, then `overrides`; sets task,
// model and tier. A missing base is an error that lists the configs the folder has; a
// malformed file names file, line and field.
absl::StatusOr<RunConfig> ResolveRunConfigIn(absl::string_view configs_dir,
                                             absl::string_view task, absl::string_view model,
                                             absl::string_view tier, const RunConfig& overrides);

// ResolveRunConfigIn with the registered model's folder (models::ConfigsDir); an unknown model
// is a NotFoundError listing the registered ones. Defined in model_configs.cc.
absl::StatusOr<RunConfig> ResolveRunConfig(absl::string_view task, absl::string_view model,
                                           absl::string_view tier, const RunConfig& overrides);

// The registered model's config folder, relative to the repo root. Defined in model_configs.cc.
absl::StatusOr<std::string> ModelConfigsDir(absl::string_view model);

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

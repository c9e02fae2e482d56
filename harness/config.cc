#include "harness/config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/status_macros.h"
#include "core/base/textproto.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "harness/paths.h"

namespace lra::harness {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsRecipeSet(absl::string_view tier) { return tier == "v3" || tier == "v4"; }

namespace {

std::string TierDefaultsFile(absl::string_view tier) {
  // Recipe sets are paper-sized configs and share the paper tier's defaults.
  return absl::StrCat("harness/tiers/", IsRecipeSet(tier) ? absl::string_view("paper") : tier,
                      ".textproto");
}
std::string BaseFile(absl::string_view dir, absl::string_view tier) {
  return absl::StrCat(dir, "/", tier, ".textproto");
}
std::string OverrideFile(absl::string_view dir, absl::string_view task, absl::string_view tier) {
  return absl::StrCat(dir, "/", task, ".", tier, ".textproto");
}

// The one place that maps a config's repository-relative name to its content: the source
// tree's file, or outside one the copy embedded in the binary (the rule is in harness/paths.h).
// Parses it into *layer; false when there is no such config.
absl::StatusOr<bool> ReadConfig(const std::string& relative, RunConfig* layer) {
  LRA_ASSIGN_OR_RETURN(std::optional<RepoText> file, ReadRepoFile(relative));
  if (!file.has_value()) return false;
  LRA_RETURN_IF_ERROR(ParseTextProto(file->text, file->name, layer));
  return true;
}

std::string AvailableConfigs(absl::string_view dir) {
  std::vector<std::string> names = ConfigNames(dir);
  return names.empty() ? absl::StrCat("none (", dir, " has no .textproto files)")
                       : absl::StrJoin(names, ", ");
}

// task, model and tier name the request; a file that sets them is refused.
absl::Status CheckNoRunIdentity(const std::string& file, const RunConfig& layer) {
  for (const auto& [set, field] : {std::pair<bool, const char*>{layer.has_task(), "task"},
                                   {layer.has_model(), "model"},
                                   {layer.has_tier(), "tier"}}) {
    if (set) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": sets `", field, "`, which comes from the run asked for (the file's folder and "
          "name say which model, task and tier it serves); remove the line"));
    }
  }
  return absl::OkStatus();
}

// The model's layers of (task, tier) in `dir`: the base and, if present, the task override.
// A base with use_tier T is replaced by the layers at T; `used_by` is the file that named this
// tier through use_tier ("" when the caller asked for it).
absl::StatusOr<std::vector<RunConfig>> ModelLayers(absl::string_view dir, absl::string_view task,
                                                   absl::string_view model,
                                                   absl::string_view tier,
                                                   const std::string& used_by) {
  const std::string base_file = BaseFile(dir, tier);
  std::vector<RunConfig> layers(1);
  LRA_ASSIGN_OR_RETURN(bool has_base, ReadConfig(base_file, &layers[0]));
  if (!has_base && !used_by.empty()) {
    return absl::NotFoundError(absl::StrCat(used_by, ": use_tier '", tier, "' but ", base_file,
                                            " does not exist. Its configs: ",
                                            AvailableConfigs(dir)));
  }
  if (!has_base) {
    return absl::NotFoundError(absl::StrCat(
        "model '", model, "' has no config at tier '", tier, "' (", base_file,
        ", the base every task of that tier starts from). Its configs: ", AvailableConfigs(dir),
        ". Add the file, or pick one of those tiers."));
  }
  LRA_RETURN_IF_ERROR(CheckNoRunIdentity(base_file, layers[0]));
  const std::string override_file = OverrideFile(dir, task, tier);
  RunConfig task_layer;
  LRA_ASSIGN_OR_RETURN(bool has_override, ReadConfig(override_file, &task_layer));
  if (has_override) {
    LRA_RETURN_IF_ERROR(CheckNoRunIdentity(override_file, task_layer));
    if (task_layer.has_use_tier()) {
      return absl::InvalidArgumentError(absl::StrCat(
          override_file, ": use_tier belongs in the tier's base ", base_file,
          " (it applies to every task); remove it here"));
    }
  }
  if (!layers[0].has_use_tier()) {
    if (has_override) layers.push_back(std::move(task_layer));
    return layers;
  }
  const std::string used = layers[0].use_tier();
  if (!used_by.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        base_file, ": use_tier again (named by ", used_by, "); use_tier goes one level only"));
  }
  RunConfig rest = layers[0];
  rest.clear_use_tier();
  if (rest.ByteSizeLong() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        base_file, ": a base with use_tier may set nothing else; move the other fields into ",
        BaseFile(dir, used)));
  }
  if (has_override) {
    return absl::InvalidArgumentError(absl::StrCat(
        override_file, " is never read: ", base_file, " says use_tier '", used,
        "'; move its fields into ", OverrideFile(dir, task, used)));
  }
  return ModelLayers(dir, task, model, used, base_file);
}

}  // namespace

std::vector<std::string> ConfigLayers(absl::string_view task, absl::string_view configs_dir,
                                      absl::string_view tier) {
  return {TierDefaultsFile(tier), BaseFile(configs_dir, tier),
          OverrideFile(configs_dir, task, tier)};
}

std::vector<std::string> ConfigNames(absl::string_view configs_dir) {
  std::vector<std::string> names;
  constexpr absl::string_view kExtension = ".textproto";
  for (const std::string& file : ListRepoFolder(configs_dir)) {
    if (absl::EndsWith(file, kExtension)) {
      names.push_back(file.substr(0, file.size() - kExtension.size()));
    }
  }
  return names;
}

std::vector<std::string> ConfigTiers(absl::string_view configs_dir) {
  std::vector<std::string> tiers;
  for (const std::string& name : ConfigNames(configs_dir)) {
    if (name.find('.') == std::string::npos) tiers.push_back(name);
  }
  return tiers;
}

void MergeLayer(const RunConfig& layer, RunConfig* config) {
  // MergeFrom appends repeated fields, which is the wanted semantics for model_option.
  config->MergeFrom(layer);
}

absl::StatusOr<RunConfig> ResolveRunConfigIn(absl::string_view configs_dir,
                                             absl::string_view task, absl::string_view model,
                                             absl::string_view tier, const RunConfig& overrides) {
  RunConfig config;
  const std::string defaults_file = TierDefaultsFile(tier);
  LRA_ASSIGN_OR_RETURN(bool has_defaults, ReadConfig(defaults_file, &config));
  if (!has_defaults) {
    std::vector<std::string> tiers = ConfigTiers("harness/tiers");
    return absl::NotFoundError(absl::StrCat("unknown tier '", tier, "': no ", defaults_file,
                                            ". Tiers: ", absl::StrJoin(tiers, ", "),
                                            "; recipe sets: v3, v4 (configs read from ",
                                            RepoFilesOrigin(), ")"));
  }
  LRA_RETURN_IF_ERROR(CheckNoRunIdentity(defaults_file, config));
  LRA_ASSIGN_OR_RETURN(std::vector<RunConfig> layers,
                       ModelLayers(configs_dir, task, model, tier, ""));
  for (const RunConfig& layer : layers) MergeLayer(layer, &config);
  MergeLayer(overrides, &config);
  config.set_task(std::string(task));
  config.set_model(std::string(model));
  config.set_tier(std::string(tier));
  return config;
}

absl::StatusOr<std::map<std::string, std::string>> ModelOptionMap(const RunConfig& config) {
  std::map<std::string, std::string> out;
  for (const std::string& entry : config.model_option()) {
    std::pair<std::string, std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    if (entry.find('=') == std::string::npos || kv.first.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model_option '", entry, "' is not of the form name=value (e.g. \"d_model=128\")"));
    }
    out[kv.first] = kv.second;
  }
  return out;
}

namespace {

std::string FieldNames(const Descriptor* d) {
  std::vector<std::string> names;
  for (int i = 0; i < d->field_count(); ++i) names.push_back(d->field(i)->name());
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::Status ApplyOverride(absl::string_view assignment, RunConfig* config) {
  size_t eq = assignment.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "override '", assignment, "' is not of the form field=value (e.g. train.lr=0.001)"));
  }
  std::string path(assignment.substr(0, eq));
  std::string value(assignment.substr(eq + 1));
  Message* msg = config;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const Descriptor* d = msg->GetDescriptor();
    const FieldDescriptor* f = d->FindFieldByName(parts[i]);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("override '", assignment, "': ",
                                                     d->name(), " has no field '", parts[i],
                                                     "'. Its fields: ", FieldNames(d)));
    }
    const Reflection* r = msg->GetReflection();
    if (i + 1 < parts.size()) {
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) {
        return absl::InvalidArgumentError(
            absl::StrCat("override '", assignment, "': '", parts[i], "' is not a message"));
      }
      msg = r->MutableMessage(msg, f);
      continue;
    }
    // Let the text-format parser convert the value, so every scalar type is handled one way.
    std::string text = f->cpp_type() == FieldDescriptor::CPPTYPE_STRING
                           ? absl::StrCat(f->name(), ": \"", absl::CEscape(value), "\"")
                           : absl::StrCat(f->name(), ": ", value);
    google::protobuf::TextFormat::Parser parser;
    std::unique_ptr<Message> tmp(msg->New());
    if (!parser.ParseFromString(text, tmp.get())) {
      return absl::InvalidArgumentError(absl::StrCat("override '", assignment, "': '", value,
                                                     "' is not a valid ", f->type_name(),
                                                     " for ", f->full_name()));
    }
    msg->MergeFrom(*tmp);
  }
  return absl::OkStatus();
}

namespace {

// One field's allowed range: [lo, hi] with either end optionally open, for error texts.
struct Range {
  double lo, hi;
  bool lo_open = false, hi_open = false;
  bool Contains(double v) const {
    // Written so that NaN is outside every range.
    const bool above = lo_open ? v > lo : v >= lo;
    const bool below = hi_open ? v < hi : v <= hi;
    return above && below;
  }
  std::string Text() const {
    auto num = [](double x) {
      if (std::isinf(x)) return std::string(x > 0 ? "inf" : "-inf");
      return absl::StrCat(x);
    };
    return absl::StrCat(lo_open ? "(" : "[", num(lo), ", ", num(hi), hi_open ? ")" : "]");
  }
};

constexpr double kInf = std::numeric_limits<double>::infinity();
// Step counts stay far below int64 overflow of step x batch x length token counters.
constexpr double kMaxSteps = 1e12;

}  // namespace

absl::Status ValidateRunConfig(const RunConfig& config) {
  const TrainConfig& t = config.train();
  auto check = [&](absl::string_view field, double value, Range range,
                   absl::string_view meaning) -> absl::Status {
    if (range.Contains(value)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "config for ", config.task(), "/", config.model(), "/", config.tier(), ": ", field, " = ",
        value, " is out of range; allowed: ", range.Text(), meaning.empty() ? "" : " (",
        meaning, meaning.empty() ? "" : ")",
        ". Set it in the config file or with --set=", field, "=<value>"));
  };
  LRA_RETURN_IF_ERROR(check("train.batch_size", t.batch_size(), {1, kInf}, ""));
  LRA_RETURN_IF_ERROR(check("train.steps", t.steps(), {1, kMaxSteps}, ""));
  // +inf is allowed: such a run stops as DIVERGED at its first step (tests of the divergence
  // handling use it); zero, negative and NaN are not.
  LRA_RETURN_IF_ERROR(check("train.lr", t.lr(), {0, kInf, true, false}, ""));
  LRA_RETURN_IF_ERROR(check("train.weight_decay", t.weight_decay(), {0, kInf, false, true}, ""));
  LRA_RETURN_IF_ERROR(check("train.beta1", t.has_beta1() ? t.beta1() : 0.9, {0, 1, false, true}, ""));
  LRA_RETURN_IF_ERROR(check("train.beta2", t.has_beta2() ? t.beta2() : 0.999, {0, 1, false, true}, ""));
  LRA_RETURN_IF_ERROR(check("train.eps", t.has_eps() ? t.eps() : 1e-8, {0, kInf, false, true}, ""));
  LRA_RETURN_IF_ERROR(check("train.warmup_steps", t.warmup_steps(), {0, kMaxSteps}, "0 = none"));
  LRA_RETURN_IF_ERROR(check("train.grad_clip", t.grad_clip(), {0, kInf, false, true}, "0 = off"));
  LRA_RETURN_IF_ERROR(check("train.eval_every", t.eval_every(), {1, kMaxSteps}, ""));
  LRA_RETURN_IF_ERROR(
      check("train.eval_examples", t.eval_examples(), {0, kInf, false, true}, "0 = the whole split"));
  LRA_RETURN_IF_ERROR(check("train.train_examples", t.train_examples(), {0, kInf, false, true},
                            "0 = the whole split"));
  LRA_RETURN_IF_ERROR(check("train.checkpoint_every", t.checkpoint_every(), {0, kMaxSteps},
                            "0 = only at evaluations and the end"));
  LRA_RETURN_IF_ERROR(
      check("train.max_minutes", t.max_minutes(), {0, kInf, false, true}, "0 = no limit"));
  LRA_RETURN_IF_ERROR(check("train.log_every", t.log_every(), {0, kMaxSteps}, "0 = every 50 steps"));
  LRA_RETURN_IF_ERROR(
      check("max_length", config.max_length(), {0, kInf, false, true}, "0 = the task's default"));
  if (t.optimizer() != "adam" && t.optimizer() != "adamw") {
    return absl::InvalidArgumentError(absl::StrCat(
        "config for ", config.task(), "/", config.model(), "/", config.tier(),
        ": train.optimizer = '", t.optimizer(),
        "' is not adam or adamw. Set it in the config file or with --set=train.optimizer=adamw"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Suite> LoadSuite(absl::string_view name_or_path) {
  Suite suite;
  // A path is read from disk; a name by the rule of harness/paths.h.
  if (absl::EndsWith(name_or_path, ".textproto")) {
    LRA_RETURN_IF_ERROR(ParseTextProtoFile(std::string(name_or_path), &suite));
    return suite;
  }
  const std::string relative = absl::StrCat("harness/suites/", name_or_path, ".textproto");
  LRA_ASSIGN_OR_RETURN(std::optional<RepoText> file, ReadRepoFile(relative));
  if (!file.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "unknown suite '", name_or_path, "'. Suites: ",
        absl::StrJoin(ConfigNames("harness/suites"), ", "),
        ", or a path to a .textproto file (suites read from ", RepoFilesOrigin(), ")"));
  }
  LRA_RETURN_IF_ERROR(ParseTextProto(file->text, file->name, &suite));
  return suite;
}

}  // namespace lra::harness

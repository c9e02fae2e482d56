#include "harness/memory_check.h"

#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "core/base/status_macros.h"
#include "harness/config.h"
#include "models/registry.h"

namespace lra::harness {
namespace {

int64_t MemTotalBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0;
  while (in >> key >> kb >> unit) {
    if (key == "MemTotal:") return kb * 1024;
  }
  return 0;
}

// cgroup v2's limit of this process's group ("max" = none); 0 if there is none or no cgroup v2.
int64_t CgroupLimitBytes() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string v;
  int64_t bytes = 0;
  if (in >> v && absl::SimpleAtoi(v, &bytes) && bytes > 0) return bytes;
  return 0;
}

std::string Gib(double bytes) {
  if (bytes >= double(int64_t{1} << 40)) return absl::StrFormat("%.3g TiB", bytes / double(int64_t{1} << 40));
  return absl::StrFormat("%.3g GiB", bytes / double(1 << 30));
}

}  // namespace

int64_t MachineMemoryBytes() {
  const int64_t total = MemTotalBytes(), cgroup = CgroupLimitBytes();
  if (cgroup > 0 && (total == 0 || cgroup < total)) return cgroup;
  return total;
}

absl::StatusOr<std::optional<double>> EstimateTrainingBytes(const RunConfig& config,
                                                            const models::TaskInfo& task) {
  LRA_ASSIGN_OR_RETURN(auto options, ModelOptionMap(config));
  const int64_t batch = config.train().batch_size(), length = task.max_length;
  LRA_ASSIGN_OR_RETURN(std::optional<models::MemoryEstimate> e,
                       models::EstimateMemory(config.model(), task, options, batch, length));
  if (!e.has_value()) return std::optional<double>();
  // The batch's token and length buffers (int32: the reader's and the model's copy), and the
  // fixed allowance for what a step holds outside tensors (kFixedStepBytes).
  const double docs = task.pair ? 2 : 1;
  const double batch_bytes = 2 * 4 * docs * double(batch) * (double(length) + 1);
  return std::optional<double>(models::TrainingBytes(*e) + batch_bytes + kFixedStepBytes);
}

absl::Status CheckTrainingMemory(const RunConfig& config, const models::TaskInfo& task,
                                 int64_t machine_bytes) {
  LRA_ASSIGN_OR_RETURN(std::optional<double> bytes, EstimateTrainingBytes(config, task));
  if (!bytes.has_value() || machine_bytes <= 0 ||
      *bytes / kEstimateSlack <= double(machine_bytes)) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "config for ", config.task(), "/", config.model(), "/", config.tier(), " needs at least ",
      Gib(*bytes / kEstimateSlack), " (estimate ", Gib(*bytes),
      ") for one training step (counted before allocating: parameters with "
      "gradients and Adam state, and the activations of batch ", config.train().batch_size(),
      " x length ", task.max_length, "), more than this machine's ", Gib(double(machine_bytes)),
      " of memory. Lower train.batch_size, max_length or the model's size options (d_model, "
      "n_layers, ...) with --set"));
}

}  // namespace lra::harness

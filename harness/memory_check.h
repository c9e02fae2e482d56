// Refusing a training config that cannot fit in memory, before anything is allocated.
//
// The model's registry estimate (models/model.h MemoryEstimate: parameters with gradients and
// Adam's two moments, and the activations of one step) plus the batch's token buffers is
// compared with the machine's memory; a config that needs more is an error that gives both
// numbers and what to lower. Sizes are counted in doubles, so d_model=1000000 or
// train.batch_size=2000000000 cannot overflow the count.
#ifndef LRA_HARNESS_MEMORY_CHECK_H_
#define LRA_HARNESS_MEMORY_CHECK_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "harness/config.pb.h"
#include "models/model.h"

namespace lra::harness {

// Physical memory (MemTotal), or the cgroup's memory.max where that is lower; 0 if unknown.
int64_t MachineMemoryBytes();

// Estimated bytes of one training step of `config` on `task` (batch train.batch_size, length
// task.max_length); std::nullopt for a model without an estimate hook.
absl::StatusOr<std::optional<double>> EstimateTrainingBytes(const RunConfig& config,
                                                            const models::TaskInfo& task);

// How far a model's estimate may exceed the measured peak of its training step
// (//harness:memory_check_test holds every registered model on every task to [1,
// kEstimateSlack] x the measured peak, the upper bound less kFixedStepBytes; measured 1.3-2.2
// with the allowance left out of the ratio). A config is refused only when even estimate / kEstimateSlack exceeds the
// machine's memory: then it cannot fit, and a config that would fit is never refused.
inline constexpr double kEstimateSlack = 2.5;

// The estimate's allowance for what a step holds outside tensors (thread stacks, FFT plans,
// oneDNN primitives and their scratch), added to every model's estimate.
inline constexpr double kFixedStepBytes = 16 << 20;

// ResourceExhaustedError naming the estimate and `machine_bytes` when the config cannot fit
// (estimate / kEstimateSlack > machine_bytes); OK otherwise, when the model has no estimate, or
// when machine_bytes is 0 (unknown).
absl::Status CheckTrainingMemory(const RunConfig& config, const models::TaskInfo& task,
                                 int64_t machine_bytes);

}  // namespace lra::harness

#endif  // LRA_HARNESS_MEMORY_CHECK_H_

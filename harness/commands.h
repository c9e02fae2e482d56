// The `lra` commands. Each reads its flags (harness/flags.h) and returns one clear Status.
#ifndef LRA_HARNESS_COMMANDS_H_
#define LRA_HARNESS_COMMANDS_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"

namespace lra::harness {

// Sets the process-wide thread count (--threads) and matmul precision (--matmul_precision)
// before any kernel runs (oneDNN fixes a primitive's thread count when it is created).
absl::Status InitProcess();

// Runs `command` ("prepare", "train", ...). `stop` becomes true on SIGINT/SIGTERM.
absl::Status RunCommand(const std::string& command, const std::atomic<bool>* stop);

}  // namespace lra::harness

#endif  // LRA_HARNESS_COMMANDS_H_

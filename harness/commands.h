// The `lra` commands. Each reads its flags (harness/flags.h) and returns one clear Status.
#ifndef LRA_HARNESS_COMMANDS_H_
#define LRA_HARNESS_COMMANDS_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lra::harness {

// The most worker threads --threads may ask for on a machine with fewer cores: beyond a few
// threads per core an OpenMP pool only slows down, and 100,000 threads crashed thread creation.
// A machine with more cores may use all of them. Fixed rather than a multiple of the cores so
// that a run's thread count (which training's bitwise reproducibility depends on) can be
// repeated on a smaller machine.
inline constexpr int kMaxThreads = 256;

// --threads: 0 means all `cores`; 1 to max(kMaxThreads, cores) is taken as is; anything else
// (negative, too many) is an InvalidArgumentError naming the flag and the allowed range.
absl::StatusOr<int> ResolveThreads(int requested, int cores);

// Sets the process-wide thread count (--threads) and matmul precision (--matmul_precision)
// before any kernel runs (oneDNN fixes a primitive's thread count when it is created).
absl::Status InitProcess();

// Runs `command` ("prepare", "train", ...). `stop` becomes true on SIGINT/SIGTERM; every long
// command polls it and stops cleanly (a run checkpoints; prepare removes its temporary files).
absl::Status RunCommand(const std::string& command, const std::atomic<bool>* stop);

// Exit codes of `lra` (documented in `lra --help` and README.md "The `lra` command").
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;     // any other error
inline constexpr int kExitUsage = 2;     // a bad flag or value, or a task/model/run that is not there
inline constexpr int kExitDiverged = 3;  // a run ended DIVERGED (non-finite or absurd loss)
// A run ended CUT_SHORT: stopped by the train.max_minutes safety net before train.steps; it
// is evaluated and in the tables, but its number depends on the machine's speed.
inline constexpr int kExitCutShort = 4;
// Stopped by Ctrl-C or SIGTERM: a run wrote last.ckpt (continue with --resume), any other command
// removed its temporary files (128 + SIGINT, the shell's code for an interrupted command).
inline constexpr int kExitInterrupted = 130;

// The exit code for a command's result: a code RunCommand attached to the status, else
// kExitInterrupted for CancelledError, kExitUsage for InvalidArgument and NotFound, kExitError
// for any other error.
int ExitCode(const absl::Status& status);

}  // namespace lra::harness

#endif  // LRA_HARNESS_COMMANDS_H_

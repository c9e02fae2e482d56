// What each task folder gives the registry: a plan for turning one source into examples.
//
// Preparing a dataset has two phases because the dataset header (vocabulary, provenance) must be
// known before the first example is written: `PlanFn` checks the source, lists its files and
// builds the vocabulary (S4's is counted from the training data); `Plan::run` then streams the
// examples into a sink. Tests call the same functions with a MemorySink.
#ifndef LRA_TASKS_COMMON_TASK_H_
#define LRA_TASKS_COMMON_TASK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "datasets/example.pb.h"
#include "tasks/common/sink.h"
#include "tasks/task_spec.pb.h"

namespace lra::tasks {

// The resolved options for one preparation (PrepareOptions after defaults and checks).
struct TaskContext {
  const TaskSpec* spec = nullptr;
  const Encoding* encoding = nullptr;
  int max_length = 0;             // effective, per document
  std::string source;             // folder (or file) holding the original-format data
  uint64_t seed = 0;
  std::string split_convention;   // one of spec->split_conventions(), or "" when none
  std::string difficulty;         // Pathfinder: one of spec->difficulties().name
  // Reports long work: `stage` ("generating", "converting"), items done, and the total
  // (0 when unknown). May be empty.
  std::function<void(absl::string_view stage, int64_t done, int64_t total)> progress;
  // True once the user asked to stop (Ctrl-C); long loops check it and return CancelledError.
  // May be empty (never cancelled).
  std::function<bool()> cancelled;
};

// Counters a run reports back (printed by `lra prepare`, checked by tests).
struct RunStats {
  int64_t examples = 0;
  int64_t skipped = 0;             // e.g. empty Pathfinder PNGs
  std::vector<std::string> notes;  // human-readable, one line each
};

struct Plan {
  datasets::Provenance provenance;  // kind, source files and the options that shaped the output
  datasets::Vocabulary vocab;
  std::function<absl::Status(ExampleSink*, RunStats*)> run;
};

using PlanFn = absl::StatusOr<Plan> (*)(const TaskContext& context);

// Writes `size` examples in the task's ORIGINAL file format into `dir` (an empty folder), so the
// normal converter reads them. Generators (ListOps, Pathfinder) and synthetic sets (Text,
// Retrieval) both have this shape.
using GenerateFn = absl::Status (*)(const TaskContext& context, int64_t size,
                                    const std::string& dir);

// The encoding's fixed vocabulary (size, pad, eos, symbols).
datasets::Vocabulary VocabularyFromEncoding(const Encoding& encoding);

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_TASK_H_

// A suite's run list, expanded: every `run` entry of a Suite (config.proto) as the single runs
// it stands for, in file order. An entry with `tasks` / `models` is a product and expands to
// every (task, model) pair, task-major.
//
//   LRA_ASSIGN_OR_RETURN(Suite suite, LoadSuite("smoke"));
//   LRA_ASSIGN_OR_RETURN(std::vector<Suite::Run> runs, ExpandSuiteRuns(suite));
//   for (const Suite::Run& r : runs) ... r.task(), r.model(), r.tier(), r.seeds(), r.overrides()
#ifndef LRA_HARNESS_SUITE_H_
#define LRA_HARNESS_SUITE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "harness/config.pb.h"

namespace lra::harness {

// InvalidArgumentError naming the suite and the entry when an entry gives both `task` and
// `tasks` (or `model` and `models`), or neither.
absl::StatusOr<std::vector<Suite::Run>> ExpandSuiteRuns(const Suite& suite);

}  // namespace lra::harness

#endif  // LRA_HARNESS_SUITE_H_

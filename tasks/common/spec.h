// Parsing and looking into an embedded TaskSpec.
#ifndef LRA_TASKS_COMMON_SPEC_H_
#define LRA_TASKS_COMMON_SPEC_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tasks/task_spec.pb.h"

namespace lra::tasks {

// Parses a spec.textproto (embedded text, `name` for errors) and checks its invariants: a name,
// a positive max length and class count, at least one encoding, the default encoding present.
absl::StatusOr<TaskSpec> ParseTaskSpec(absl::string_view text, absl::string_view name);

// The encoding called `name` ("" = the spec's default); NotFoundError lists the known ones.
absl::StatusOr<const Encoding*> FindEncoding(const TaskSpec& spec, absl::string_view name);

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_SPEC_H_

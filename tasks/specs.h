// The task list and each task's spec and hooks (no dataset writing; see registry.h).
//
// A task registers itself with one line in its folder's register.cc,
//
//   LRA_REGISTER_TASK(kListOpsSpec, (TaskHooks{PlanListOps, GenerateListOps, "..."}));
//
// built by the `lra_task` macro (tasks/task.bzl: an alwayslink cc_library, so the linker keeps
// the static initializer) and listed once in //tasks:all_tasks. The spec text is parsed on first
// use, so registration order between translation units does not matter; ListTasks() orders the
// tasks by their spec's `order` field.
#ifndef LRA_TASKS_SPECS_H_
#define LRA_TASKS_SPECS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tasks/common/task.h"
#include "tasks/task_spec.pb.h"

namespace lra::tasks {

// Task names by spec `order` (then name): listops, text, retrieval, image, pathfinder, pathx,
// fashion_mnist with //tasks:all_tasks linked in.
std::vector<std::string> ListTasks();

// The spec of `name`; NotFoundError listing the known names otherwise. The pointer is to
// process-lifetime storage.
absl::StatusOr<const TaskSpec*> GetTaskSpec(absl::string_view name);

// What the registry knows about one task beyond its spec.
struct TaskHooks {
  PlanFn plan = nullptr;
  GenerateFn generate = nullptr;       // null when --generate is not available
  const char* generator_name = "";     // recorded in Provenance.generator
};
absl::StatusOr<TaskHooks> GetTaskHooks(absl::string_view name);

namespace internal {
// Records one task: `spec_text` is a TaskSpec in text format with process lifetime (an
// lra_embed_text constant). Parsed on first lookup; a spec that does not parse, or a second task
// of the same name, aborts with the reason (a build defect, caught by every test that links the
// task). Returns true so it can initialize a static.
bool RegisterTask(const char* spec_text, TaskHooks hooks);
}  // namespace internal

}  // namespace lra::tasks

#define LRA_TASK_CONCAT_INNER(a, b) a##b
#define LRA_TASK_CONCAT(a, b) LRA_TASK_CONCAT_INNER(a, b)
#define LRA_REGISTER_TASK(spec_text, hooks_expr)                                          \
  static const bool LRA_TASK_CONCAT(lra_task_registered_, __LINE__) [[maybe_unused]] = \
      ::lra::tasks::internal::RegisterTask(spec_text, hooks_expr)

#endif  // LRA_TASKS_SPECS_H_

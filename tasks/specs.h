// The task list and each task's spec and converter (no dataset writing; see registry.h).
#ifndef LRA_TASKS_SPECS_H_
#define LRA_TASKS_SPECS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tasks/common/task.h"
#include "tasks/task_spec.pb.h"

namespace lra::tasks {

// Task names in table order: listops, text, retrieval, image, pathfinder, pathx, fashion_mnist.
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

}  // namespace lra::tasks

#endif  // LRA_TASKS_SPECS_H_

// Registers Pathfinder and Path-X (tasks/specs.h): one converter and one generator, two specs.
#include <string>

#include "core/base/status_macros.h"
#include "tasks/pathfinder/generator.h"
#include "tasks/pathfinder/pathfinder.h"
#include "tasks/specs.h"

namespace lra::tasks {
extern const char kPathfinderSpec[];
extern const char kPathXSpec[];
namespace {

// The snakes generator, writing one difficulty folder (tasks/pathfinder/generator.h); the
// converter then reads `dir` as that folder.
absl::Status GeneratePathfinder(const TaskContext& context, int64_t size,
                                const std::string& dir) {
  generators::PathfinderOptions options;
  options.resolution = context.spec->image_height();
  LRA_ASSIGN_OR_RETURN(options.difficulty,
                       generators::ParsePathfinderDifficulty(context.difficulty));
  options.num_images = size;
  options.seed = context.seed;
  if (context.progress) {
    options.progress = [&](int64_t done) { context.progress("generating", done, size); };
  }
  options.cancelled = context.cancelled;
  return generators::WritePathfinderTree(options, dir);
}

LRA_REGISTER_TASK(kPathfinderSpec, (TaskHooks{PlanPathfinder, GeneratePathfinder,
                                              "tasks/pathfinder generator"}));
LRA_REGISTER_TASK(kPathXSpec, (TaskHooks{PlanPathfinder, GeneratePathfinder,
                                         "tasks/pathfinder generator"}));

}  // namespace
}  // namespace lra::tasks

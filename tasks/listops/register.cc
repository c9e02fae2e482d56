// Registers ListOps (tasks/specs.h): its converter and LRA's generator.
#include <algorithm>
#include <string>

#include "tasks/listops/generator.h"
#include "tasks/listops/listops.h"
#include "tasks/specs.h"

namespace lra::tasks {
extern const char kListOpsSpec[];
namespace {

// LRA's generator, writing listops-1000-style TSVs (tasks/listops/generator.h). Below the
// original's bound of 2000 tokens (a "small" ListOps, --max_length), trees are drawn with
// max_length / 4 < length < max_length, so no expression is cut and the EOS of the s4_eos
// encoding still fits.
absl::Status GenerateListOps(const TaskContext& context, int64_t size, const std::string& dir) {
  generators::ListOpsOptions options = generators::ListOpsOptionsForSize(size, context.seed);
  if (context.max_length < options.max_length) {
    options.max_length = context.max_length;
    options.min_length = std::min(options.min_length, context.max_length / 4);
  }
  return generators::WriteListOpsTsv(options, dir);
}

LRA_REGISTER_TASK(kListOpsSpec,
                  (TaskHooks{PlanListOps, GenerateListOps, "tasks/listops generator"}));

}  // namespace
}  // namespace lra::tasks

// Registers Text (tasks/specs.h): its converter and synthetic stand-in.
#include "tasks/specs.h"
#include "tasks/text/text.h"

namespace lra::tasks {
extern const char kTextSpec[];
namespace {

LRA_REGISTER_TASK(kTextSpec, (TaskHooks{PlanText, GenerateSyntheticText, "tasks/text synthetic"}));

}  // namespace
}  // namespace lra::tasks

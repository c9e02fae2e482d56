// Registers Image (tasks/specs.h): its converter.
#include "tasks/image/cifar.h"
#include "tasks/specs.h"

namespace lra::tasks {
extern const char kImageSpec[];
namespace {

LRA_REGISTER_TASK(kImageSpec, (TaskHooks{PlanImage, nullptr, ""}));

}  // namespace
}  // namespace lra::tasks

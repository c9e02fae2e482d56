// Registers Fashion-MNIST (tasks/specs.h): its converter.
#include "tasks/fashion_mnist/fashion_mnist.h"
#include "tasks/specs.h"

namespace lra::tasks {
extern const char kFashionMnistSpec[];
namespace {

LRA_REGISTER_TASK(kFashionMnistSpec, (TaskHooks{PlanFashionMnist, nullptr, ""}));

}  // namespace
}  // namespace lra::tasks

// Registers Retrieval (tasks/specs.h): its converter and synthetic stand-in.
#include "tasks/retrieval/retrieval.h"
#include "tasks/specs.h"

namespace lra::tasks {
extern const char kRetrievalSpec[];
namespace {

LRA_REGISTER_TASK(kRetrievalSpec, (TaskHooks{PlanRetrieval, GenerateSyntheticRetrieval,
                                             "tasks/retrieval synthetic"}));

}  // namespace
}  // namespace lra::tasks

// Tests only: a model's TaskInfo for a task as its spec (tasks/specs.h) describes it, without a
// prepared dataset. The harness builds the same from a dataset's manifest (harness/task_data.cc);
// here an encoding whose vocabulary comes from the data (vocab_size 0 in its spec) gets
// `data_vocab` ids.
#ifndef LRA_MODELS_TESTING_SPEC_TASK_H_
#define LRA_MODELS_TESTING_SPEC_TASK_H_

#include <string>

#include "absl/status/statusor.h"
#include "models/model.h"

namespace lra::models::testing {

// `encoding` "" = the task's default; `max_length` 0 = the spec's. NotFoundError for an unknown
// task or encoding.
absl::StatusOr<TaskInfo> TaskInfoFromSpec(const std::string& task, const std::string& encoding,
                                          int max_length, int data_vocab = 100);

}  // namespace lra::models::testing

#endif  // LRA_MODELS_TESTING_SPEC_TASK_H_

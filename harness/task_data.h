// Finding and opening the prepared dataset of a run, and describing it to a model.
#ifndef LRA_HARNESS_TASK_DATA_H_
#define LRA_HARNESS_TASK_DATA_H_

#include <string>

#include "absl/status/statusor.h"
#include "datasets/dataset.h"
#include "datasets/example.pb.h"
#include "models/model.h"
#include "tasks/task_spec.pb.h"

namespace lra::harness {

struct TaskData {
  std::string dir;                 // the dataset folder
  datasets::Manifest manifest;
  const tasks::TaskSpec* spec = nullptr;
  models::TaskInfo info;           // what the model is told
};

// `dataset` empty: the best prepared dataset of `task` under `data_dir` (release files first,
// then system data, generated, synthetic) whose tokens match `encoding` ("" = the task's
// default). Encodings that differ only in what a model masks (e.g. "lra" and "nomask" for
// images) share one dataset. NotFoundError that names the `lra prepare` command to run when
// there is none.
absl::StatusOr<TaskData> OpenTaskData(const std::string& data_dir, const std::string& task,
                                      const std::string& dataset = "",
                                      const std::string& encoding = "");

// Borrows the arrays of `batch` (which must outlive the result).
models::Batch ToModelBatch(const datasets::Batch& batch);

}  // namespace lra::harness

#endif  // LRA_HARNESS_TASK_DATA_H_

// Finding and opening the prepared dataset of a run, and describing it to a model.
#ifndef LRA_HARNESS_TASK_DATA_H_
#define LRA_HARNESS_TASK_DATA_H_

#include <string>
#include <vector>

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
// there is none; DataLossError when the only candidates have a damaged manifest. The dataset is
// checked against the task's spec (CheckManifestAgainstSpec) and its shards are verified
// (datasets::VerifyDatasetCached: a full read only for shards that changed since their last
// verification), so a damaged val or test shard is found before training starts.
absl::StatusOr<TaskData> OpenTaskData(const std::string& data_dir, const std::string& task,
                                      const std::string& dataset = "",
                                      const std::string& encoding = "");

// A manifest against its task's spec (ReadManifest has checked it against itself): the class
// count, pair, a vocabulary, and max_length, which must be the encoding's (else the task's)
// unless the spec allows a range and the dataset was prepared shorter or longer on purpose
// (`lra prepare --max_length=N` records "max_length=N" in the provenance option "request"). A
// dataset whose examples were cut shorter than the task without saying so would otherwise
// train on prefixes. FailedPreconditionError naming the folder and the fix.
absl::Status CheckManifestAgainstSpec(const std::string& dir, const datasets::Manifest& manifest,
                                      const tasks::TaskSpec& spec);

// One dataset as `lra verify` reports it.
struct VerifiedDataset {
  std::string dir;
  std::string task;      // "" when the manifest cannot be read
  absl::Status status;   // OK, or what is wrong
  datasets::VerifyReport report;
  double seconds = 0;
};

// `lra verify`: every dataset folder under `data_dir` (only those of `task` when not empty; a
// folder whose manifest cannot be read counts for the task its name starts with), each read in
// full (datasets::VerifyDataset, which refreshes its verification cache) and checked against its
// task's spec. NotFoundError when there is no dataset to verify.
absl::StatusOr<std::vector<VerifiedDataset>> VerifyDatasets(const std::string& data_dir,
                                                             const std::string& task);

// Borrows the arrays of `batch` (which must outlive the result).
models::Batch ToModelBatch(const datasets::Batch& batch);

}  // namespace lra::harness

#endif  // LRA_HARNESS_TASK_DATA_H_

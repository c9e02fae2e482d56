// The task registry: what `lra prepare` and `lra tasks` call.
//
//   lra::tasks::PrepareOptions options;
//   options.task = "listops";
//   options.source = "/data/lra_release/listops-1000";
//   options.out_dir = lra::tasks::DefaultDatasetDir("/data/lra", options);   // /data/lra/listops
//   lra::tasks::PrepareReport report;
//   LRA_RETURN_IF_ERROR(lra::tasks::PrepareTask(options, &report));
//
// A prepared dataset is a datasets/ folder (record shards + manifest.pb/manifest.txt). Running
// PrepareTask again with the same options is a no-op (report.already_present); with different
// options it fails unless `overwrite`.
#ifndef LRA_TASKS_REGISTRY_H_
#define LRA_TASKS_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/example.pb.h"
#include "tasks/common/task.h"
#include "tasks/specs.h"  // ListTasks(), GetTaskSpec(name)

namespace lra::tasks {

struct PrepareOptions {
  std::string task;              // one of ListTasks()
  // Folder with the original files (see the spec's source_formats). Empty: the spec's
  // default_source (Fashion-MNIST) or, with `generate`, a generated source.
  std::string source;
  bool generate = false;         // ListOps/Pathfinder/Path-X: generator; Text/Retrieval: synthetic
  int64_t size = 0;              // with `generate`: examples in all splits; 0 = spec default
  uint64_t seed = 42;            // generators and seeded ("random") splits
  std::string out_dir;           // the dataset folder to create
  bool overwrite = false;        // replace an existing dataset in out_dir
  std::string encoding;          // "" = the spec's default ("lra")
  int max_length = 0;            // 0 = the spec's (or encoding's); Text accepts 1000..4096
  std::string split_convention;  // Pathfinder/Path-X: "lra" (default) or "random"
  std::string difficulty;        // Pathfinder/Path-X: "hard" (default), "intermediate", "easy"
  // With `generate`: keep the generated original-format files here (they feed other harnesses
  // too). Empty: they go to a temporary folder beside out_dir and are deleted.
  std::string keep_source;
  // Reports long work (generating, converting); see TaskContext::progress. May be empty.
  std::function<void(absl::string_view stage, int64_t done, int64_t total)> progress;
  // Polled while generating and converting; once it returns true, PrepareTask stops with
  // CancelledError and removes every temporary folder it made (an existing dataset is kept).
  // May be empty.
  std::function<bool()> cancelled;
};

struct PrepareReport {
  bool already_present = false;  // the dataset existed with the same options; nothing was done
  std::string out_dir;
  datasets::Manifest manifest;   // as written, or as found
  RunStats stats;                // examples written, items skipped, notes (one line each)
  double seconds = 0;
};

absl::Status PrepareTask(const PrepareOptions& options, PrepareReport* report = nullptr);

// <data_root>/<task>[-synthetic|-generated][-<difficulty>][-<split>][-<encoding>][-L<n>], the
// suffixes only for non-default choices, so a synthetic set never lands where the real one goes.
absl::StatusOr<std::string> DefaultDatasetDir(const std::string& data_root,
                                              const PrepareOptions& options);

// Every prepared dataset directly under `data_root` (folders holding manifest.pb), by folder.
struct DatasetInfo {
  std::string dir;
  datasets::Manifest manifest;
};
// With `damaged`, also the folders that look like datasets but whose manifest cannot be read:
// manifest.pb damaged or inconsistent, or missing beside manifest.txt or *.tfrecord shards
// (folder, and the error saying what is wrong).
struct DamagedDataset {
  std::string dir;
  absl::Status error;
};
absl::StatusOr<std::vector<DatasetInfo>> DescribeData(
    const std::string& data_root, std::vector<DamagedDataset>* damaged = nullptr);

// The `lra tasks` listing: each task with its constants, then the datasets found for it
// (folder, provenance, split counts, encoding, options). Plain text, one line per item.
std::string FormatTaskList(const std::vector<DatasetInfo>& datasets);

// "release", "generated", "synthetic", "system" or "unknown".
std::string ProvenanceKindName(datasets::Provenance::Kind kind);

}  // namespace lra::tasks

#endif  // LRA_TASKS_REGISTRY_H_

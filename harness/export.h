// `lra export`: a run's weights in a file other frameworks read.
//
//   ExportOptions o{.run_dir = "results/runs/listops-s4d-small-s1", .checkpoint = "best",
//                   .format = "npz", .out = "", .data_dir = "data"};
//   LRA_ASSIGN_OR_RETURN(ExportReport r, ExportRun(o));   // r.path: <run>/best.npz
//
// The run is loaded as `lra eval` loads it (harness/trainer.h LoadRun: config.txt, the model
// built against the run's dataset, the checkpoint loaded and checked), then written with
// core/base/npz.h, atomically. The archive holds
//   <name>.npy       one float32 array per parameter and per buffer (BatchNorm running
//                    statistics), under the model's ParamStore name (models/common/layers.h),
//                    e.g. "layers.0.ssm.dt_raw"; the names of each model are listed in its
//                    README ("Exported weights"). Complex parameters are float32 [..., 2]
//                    (real, imaginary), as the model and its checkpoints hold them.
//   __meta__.json    UTF-8 JSON: format, run, checkpoint, step, model, model_options (every
//                    option with its value, defaults included), task (what the model was built
//                    for), groups (each optimizer group's lr and weight decay), config (the
//                    run's RunConfig, harness/config.proto field names) and arrays (name,
//                    shape, dtype, kind "parameter"/"buffer", group), in archive order.
// numpy.load(path) reads it: arrays by name, npz["__meta__.json"] as bytes.
#ifndef LRA_HARNESS_EXPORT_H_
#define LRA_HARNESS_EXPORT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace lra::harness {

// The identifier in __meta__.json "format"; bumped when the layout above changes.
inline constexpr char kExportFormatVersion[] = "lra-npz-1";

struct ExportOptions {
  std::string run_dir;
  std::string checkpoint = "best";  // "best" or "last"
  std::string format = "npz";       // the only format
  std::string out;                  // empty: <run_dir>/<checkpoint>.npz
  std::string data_dir;             // where the run's dataset is (the model's task info)
  // Checked before the file is written; once true, ExportRun returns CancelledError and writes
  // nothing. May be empty.
  std::function<bool()> cancelled;
};

struct ExportReport {
  std::string path;
  int arrays = 0;          // parameters + buffers
  int64_t scalars = 0;     // float32 values in them
  int64_t bytes = 0;       // size of the file
  int64_t step = 0;        // of the checkpoint
};

absl::StatusOr<ExportReport> ExportRun(const ExportOptions& options);

}  // namespace lra::harness

#endif  // LRA_HARNESS_EXPORT_H_

// Pathfinder (32x32) and Path-X (128x128) from the PNG + metadata tree (long-range-arena@cd31e5c,
// lra_benchmarks/data/pathfinder.py and image/input_pipeline.py; formats in tasks/README.md):
//
//   <difficulty folder>/metadata/<b>.npy   plain text despite the name, one line per image:
//                                          "imgs/<b> sample_<i>.png <i> <label> ..."
//   <difficulty folder>/imgs/<b>/sample_<i>.png   8-bit grayscale, side x side
//
// Split conventions (TaskContext.split_convention):
//   "lra":    metadata files by batch number, lines in order; the first 80% / next 10% / last
//             10% of ALL lines (TFDS percent slicing), then empty PNGs are dropped, as LRA
//             filters after slicing.
//   "random": empty PNGs dropped first (S4's blacklist), then a seeded permutation assigns
//             floor(10%) to val, floor(10%) to test and the rest to train (random_split's
//             sizes). Seeded by TaskContext.seed; not bit-identical to torch's generator.
#ifndef LRA_TASKS_PATHFINDER_PATHFINDER_H_
#define LRA_TASKS_PATHFINDER_PATHFINDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tasks/common/task.h"

namespace lra::tasks {

struct PathfinderItem {
  std::string image;     // path relative to the difficulty folder, e.g. "imgs/0/sample_3.png"
  int label = 0;
  bool empty = false;    // zero-byte PNG (pathfinder32/curv_baseline/imgs/0/sample_172.png)
};

// The difficulty folder for `context` (--source may be that folder or the pathfinderNN folder
// above it). Returns the folder and the difficulty name in force.
absl::StatusOr<std::pair<std::string, std::string>> ResolvePathfinderDir(
    const TaskContext& context);

// Reads every metadata file (numeric order) and checks that each image exists. Missing images
// are an error that names them; empty ones are kept with `empty = true`.
absl::StatusOr<std::vector<PathfinderItem>> ScanPathfinder(const std::string& dir);

// Split name per item ("" = dropped) under a convention.
absl::StatusOr<std::vector<std::string>> AssignPathfinderSplits(
    const std::vector<PathfinderItem>& items, const std::string& convention, uint64_t seed);

absl::StatusOr<Plan> PlanPathfinder(const TaskContext& context);

}  // namespace lra::tasks

#endif  // LRA_TASKS_PATHFINDER_PATHFINDER_H_

// The Pathfinder generator's constants: difficulty names, the per-resolution parameter table and
// the metadata line (tasks/pathfinder/generator.h).
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "tasks/pathfinder/generator.h"

namespace lra {
namespace generators {
namespace {

// One row of LRA's per-resolution overrides. Source: the docstrings of Pathfinder32/64/128/256
// in google-research/long-range-arena@cd31e5c lra_benchmarks/data/pathfinder.py ("generated
// using the script in https://github.com/drewlinsley/pathfinder with the default parameters,
// while followings being customized"). Where a docstring sets antialias_scale twice (4, then 2)
// the later value holds. A field the docstring does not set keeps the default of
// snakes2_wrapper.Args (drewlinsley/pathfinder@ab9c130 snakes2_wrapper.py, lines 8-15):
// padding 22, seed_distance 27, paddle_length 5, paddle_contrast_list [1.].
struct ResolutionRow {
  int window;
  int padding;
  std::vector<int> paddle_margin_list;
  int paddle_length;
  double paddle_thickness;
  const char* paddle_thickness_text;  // Python's str() of the value, as in the metadata
  double marker_radius;
  int seed_distance;
  double continuity;
  const char* continuity_text;
  int distractor_budget;  // num_distractor_snakes = budget / distractor_length
  double snake_contrast;
  double paddle_contrast;
};

const std::vector<ResolutionRow>& ResolutionTable() {
  static const auto* table = new std::vector<ResolutionRow>{
      // window pad margins len thick      marker seed cont       budget snake paddle
      {32, 1, {1}, 2, 0.5, "0.5", 1.5, 7, 1.0, "1.0", 20, 2.0, 0.75},
      {64, 1, {1}, 5, 1, "1", 2.5, 12, 1.8, "1.8", 22, 0.8, 1.0},
      {128, 1, {2, 3}, 5, 1.5, "1.5", 3, 20, 1.8, "1.8", 35, 0.9, 1.0},
      {256, 22, {3}, 5, 2, "2", 5, 27, 1.8, "1.8", 30, 1.0, 1.0},
  };
  return *table;
}

}  // namespace

absl::StatusOr<PathfinderDifficulty> ParsePathfinderDifficulty(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "easy" || n == "curv_baseline") return PathfinderDifficulty::kEasy;
  if (n == "intermediate" || n == "curv_contour_length_9") {
    return PathfinderDifficulty::kIntermediate;
  }
  if (n == "hard" || n == "curv_contour_length_14") return PathfinderDifficulty::kHard;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown Pathfinder difficulty '", name,
      "'; use easy, intermediate or hard (curv_baseline, curv_contour_length_9, "
      "curv_contour_length_14)"));
}

// The folder names of drewlinsley/pathfinder@ab9c130 snakes2_wrapper.py (lines 80-91), which
// LRA's TFDS builder maps to easy / intermediate / hard (lra_benchmarks/data/pathfinder.py,
// _split_generators).
std::string PathfinderDifficultyFolder(PathfinderDifficulty difficulty) {
  switch (difficulty) {
    case PathfinderDifficulty::kEasy:
      return "curv_baseline";
    case PathfinderDifficulty::kIntermediate:
      return "curv_contour_length_9";
    case PathfinderDifficulty::kHard:
      return "curv_contour_length_14";
  }
  return "";
}

// snakes2_wrapper.py (ab9c130) lines 69 and 86: curv_baseline has contour_length 6; the other
// two are named by theirs.
int PathfinderContourLength(PathfinderDifficulty difficulty) {
  switch (difficulty) {
    case PathfinderDifficulty::kEasy:
      return 6;
    case PathfinderDifficulty::kIntermediate:
      return 9;
    case PathfinderDifficulty::kHard:
      return 14;
  }
  return 14;
}

absl::StatusOr<PathfinderParams> PathfinderParamsFor(int resolution,
                                                     PathfinderDifficulty difficulty) {
  const ResolutionRow* row = nullptr;
  for (const ResolutionRow& r : ResolutionTable()) {
    if (r.window == resolution) row = &r;
  }
  if (row == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Pathfinder resolution must be 32, 64, 128 or 256, got ", resolution));
  }
  PathfinderParams p;
  const int cl = PathfinderContourLength(difficulty);
  p.contour_length = cl;
  // Integer divisions: Pathfinder32's docstring writes `//`; the others and snakes2_wrapper.py
  // (lines 73-74 and 88) write `/` under Python 2 (its snakes2.pyc is CPython 2.7 bytecode).
  p.distractor_length = cl / 3;
  p.num_distractor_snakes = row->distractor_budget / p.distractor_length;
  p.antialias_scale = 2;
  p.max_distractor_contour_retrial = 4;  // snakes2_wrapper.Args defaults
  p.max_paddle_retrial = 2;
  p.window = row->window;
  p.padding = row->padding;
  p.paddle_margin_list = row->paddle_margin_list;
  p.paddle_length = row->paddle_length;
  p.paddle_thickness = row->paddle_thickness;
  p.paddle_thickness_text = row->paddle_thickness_text;
  p.marker_radius = row->marker_radius;
  p.seed_distance = row->seed_distance;
  p.continuity = row->continuity;
  p.continuity_text = row->continuity_text;
  p.snake_contrast_list = {row->snake_contrast};
  p.paddle_contrast_list = {row->paddle_contrast};
  return p;
}

std::string PathfinderMetadataLine(const PathfinderParams& params, int64_t batch,
                                   int64_t index_in_batch, int label, int margin) {
  // snakes2.accumulate_meta (drewlinsley/pathfinder@ab9c130 snakes2.py, line 21) field order;
  // every field is str() of the Python value.
  return absl::StrCat("imgs/", batch, " sample_", index_in_batch, ".png ", index_in_batch, " ",
                      label, " ", params.continuity_text, " ", params.contour_length, " ",
                      params.distractor_length, " ", params.paddle_length, " ",
                      params.paddle_thickness_text, " ", margin, " ",
                      params.paddle_contrast_list.size());
}

}  // namespace generators
}  // namespace lra

// Pathfinder generator: a port of the snakes generator of Linsley et al. (drewlinsley/pathfinder
// at ab9c130, `snakes2.py` + `snakes.py`, driven by `snakes2_wrapper.py`), which made LRA's
// Pathfinder and Path-X data (google-research/long-range-arena@cd31e5c README.md, "Pathfinder",
// and lra_benchmarks/data/pathfinder.py), with LRA's per-resolution constants (the docstrings of
// that file), writing the original release layout (snakes2.from_wrapper):
//
//   <dir>/imgs/<b>/sample_<i>.png   8-bit grayscale, min-max byte-scaled
//   <dir>/metadata/<b>.npy          plain text, one line per image:
//       "imgs/<b> sample_<i>.png <i> <label> <continuity> <contour_length> <distractor_length>
//        <paddle_length> <paddle_thickness> <paddle_margin> <num_paddle_contrasts>"
//
//   PathfinderOptions options;  // pathfinder32, hard (curv_contour_length_14), 200,000 images
//   options.num_images = 2000;
//   LRA_RETURN_IF_ERROR(WritePathfinderTree(options, "/data/pathfinder32/curv_contour_length_14"));
//
// The task: Linsley, Kim, Veerabadran, Windolf, Serre, "Learning long-range spatial dependencies
// with horizontal gated recurrent units", NeurIPS 2018; the generator version LRA used: Kim,
// Linsley, Thakkar, Serre, "Disentangling neural mechanisms for perceptual grouping", ICLR 2020
// (the citation of LRA's TFDS builder).
//
// Image i depends only on (seed, i): it draws from its own MT19937 stream seeded with
// init_by_array({seed_lo, seed_hi, i_lo, i_hi}), so the output does not depend on the number of
// threads. What is ported and what differs from the original is listed in README.md here.
// Code: params.cc (constants), snakes.cc (the snakes), raster.h (drawing), tree_writer.cc.
#ifndef LRA_TASKS_PATHFINDER_GENERATOR_H_
#define LRA_TASKS_PATHFINDER_GENERATOR_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra {
namespace generators {

// LRA's split names and the generator's folder names (lra_benchmarks/data/pathfinder.py,
// _split_generators): easy = curv_baseline (contour length 6), intermediate =
// curv_contour_length_9, hard = curv_contour_length_14.
enum class PathfinderDifficulty { kEasy, kIntermediate, kHard };

// Accepts easy/intermediate/hard or the folder names.
absl::StatusOr<PathfinderDifficulty> ParsePathfinderDifficulty(absl::string_view name);
std::string PathfinderDifficultyFolder(PathfinderDifficulty difficulty);
int PathfinderContourLength(PathfinderDifficulty difficulty);

// Every constant of one (resolution, difficulty) pair; see PathfinderParamsFor for the values.
struct PathfinderParams {
  int window = 32;
  int padding = 1;
  int antialias_scale = 2;
  std::vector<int> paddle_margin_list;
  int paddle_length = 2;
  double paddle_thickness = 0.5;
  double marker_radius = 1.5;
  int seed_distance = 7;
  double continuity = 1.0;
  int contour_length = 14;
  int distractor_length = 4;
  int num_distractor_snakes = 5;
  std::vector<double> snake_contrast_list;
  std::vector<double> paddle_contrast_list;
  int max_distractor_contour_retrial = 4;
  int max_paddle_retrial = 2;
  // Python's str() of the float-or-int values, as they appear in the metadata lines.
  std::string continuity_text;
  std::string paddle_thickness_text;
};

// LRA's constants for resolution 32, 64, 128 or 256 and a difficulty (the table and its sources
// are in params.cc).
absl::StatusOr<PathfinderParams> PathfinderParamsFor(int resolution,
                                                     PathfinderDifficulty difficulty);

struct PathfinderPoint {
  int y = 0;
  int x = 0;
  bool operator==(const PathfinderPoint& o) const { return y == o.y && x == o.x; }
};

// What the generator knows about one image, for tests and debugging.
struct PathfinderGroundTruth {
  int label = 0;          // 1: both markers on the ends of one contour; 0: on different ones.
  int origin_snake = 0;   // The first marker sits on this target snake's origin tip.
  int terminal_snake = 0; // The second marker sits on this snake's terminal tip.
  int margin = 0;         // The paddle margin drawn for this image.
  // Per target snake: its origin tip (the seed paddle's tail), then the seed paddle's head, then
  // the head of each added paddle; the last point is the terminal tip.
  std::array<std::vector<PathfinderPoint>, 2> chains;
  PathfinderPoint marker_origin;
  PathfinderPoint marker_terminal;
  int two_snake_attempts = 0;   // Calls of two_snakes until both target snakes were complete.
  int distractors_drawn = 0;    // Distractor snakes that succeeded (incomplete sets allowed).
};

struct PathfinderImage {
  int size = 0;
  std::vector<uint8_t> pixels;  // size * size, row-major, byte-scaled so min 0 and max 255.
  PathfinderGroundTruth truth;
};

// Generates images for one parameter set. Holds per-thread caches of rendered paddles (a pure
// function of orientation and margin), so use one instance per thread.
class PathfinderGenerator {
 public:
  explicit PathfinderGenerator(const PathfinderParams& params);
  ~PathfinderGenerator();

  // Image `index` of the stream `seed`.
  absl::StatusOr<PathfinderImage> Generate(uint64_t seed, int64_t index);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

struct PathfinderOptions {
  int resolution = 32;
  PathfinderDifficulty difficulty = PathfinderDifficulty::kHard;
  // snakes2_wrapper.Args n_images (drewlinsley/pathfinder@ab9c130 snakes2_wrapper.py line 9).
  int64_t num_images = 200000;
  // Images per imgs/<b> folder and metadata/<b>.npy file. The original fans out one batch per
  // machine; 1000 is our choice (200 batches for 200k images).
  int64_t images_per_batch = 1000;
  uint64_t seed = 0;
  int num_threads = 0;  // 0: OpenMP's default.
  // Called with the number of images written so far, every few hundred images and at the end;
  // one call at a time, from whichever worker thread reached the mark. May be empty.
  std::function<void(int64_t images_done)> progress;
  // Polled between images (from the worker threads); once it returns true the remaining images
  // are skipped and WritePathfinderTree returns CancelledError. May be empty.
  std::function<bool()> cancelled;
};

// Writes the tree described at the top into `dir` (the difficulty folder, e.g.
// .../pathfinder32/curv_contour_length_14), creating it if missing. Files are written to a
// temporary name and renamed (AtomicFile, without fsync: the tree is scratch that the converter
// reads and deletes); a metadata file is written after all of its batch's images.
absl::Status WritePathfinderTree(const PathfinderOptions& options, const std::string& dir);

// One metadata line (without the newline) in the original field order.
std::string PathfinderMetadataLine(const PathfinderParams& params, int64_t batch,
                                   int64_t index_in_batch, int label, int margin);

}  // namespace generators
}  // namespace lra

#endif  // LRA_TASKS_PATHFINDER_GENERATOR_H_

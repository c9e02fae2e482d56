// Writes a generated LRA dataset in the original release format:
//
//   generate --kind=listops --out=/data/listops-1000 --seed=1 --size=100000
//     -> basic_{train,val,test}.tsv (96% / 2% / 2%)
//   generate --kind=pathfinder --out=/data/pathfinder32 --resolution=32 --difficulty=hard
//     -> curv_contour_length_14/{imgs/<b>/sample_<i>.png, metadata/<b>.npy}
//
// The library calls behind it are WriteListOpsTsv and WritePathfinderTree.
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "tasks/listops/generator.h"
#include "tasks/pathfinder/generator.h"

ABSL_FLAG(std::string, kind, "", "What to generate: `listops` or `pathfinder`. Required.");
ABSL_FLAG(std::string, out, "",
          "Output folder, created if missing. listops: the basic_{train,val,test}.tsv files go "
          "here. pathfinder: this is the difficulty folder (name it after --difficulty, e.g. "
          ".../pathfinder32/curv_contour_length_14); imgs/<b>/ and metadata/ go here. Required.");
ABSL_FLAG(uint64_t, seed, 0,
          "Random seed. listops: the stream of Python's random.seed(seed), so the trees equal "
          "the original generator's for that seed. pathfinder: image i uses a stream derived "
          "from (seed, i).");
ABSL_FLAG(int64_t, size, -1,
          "Examples in total; -1 means the LRA size (listops 100000 split 96000/2000/2000, "
          "pathfinder 200000). listops splits any size 96% / 2% / 2%.");
ABSL_FLAG(int, resolution, 32, "pathfinder: image side, 32, 64, 128 (Path-X) or 256.");
ABSL_FLAG(std::string, difficulty, "hard",
          "pathfinder: easy (curv_baseline, contour length 6), intermediate "
          "(curv_contour_length_9) or hard (curv_contour_length_14, what LRA uses).");
ABSL_FLAG(int64_t, images_per_batch, 1000,
          "pathfinder: images per imgs/<b>/ folder and per metadata/<b>.npy file.");
ABSL_FLAG(int, threads, 0, "pathfinder: OpenMP threads; 0 = OpenMP's default (all cores). "
          "The images do not depend on it.");

namespace lra {
namespace generators {
namespace {

absl::Status Run() {
  const std::string kind = absl::GetFlag(FLAGS_kind);
  const std::string out = absl::GetFlag(FLAGS_out);
  const int64_t size = absl::GetFlag(FLAGS_size);
  if (out.empty()) return absl::InvalidArgumentError("--out is required (an output folder)");
  const auto start = std::chrono::steady_clock::now();
  int64_t examples = 0;
  if (kind == "listops") {
    const ListOpsOptions options =
        ListOpsOptionsForSize(size < 0 ? 100000 : size, absl::GetFlag(FLAGS_seed));
    ListOpsStats stats;
    LRA_RETURN_IF_ERROR(WriteListOpsTsv(options, out, &stats));
    examples = options.num_train + options.num_val + options.num_test;
    std::printf("listops: %lld train, %lld val, %lld test in %s (%lld trees drawn, %lld too "
                "short or long, %lld repeated)\n",
                static_cast<long long>(options.num_train), static_cast<long long>(options.num_val),
                static_cast<long long>(options.num_test), out.c_str(),
                static_cast<long long>(stats.trees_drawn),
                static_cast<long long>(stats.rejected_length),
                static_cast<long long>(stats.rejected_duplicate));
  } else if (kind == "pathfinder") {
    PathfinderOptions options;
    options.resolution = absl::GetFlag(FLAGS_resolution);
    LRA_ASSIGN_OR_RETURN(options.difficulty,
                         ParsePathfinderDifficulty(absl::GetFlag(FLAGS_difficulty)));
    options.num_images = size < 0 ? 200000 : size;
    options.images_per_batch = absl::GetFlag(FLAGS_images_per_batch);
    options.seed = absl::GetFlag(FLAGS_seed);
    options.num_threads = absl::GetFlag(FLAGS_threads);
    LRA_RETURN_IF_ERROR(WritePathfinderTree(options, out));
    examples = options.num_images;
    std::printf("pathfinder%d %s: %lld images in %s\n", options.resolution,
                PathfinderDifficultyFolder(options.difficulty).c_str(),
                static_cast<long long>(examples), out.c_str());
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--kind must be listops or pathfinder, got '", kind, "'"));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%lld examples in %.2f s: %.1f examples/s\n", static_cast<long long>(examples),
              seconds, examples / seconds);
  return absl::OkStatus();
}

}  // namespace
}  // namespace generators
}  // namespace lra

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes a generated LRA dataset (ListOps TSV files or a Pathfinder image tree) in the "
      "original release format.\nExample: generate --kind=listops --out=/tmp/listops --size=1000");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = lra::generators::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "generate: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

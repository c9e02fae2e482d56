// WritePathfinderTree (tasks/pathfinder/generator.h): images in parallel, then the metadata
// files, in the release layout of snakes2.from_wrapper (drewlinsley/pathfinder@ab9c130
// snakes2.py, lines 233-372): <dir>/imgs/<b>/sample_<i>.png and <dir>/metadata/<b>.npy.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/file_util.h"
#include "core/base/status_macros.h"
#include "tasks/common/png_codec.h"
#include "tasks/pathfinder/generator.h"

namespace lra {
namespace generators {
namespace {

// Checks the options and creates <dir>/metadata and every <dir>/imgs/<b>.
absl::Status PrepareTree(const PathfinderOptions& options, const std::string& dir,
                         int64_t num_batches) {
  if (options.num_images < 0) {
    return absl::InvalidArgumentError("Pathfinder num_images must be >= 0");
  }
  if (options.images_per_batch < 1) {
    return absl::InvalidArgumentError("Pathfinder images_per_batch must be >= 1");
  }
  LRA_RETURN_IF_ERROR(MakeDirs(dir + "/metadata"));
  for (int64_t b = 0; b < num_batches; ++b) {
    LRA_RETURN_IF_ERROR(MakeDirs(absl::StrCat(dir, "/imgs/", b)));
  }
  return absl::OkStatus();
}

// Image i as an 8-bit grayscale PNG at imgs/<i / per_batch>/sample_<i % per_batch>.png. The
// tree is scratch (converted, then deleted), so no fsync per file (Durability::kScratch).
absl::Status WriteImage(const PathfinderImage& image, const std::string& dir, int64_t i,
                        int64_t per_batch) {
  tasks::Image8 gray;
  gray.width = image.size;
  gray.height = image.size;
  gray.channels = 1;
  gray.pixels = image.pixels;
  LRA_ASSIGN_OR_RETURN(std::string png, tasks::EncodePng(gray));
  return WriteFileAtomically(
      absl::StrCat(dir, "/imgs/", i / per_batch, "/sample_", i % per_batch, ".png"), png,
      Durability::kScratch);
}

// What the metadata needs of each image, filled by whichever thread made it.
struct ImageRecords {
  std::vector<int8_t> labels;
  std::vector<int8_t> margins;
};

// Generates and writes every image on `options.num_threads` OpenMP threads, one generator each.
// Image i depends only on (seed, i), so the files do not depend on the thread count.
absl::Status WriteImages(const PathfinderOptions& options, const PathfinderParams& params,
                         const std::string& dir, ImageRecords* records) {
  records->labels.assign(options.num_images, 0);
  records->margins.assign(options.num_images, 0);
  std::mutex mutex;  // guards first_error and the progress callback
  absl::Status first_error;
  std::atomic<bool> failed{false};
  std::atomic<int64_t> written{0};
  constexpr int64_t kProgressEvery = 256;
  auto fail = [&](absl::Status status) {
    std::lock_guard<std::mutex> lock(mutex);
    if (first_error.ok()) first_error = std::move(status);
    failed = true;
  };
  const int threads = options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    PathfinderGenerator generator(params);
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < options.num_images; ++i) {
      if (failed.load(std::memory_order_relaxed)) continue;
      if (options.cancelled && options.cancelled()) {
        fail(absl::CancelledError("interrupted while generating"));
        continue;
      }
      absl::StatusOr<PathfinderImage> image = generator.Generate(options.seed, i);
      absl::Status status = image.status();
      if (image.ok()) {
        records->labels[i] = static_cast<int8_t>(image->truth.label);
        records->margins[i] = static_cast<int8_t>(image->truth.margin);
        status = WriteImage(*image, dir, i, options.images_per_batch);
      }
      if (!status.ok()) fail(status);
      const int64_t done = written.fetch_add(1, std::memory_order_relaxed) + 1;
      if (options.progress && done % kProgressEvery == 0) {
        std::lock_guard<std::mutex> lock(mutex);
        options.progress(done);
      }
    }
  }
  LRA_RETURN_IF_ERROR(first_error);
  if (options.progress) options.progress(options.num_images);
  return absl::OkStatus();
}

// metadata/<b>.npy for every batch: plain text despite the name, one line per image (see
// PathfinderMetadataLine), written after all of the batch's images.
absl::Status WriteMetadata(const PathfinderOptions& options, const PathfinderParams& params,
                           const std::string& dir, int64_t num_batches,
                           const ImageRecords& records) {
  const int64_t per_batch = options.images_per_batch;
  for (int64_t b = 0; b < num_batches; ++b) {
    std::string text;
    for (int64_t i = b * per_batch; i < std::min(options.num_images, (b + 1) * per_batch); ++i) {
      absl::StrAppend(&text,
                      PathfinderMetadataLine(params, b, i % per_batch, records.labels[i],
                                             records.margins[i]),
                      "\n");
    }
    LRA_RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(dir, "/metadata/", b, ".npy"), text,
                                            Durability::kScratch));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WritePathfinderTree(const PathfinderOptions& options, const std::string& dir) {
  LRA_ASSIGN_OR_RETURN(const PathfinderParams params,
                       PathfinderParamsFor(options.resolution, options.difficulty));
  const int64_t per_batch = std::max<int64_t>(options.images_per_batch, 1);
  const int64_t num_batches = (options.num_images + per_batch - 1) / per_batch;
  LRA_RETURN_IF_ERROR(PrepareTree(options, dir, num_batches));
  ImageRecords records;
  LRA_RETURN_IF_ERROR(WriteImages(options, params, dir, &records));
  return WriteMetadata(options, params, dir, num_batches, records);
}

}  // namespace generators
}  // namespace lra

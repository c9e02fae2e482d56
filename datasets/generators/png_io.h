// 8-bit grayscale PNG files through libpng, as the Pathfinder release stores its images.
#ifndef LRA_DATASETS_GENERATORS_PNG_IO_H_
#define LRA_DATASETS_GENERATORS_PNG_IO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lra {
namespace generators {

struct GrayImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // Row-major.
};

// Writes `pixels` (height rows of width bytes) as an 8-bit grayscale PNG, atomically.
absl::Status WriteGrayPng(const std::string& path, const uint8_t* pixels, int width, int height);

// The largest side ReadGrayPng accepts by default (as tasks/common/png.h kMaxPngSide: Pathfinder
// images are 32 to 256 pixels a side).
inline constexpr int kMaxGrayPngSide = 8192;

// Reads an 8-bit grayscale PNG; any other pixel format is an error naming the file. A header
// declaring more than `max_side` pixels a side is refused before any pixel memory is allocated.
absl::StatusOr<GrayImage> ReadGrayPng(const std::string& path, int max_side = kMaxGrayPngSide);

}  // namespace generators
}  // namespace lra

#endif  // LRA_DATASETS_GENERATORS_PNG_IO_H_

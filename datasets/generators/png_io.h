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

// Reads an 8-bit grayscale PNG; any other pixel format is an error naming the file.
absl::StatusOr<GrayImage> ReadGrayPng(const std::string& path);

}  // namespace generators
}  // namespace lra

#endif  // LRA_DATASETS_GENERATORS_PNG_IO_H_

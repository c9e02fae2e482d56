// 8-bit PNG decoding and encoding with libpng: the one PNG codec of lra (the CIFAR and
// Pathfinder converters decode with it, the Pathfinder generator and the fixtures encode with
// it). Named png_codec.h so that it never shadows libpng's own <png.h>.
//
// Decoding keeps the stored sample values exactly (no gamma or colour conversion), like
// tf.image.decode_png does for 8-bit files: palette and sub-byte gray images are expanded to 8
// bits, 16-bit images are refused (no LRA source has them).
#ifndef LRA_TASKS_COMMON_PNG_CODEC_H_
#define LRA_TASKS_COMMON_PNG_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra::tasks {

struct Image8 {
  int width = 0;
  int height = 0;
  int channels = 0;              // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  std::vector<uint8_t> pixels;   // [height, width, channels], row-major
};

// The largest width or height DecodePng accepts when the caller expects no particular size:
// LRA's images are 32 or 128 pixels a side, and 8192 x 8192 x 4 channels is 256 MiB, the most
// one image may allocate. A larger header is refused before any pixel memory is allocated.
inline constexpr int kMaxPngSide = 8192;

// The largest image a caller accepts; 0 = kMaxPngSide.
struct PngSize {
  int width = 0;
  int height = 0;
};

// `name` (a file name or record id) prefixes every error message. The header's width and height
// are checked against `max_size` (callers pass the size they expect; the default is
// kMaxPngSide) before the image is decoded, so a file that declares 1,000,000 x 1,000,000
// pixels is an InvalidArgumentError, not an allocation. A smaller image decodes; the caller
// checks its exact size.
absl::StatusOr<Image8> DecodePng(absl::string_view data, absl::string_view name,
                                 PngSize max_size = {});

// Encodes channels 1 (gray) or 3 (RGB), 8 bits, no interlacing, libpng's default compression
// and filters; for fixtures and synthetic sources (the Pathfinder generator's images).
absl::StatusOr<std::string> EncodePng(const Image8& image);

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_PNG_CODEC_H_

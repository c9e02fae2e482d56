// Test helper: the bytes of a PNG whose header declares any size (the pixel data is one empty
// zlib stream), to check that readers refuse a size before they allocate for it.
#ifndef LRA_TASKS_COMMON_PNG_TESTING_H_
#define LRA_TASKS_COMMON_PNG_TESTING_H_

#include <cstdint>
#include <string>

namespace lra::tasks::testing {

// An 8-bit grayscale PNG header declaring width x height, with valid chunk CRCs.
inline std::string PngDeclaring(uint32_t width, uint32_t height) {
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  // CRC-32 (ISO 3309, reflected polynomial 0xEDB88320) as the PNG spec defines it, bit by bit.
  auto crc32 = [](const std::string& bytes) {
    uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : bytes) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc32(type + data));
  };
  // bit depth 8, color type 0 (gray), compression 0, filter 0, interlace 0.
  const std::string ihdr = be32(width) + be32(height) + std::string("\x08\x00\x00\x00\x00", 5);
  const std::string empty_zlib("\x78\x9c\x03\x00\x00\x00\x00\x01", 8);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", empty_zlib) +
         chunk("IEND", "");
}

}  // namespace lra::tasks::testing

#endif  // LRA_TASKS_COMMON_PNG_TESTING_H_

#include "tasks/image/grayscale.h"

#include <cmath>

#include "gtest/gtest.h"

namespace lra::tasks {
namespace {

// Reference with every intermediate forced through a float32 store, so neither the compiler nor
// the CPU can fuse or reorder: TensorFlow's sequence of float32 operations.
uint8_t Reference(int r, int g, int b) {
  const float scale = static_cast<float>(1.0 / 255.0);
  volatile float fr = r * scale, fg = g * scale, fb = b * scale;
  volatile float p0 = fr * 0.2989f, p1 = fg * 0.5870f, p2 = fb * 0.1140f;
  volatile float sum01 = p0 + p1;
  volatile float gray = sum01 + p2;
  volatile float scaled = gray * 255.5f;
  return static_cast<uint8_t>(scaled);
}

TEST(GrayscaleTest, MatchesTheFloat32SequenceOnAllTriples) {
  int64_t mismatches = 0, fma_differs = 0;
  for (int r = 0; r < 256; ++r) {
    for (int g = 0; g < 256; ++g) {
      for (int b = 0; b < 256; ++b) {
        const uint8_t ours = TfRgbToGray(r, g, b);
        mismatches += ours != Reference(r, g, b);
        const float s = static_cast<float>(1.0 / 255.0);
        const float fused = std::fma(b * s, 0.1140f, std::fma(g * s, 0.5870f, (r * s) * 0.2989f));
        fma_differs += ours != static_cast<uint8_t>(fused * 255.5f);
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
  // The header's claim: a fused build would change exactly these few.
  EXPECT_EQ(fma_differs, 31);
}

TEST(GrayscaleTest, KnownValues) {
  EXPECT_EQ(TfRgbToGray(0, 0, 0), 0);
  EXPECT_EQ(TfRgbToGray(255, 255, 255), 255);  // 0.9999 * 255.5 = 255.47
  EXPECT_EQ(TfRgbToGray(255, 0, 0), 76);       // 0.2989 * 255.5 = 76.37
  EXPECT_EQ(TfRgbToGray(0, 255, 0), 149);      // 0.5870 * 255.5 = 149.98
  EXPECT_EQ(TfRgbToGray(0, 0, 255), 29);       // 0.1140 * 255.5 = 29.13
  EXPECT_EQ(TfRgbToGray(128, 128, 128), 128);  // 128/255 * 0.9999 * 255.5 = 128.24
}

}  // namespace
}  // namespace lra::tasks

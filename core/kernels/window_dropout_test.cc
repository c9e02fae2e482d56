#include "core/kernels/window_dropout.h"

#include <cstdint>
#include <vector>

#include "core/kernels/philox.h"
#include "gtest/gtest.h"

namespace lra {
namespace kernels {
namespace {

// M_ij / (1 - p) straight from the definition (window_dropout.h): word j % 4 of the Philox block
// with counter (j / 4, i, h, b) and key (seed low, seed high), kept iff >= round(p 2^32).
float Factor(const WindowDropout& d, int b, int h, int i, int j) {
  uint32_t w[4];
  Philox4x32(static_cast<uint32_t>(j / 4), static_cast<uint32_t>(i), static_cast<uint32_t>(h),
             static_cast<uint32_t>(b), static_cast<uint32_t>(d.seed),
             static_cast<uint32_t>(d.seed >> 32), w);
  return w[j % 4] >= d.threshold ? d.scale : 0.0f;
}

// Row is vectorised in passes of 64 keys from a Philox block boundary: starts at every lane, row
// lengths below, at and across a pass, and a window far into the sequence; bitwise equal.
TEST(WindowDropoutTest, RowIsTheDefinition) {
  for (const float rate : {0.1f, 0.5f, 0.9f}) {
    const WindowDropout d(rate, 0x123456789abcdefULL);
    int dropped = 0, total = 0;
    for (const int j0 : {0, 1, 2, 3, 5, 61, 4093}) {
      for (const int n : {1, 3, 4, 13, 50, 63, 64, 65, 127, 128, 200}) {
        std::vector<float> got(n, -1.0f);
        d.Row(/*b=*/3, /*h=*/2, /*i=*/777, j0, n, got.data());
        for (int c = 0; c < n; ++c) {
          ASSERT_EQ(got[c], Factor(d, 3, 2, 777, j0 + c))
              << "rate " << rate << " j0 " << j0 << " n " << n << " c " << c;
          dropped += got[c] == 0.0f;
          ++total;
        }
      }
    }
    // The mask is not degenerate: the dropped fraction is near the rate (loose: a sanity check).
    EXPECT_NEAR(static_cast<double>(dropped) / total, rate, 0.05) << "rate " << rate;
  }
}

// Apply multiplies each row of a block by its Row factors.
TEST(WindowDropoutTest, ApplyUsesRowFactors) {
  const WindowDropout d(0.3f, 42);
  const int rows = 5, cols = 70, stride = 72, i0 = 100, j0 = 98;
  std::vector<float> p(rows * stride), pd(rows * stride, 0.0f);
  for (size_t x = 0; x < p.size(); ++x) p[x] = 0.25f + static_cast<float>(x % 7);
  d.Apply(/*b=*/1, /*h=*/0, i0, rows, j0, cols, stride, p.data(), pd.data());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      ASSERT_EQ(pd[r * stride + c], p[r * stride + c] * Factor(d, 1, 0, i0 + r, j0 + c));
}

}  // namespace
}  // namespace kernels
}  // namespace lra

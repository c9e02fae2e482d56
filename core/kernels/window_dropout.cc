#include "core/kernels/window_dropout.h"

#include <algorithm>
#include <cstdint>

#include "core/kernels/philox.h"

namespace lra {
namespace kernels {
namespace {

// Philox blocks per vector pass: 16 lanes of 32 bits in an AVX-512 register (two AVX2 passes).
constexpr int kLanes = 16;

// words[4 t + w] = word w of Philox4x32(counter (jb + t, i, h, b), key (k0, k1)) for t < kLanes.
// A fixed trip count with the words in scalar locals: the form GCC turns into one vector pass (a
// loop of nb < 16 blocks, a local window's 13, would run in the scalar remainder). Built for
// AVX-512, AVX2 and the portable baseline, picked at load time.
__attribute__((target_clones("avx512f", "avx2", "default"))) void PhiloxBlocks(
    uint32_t jb, uint32_t i, uint32_t h, uint32_t b, uint32_t k0, uint32_t k1, uint32_t* words) {
#pragma omp simd
  for (int t = 0; t < kLanes; ++t) {
    uint32_t w0, w1, w2, w3;
    Philox4x32(jb + static_cast<uint32_t>(t), i, h, b, k0, k1, w0, w1, w2, w3);
    words[4 * t] = w0;
    words[4 * t + 1] = w1;
    words[4 * t + 2] = w2;
    words[4 * t + 3] = w3;
  }
}

}  // namespace

void WindowDropout::Row(int b, int h, int i, int j0, int n, float* factor) const {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  uint32_t words[4 * kLanes];
  // Key j is word j % 4 of block j / 4; each pass covers 64 keys from a block boundary.
  for (int c = 0; c < n;) {
    const int j = j0 + c, lane = j % 4;
    PhiloxBlocks(static_cast<uint32_t>(j / 4), static_cast<uint32_t>(i), static_cast<uint32_t>(h),
                 static_cast<uint32_t>(b), k0, k1, words);
    const int m = std::min(n - c, 4 * kLanes - lane);
    for (int e = 0; e < m; ++e) factor[c + e] = words[lane + e] >= threshold ? scale : 0.0f;
    c += m;
  }
}

}  // namespace kernels
}  // namespace lra

#include "core/base/splitmix64.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace lra {
namespace {

// The first outputs of the reference splitmix64.c (S. Vigna, prng.di.unimi.it/splitmix64.c,
// the C rendering of Steele, Lea and Flood's SplitMix64) from state 0.
TEST(SplitMix64, ReferenceStreamFromZero) {
  uint64_t state = 0;
  EXPECT_EQ(SplitMix64(&state), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(SplitMix64(&state), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(SplitMix64(&state), 0x06C45D188009454Full);
  EXPECT_EQ(state, 3 * 0x9E3779B97F4A7C15ull);
}

TEST(SplitMix64, HashIsOneStepWithoutState) {
  for (uint64_t x : {0ull, 1ull, 42ull, 0xFFFFFFFFFFFFFFFFull}) {
    uint64_t state = x;
    EXPECT_EQ(SplitMix64Hash(x), SplitMix64(&state));
  }
}

}  // namespace
}  // namespace lra

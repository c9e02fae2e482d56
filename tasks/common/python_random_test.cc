#include "tasks/common/python_random.h"

#include <random>

#include "gtest/gtest.h"

namespace lra {
namespace generators {
namespace {

// InitGenrand(5489) is std::mt19937's default state: an independent implementation of the
// same engine, compared over several twists.
TEST(Mt19937Test, MatchesStdMt19937) {
  Mt19937 ours;
  std::mt19937 theirs;
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(ours.NextU32(), theirs()) << "draw " << i;
}

// mt19937ar.out, the reference output of mt19937ar.c's main(): init_by_array({0x123, 0x234,
// 0x345, 0x456}) then genrand_int32() five times.
TEST(Mt19937Test, InitByArrayMatchesReferenceOutput) {
  Mt19937 mt;
  const uint32_t key[4] = {0x123, 0x234, 0x345, 0x456};
  mt.InitByArray(key);
  const uint32_t expected[5] = {1067595299u, 955945823u, 477289528u, 4107218783u, 4228976476u};
  for (uint32_t e : expected) EXPECT_EQ(mt.NextU32(), e);
}

// The values below were printed by CPython 3.11.7 (`random.seed(...)` then the call named).
TEST(PythonRandomTest, SeedAndGetRandBitsMatchCPython) {
  PythonRandom rng(0);
  EXPECT_EQ(rng.GetRandBits(32), 3626764237u);
  EXPECT_EQ(rng.GetRandBits(32), 1654615998u);
  EXPECT_EQ(rng.GetRandBits(32), 3255389356u);
  // A seed above 2^32 is two key words.
  PythonRandom big((uint64_t{1} << 40) + 7);
  EXPECT_EQ(big.GetRandBits(32), 2635837658u);
  EXPECT_EQ(big.GetRandBits(32), 3209733218u);
}

TEST(PythonRandomTest, RandomMatchesCPython) {
  PythonRandom rng(0);
  EXPECT_EQ(rng.Random(), 0.8444218515250481);
  EXPECT_EQ(rng.Random(), 0.7579544029403025);
  EXPECT_EQ(rng.Random(), 0.420571580830845);
}

TEST(PythonRandomTest, RandIntAndChoiceMatchCPython) {
  PythonRandom rng(0);
  const int expected_randint[10] = {8, 8, 2, 6, 10, 9, 8, 6, 9, 7};  // randint(2, 10)
  for (int e : expected_randint) EXPECT_EQ(rng.RandInt(2, 10), e);
  // choice(range(4)) draws 3 bits per try (4.bit_length() == 3) with rejection.
  PythonRandom rng4(0);
  const int expected_choice[10] = {3, 3, 0, 2, 3, 3, 2, 3, 2, 1};
  for (int e : expected_choice) EXPECT_EQ(rng4.RandBelow(4), static_cast<uint32_t>(e));
  // The widest range: randint(0, 2**32 - 2).
  PythonRandom wide(123456789);
  EXPECT_EQ(wide.RandInt(0, 4294967294LL), 2754794679LL);
  EXPECT_EQ(wide.RandInt(0, 4294967294LL), 1899526012LL);
}

TEST(PythonRandomTest, RandBelowIsUniform) {
  // Chi-square over 7 cells (a non-power-of-two, so rejection is exercised): 70,000 draws,
  // 6 degrees of freedom; P(chi2 > 22.46) = 0.001.
  PythonRandom rng(42);
  int counts[7] = {0};
  const int n = 70000;
  for (int i = 0; i < n; ++i) ++counts[rng.RandBelow(7)];
  double chi2 = 0;
  for (int c : counts) chi2 += (c - n / 7.0) * (c - n / 7.0) / (n / 7.0);
  EXPECT_LT(chi2, 22.46);
}

}  // namespace
}  // namespace generators
}  // namespace lra

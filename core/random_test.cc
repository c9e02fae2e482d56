#include "core/random.h"

#include <cmath>
#include <cstring>
#include <set>

#include "gtest/gtest.h"
#include "core/parallel.h"

namespace lra {
namespace {

TEST(RngTest, StreamsAreIndependentAndReproducible) {
  Rng a(42), b(42);
  EXPECT_EQ(a.NextU64(), b.NextU64());
  Rng i = a.Stream(RngStream::kInit), d = a.Stream(RngStream::kDropout);
  EXPECT_NE(i.NextU64(), d.NextU64());
  EXPECT_NE(Rng(1).NextU64(), Rng(2).NextU64());
}

TEST(RngTest, FillIsIndependentOfThreadCount) {
  const int64_t n = 1 << 18;  // large enough to go parallel
  std::vector<float> x(n), y(n);
  SetNumThreads(2);
  Rng a(5);
  a.FillNormal(x.data(), n);
  SetNumThreads(1);
  Rng b(5);
  b.FillNormal(y.data(), n);
  SetNumThreads(2);
  EXPECT_EQ(0, std::memcmp(x.data(), y.data(), n * sizeof(float)));
  EXPECT_EQ(a.counter(), b.counter());
  // Moments: mean within 5 standard errors of 0, variance of 1.
  double m = 0, v = 0;
  for (float f : x) m += f;
  m /= n;
  for (float f : x) v += (f - m) * (f - m);
  v /= n;
  EXPECT_NEAR(m, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(v, 1.0, 5.0 * std::sqrt(2.0 / n));
}

TEST(RngTest, StateRoundTrip) {
  Rng a(9, 3);
  a.NextU32();
  a.NextU32();
  Rng b(a.state());
  EXPECT_EQ(a.NextU64(), b.NextU64());
}

TEST(RngTest, UniformRangeAndBernoulli) {
  Rng r(1);
  std::vector<float> u(10000);
  r.FillUniform(u.data(), u.size(), -2.0f, 3.0f);
  for (float f : u) {
    EXPECT_GE(f, -2.0f);
    EXPECT_LT(f, 3.0f);
  }
  std::vector<uint8_t> m(100000);
  r.FillBernoulli(m.data(), m.size(), 0.9f);
  double keep = 0;
  for (uint8_t b : m) keep += b;
  keep /= m.size();
  EXPECT_NEAR(keep, 0.9, 5 * std::sqrt(0.09 / m.size()));
  std::vector<int64_t> p = RandomPermutation(100, r);
  EXPECT_EQ(std::set<int64_t>(p.begin(), p.end()).size(), 100u);
}

}  // namespace
}  // namespace lra

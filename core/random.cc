#include "core/random.h"

#include <cmath>
#include <utility>
#include <vector>

#include "core/base/splitmix64.h"
#include "core/check.h"
#include "core/kernels/philox.h"
#include "core/parallel.h"

namespace lra {
namespace {

// Philox4x32-10 with the 64-bit counter in the first two words (the last two are 0).
inline std::array<uint32_t, 4> Philox(uint64_t ctr, uint32_t k0, uint32_t k1) {
  std::array<uint32_t, 4> out;
  kernels::Philox4x32(static_cast<uint32_t>(ctr), static_cast<uint32_t>(ctr >> 32), 0, 0, k0, k1,
                      out.data());
  return out;
}

// Box-Muller on two uniforms; u1 in (0, 1] so log is finite.
inline void BoxMuller(uint32_t a, uint32_t b, float* z0, float* z1) {
  const float u1 = ((a >> 8) + 1.0f) * (1.0f / 16777216.0f);
  const float u2 = U32ToUnit(b);
  const float r = std::sqrt(-2.0f * std::log(u1));
  const float t = 6.28318530717958647692f * u2;
  *z0 = r * std::cos(t);
  *z1 = r * std::sin(t);
}

}  // namespace

Rng::Rng(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {
  // SplitMix64 spreads (seed, stream) into a well-mixed 64-bit key.
  const uint64_t k = SplitMix64Hash(SplitMix64Hash(seed) ^ (stream * 0xA24BAED4963EE407ull + 1));
  key_[0] = static_cast<uint32_t>(k);
  key_[1] = static_cast<uint32_t>(k >> 32);
}

std::array<uint32_t, 4> Rng::Block(uint64_t counter) const {
  return Philox(counter, key_[0], key_[1]);
}

uint32_t Rng::NextU32() { return Block(counter_++)[0]; }

uint64_t Rng::NextU64() {
  auto b = Block(counter_++);
  return (uint64_t{b[1]} << 32) | b[0];
}

float Rng::Uniform() { return U32ToUnit(NextU32()); }

float Rng::Normal() {
  auto b = Block(counter_++);
  float z0, z1;
  BoxMuller(b[0], b[1], &z0, &z1);
  return z0;
}

uint64_t Rng::UniformInt(uint64_t n) {
  LRA_CHECK(n > 0);
  // Rejection sampling removes modulo bias.
  const uint64_t limit = ~uint64_t{0} - (~uint64_t{0} % n);
  for (;;) {
    uint64_t x = NextU64();
    if (x < limit) return x % n;
  }
}

void Rng::FillUniform(float* out, int64_t n, float lo, float hi) {
  const uint64_t base = counter_;
  const int64_t nblocks = (n + 3) / 4;
  const float span = hi - lo;
  ParallelFor(
      nblocks,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          auto r = Block(base + b);
          for (int j = 0; j < 4 && 4 * b + j < n; ++j) out[4 * b + j] = lo + span * U32ToUnit(r[j]);
        }
      },
      16);
  counter_ += nblocks;
}

void Rng::FillNormal(float* out, int64_t n, float mean, float stddev) {
  const uint64_t base = counter_;
  const int64_t nblocks = (n + 3) / 4;
  ParallelFor(
      nblocks,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          auto r = Block(base + b);
          float z[4];
          BoxMuller(r[0], r[1], &z[0], &z[1]);
          BoxMuller(r[2], r[3], &z[2], &z[3]);
          for (int j = 0; j < 4 && 4 * b + j < n; ++j) out[4 * b + j] = mean + stddev * z[j];
        }
      },
      64);
  counter_ += nblocks;
}

void Rng::FillBernoulli(uint8_t* out, int64_t n, float keep) {
  const uint64_t base = counter_;
  const int64_t nblocks = (n + 3) / 4;
  // Compare 32-bit integers: keep iff x < keep * 2^32 (exact for keep in [0, 1]).
  const double thr_d = static_cast<double>(keep) * 4294967296.0;
  const uint64_t thr = thr_d >= 4294967296.0 ? (uint64_t{1} << 32) : static_cast<uint64_t>(thr_d);
  ParallelFor(
      nblocks,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          auto r = Block(base + b);
          for (int j = 0; j < 4 && 4 * b + j < n; ++j) out[4 * b + j] = uint64_t{r[j]} < thr;
        }
      },
      16);
  counter_ += nblocks;
}

Tensor RandomUniform(const Shape& shape, float lo, float hi, Rng& rng) {
  Tensor t = Tensor::Empty(shape);
  rng.FillUniform(t.data<float>(), t.numel(), lo, hi);
  return t;
}

Tensor RandomNormal(const Shape& shape, float stddev, Rng& rng) {
  Tensor t = Tensor::Empty(shape);
  rng.FillNormal(t.data<float>(), t.numel(), 0.0f, stddev);
  return t;
}

std::vector<int64_t> RandomPermutation(int64_t n, Rng& rng) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[rng.UniformInt(i + 1)]);
  return p;
}

}  // namespace lra

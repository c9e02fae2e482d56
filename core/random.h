// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
//
// A generator is (key, counter): the key comes from (seed, stream), and every draw is a pure
// function of the key and the counter. Fill* functions give element i the value of counter
// block `counter + i / 4`, lane `i % 4`, so a parallel fill is bitwise identical to a serial one
// and to any thread count. Independent streams share the seed but differ in key:
//
//   Rng root(seed);
//   Rng init = root.Stream(RngStream::kInit);      // parameter initialization
//   Rng drop = root.Stream(RngStream::kDropout);   // dropout masks
//   Rng data = root.Stream(RngStream::kData);      // shuffling
//   Tensor w = RandomNormal({128, 512}, 0.02f, init);
//
// State is three integers (seed, stream, counter); checkpoints save and restore it.
#ifndef LRA_CORE_RANDOM_H_
#define LRA_CORE_RANDOM_H_

#include <array>
#include <cstdint>

#include "core/tensor.h"

namespace lra {

enum class RngStream : uint64_t { kRoot = 0, kInit = 1, kDropout = 2, kData = 3 };

class Rng {
 public:
  struct State {
    uint64_t seed = 0;
    uint64_t stream = 0;
    uint64_t counter = 0;
  };

  explicit Rng(uint64_t seed = 0, uint64_t stream = 0);
  explicit Rng(const State& s) : Rng(s.seed, s.stream) { counter_ = s.counter; }

  // A generator on the same seed with another stream id (independent key), counter 0.
  Rng Stream(RngStream s) const { return Rng(seed_, static_cast<uint64_t>(s)); }
  Rng Stream(uint64_t s) const { return Rng(seed_, s); }

  // Philox block for an arbitrary counter (does not advance).
  std::array<uint32_t, 4> Block(uint64_t counter) const;

  uint32_t NextU32();          // consumes one counter block per call (simple, not the fast path)
  uint64_t NextU64();
  float Uniform();             // [0, 1)
  float Normal();              // N(0, 1)
  uint64_t UniformInt(uint64_t n);  // [0, n), n > 0

  // Fill n values and advance the counter by ceil(n / 4) blocks. Parallel and deterministic.
  void FillUniform(float* out, int64_t n, float lo = 0.0f, float hi = 1.0f);
  void FillNormal(float* out, int64_t n, float mean = 0.0f, float stddev = 1.0f);
  // out[i] = 1 with probability keep, else 0; as bytes.
  void FillBernoulli(uint8_t* out, int64_t n, float keep);

  State state() const { return {seed_, stream_, counter_}; }
  uint64_t counter() const { return counter_; }

 private:
  uint64_t seed_, stream_;
  uint32_t key_[2];
  uint64_t counter_ = 0;
};

// Uniform bits to floats in [0, 1) with 24 bits of mantissa.
inline float U32ToUnit(uint32_t x) { return (x >> 8) * (1.0f / 16777216.0f); }

Tensor RandomUniform(const Shape& shape, float lo, float hi, Rng& rng);
Tensor RandomNormal(const Shape& shape, float stddev, Rng& rng);
// Fisher-Yates permutation of [0, n).
std::vector<int64_t> RandomPermutation(int64_t n, Rng& rng);

}  // namespace lra

#endif  // LRA_CORE_RANDOM_H_

// Deterministic split helpers shared by the converters.
#ifndef LRA_TASKS_COMMON_SPLIT_H_
#define LRA_TASKS_COMMON_SPLIT_H_

#include <cstdint>
#include <random>
#include <vector>

namespace lra::tasks {

// A seeded generator whose output is fixed by the C++ standard (std::mt19937_64 is specified bit
// for bit), with our own bounded draw, because std::uniform_int_distribution differs between
// standard libraries. The same seed gives the same splits on every machine.
class SeededRng {
 public:
  explicit SeededRng(uint64_t seed) : engine_(seed) {}
  uint64_t Next() { return engine_(); }
  // Uniform in [0, n), n > 0, without modulo bias (rejects the top partial block).
  uint64_t Uniform(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
      x = engine_();
    } while (x >= limit);
    return x % n;
  }
  // Uniform in [0, 1) with 53 random bits.
  double UniformDouble() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

 private:
  std::mt19937_64 engine_;
};

// A uniformly random permutation of 0..n-1 (Fisher-Yates, high index first).
std::vector<int64_t> SeededPermutation(int64_t n, uint64_t seed);

// TFDS percent slicing: the example index of the boundary "pct%" in a split of n examples,
// round(pct * n / 100) with Python's round-half-to-even (tfds "closest" rounding), so
// train[:90%] of CIFAR's 50,000 is exactly 45,000.
int64_t TfdsPercentBoundary(int64_t n, int pct);

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_SPLIT_H_

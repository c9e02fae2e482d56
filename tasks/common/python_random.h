// MT19937 with CPython's `random` module semantics, so that a generator ported from Python
// consumes the same random stream as the original and can be checked against it.
//
//   PythonRandom rng(0);            // == random.seed(0)
//   double r = rng.Random();        // == random.random()
//   int64_t k = rng.RandInt(2, 10); // == random.randint(2, 10)
//   size_t i = rng.RandBelow(4);    // == the index random.choice(seq_of_4) picks
//
// What is matched (CPython 3.x, Modules/_randommodule.c and Lib/random.py):
// - Engine: MT19937 (Matsumoto & Nishimura, mt19937ar.c). std::mt19937 is the same generator,
//   but its std::seed_seq seeding differs from `init_by_array`, so the engine is written here.
// - random.seed(n) for an integer n: the key is |n| split into 32-bit words, least significant
//   first (one word 0 for n == 0), fed to init_by_array.
// - random(): two draws a = u32 >> 5, b = u32 >> 6, (a * 2^26 + b) / 2^53.
// - getrandbits(k) for k <= 32: u32 >> (32 - k).
// - randint(a, b) = a + _randbelow(b - a + 1); _randbelow(n) draws getrandbits(n.bit_length())
//   until the value is < n. Note n.bit_length(), not (n-1).bit_length(): _randbelow(4) draws
//   3 bits, which matters for stream parity.
// - choice(seq) = seq[_randbelow(len(seq))].
#ifndef LRA_TASKS_COMMON_PYTHON_RANDOM_H_
#define LRA_TASKS_COMMON_PYTHON_RANDOM_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace lra {
namespace generators {

// The MT19937 engine with both reference seeding routines.
class Mt19937 {
 public:
  Mt19937() { InitGenrand(5489u); }  // mt19937ar.c's default seed, also std::mt19937's.

  void InitGenrand(uint32_t s);
  void InitByArray(absl::Span<const uint32_t> key);
  uint32_t NextU32();

 private:
  void Twist();

  static constexpr int kN = 624;
  std::array<uint32_t, kN> mt_;
  int mti_ = kN + 1;
};

class PythonRandom {
 public:
  // random.seed(seed) for a non-negative integer seed.
  explicit PythonRandom(uint64_t seed) { Seed(seed); }
  // Seeds from several words (least significant first), i.e. random.seed(sum w_i 2^(32 i)),
  // except that trailing zero words are kept in the key; used to derive per-item streams.
  explicit PythonRandom(absl::Span<const uint32_t> key) { engine_.InitByArray(key); }

  void Seed(uint64_t seed);

  uint32_t NextU32() { return engine_.NextU32(); }
  // random.random(): uniform on [0, 1) with 53 random bits.
  double Random();
  // random.getrandbits(k), 1 <= k <= 32.
  uint32_t GetRandBits(int k);
  // random._randbelow(n), n >= 1: uniform on [0, n).
  uint32_t RandBelow(uint32_t n);
  // random.randint(a, b): uniform on [a, b], b - a < 2^32 - 1.
  int64_t RandInt(int64_t a, int64_t b);

 private:
  Mt19937 engine_;
};

}  // namespace generators
}  // namespace lra

#endif  // LRA_TASKS_COMMON_PYTHON_RANDOM_H_

// SplitMix64: the 64-bit generator of G. L. Steele, D. Lea, C. H. Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014 (the `nextSeed` + `mix64` pair of Java's
// java.util.SplittableRandom): add the golden-ratio increment 0x9E3779B97F4A7C15 to the state,
// then mix with D. Stafford's "Mix13" finalizer (shifts 30, 27, 31). Full period 2^64, and
// nearby inputs give unrelated outputs, so it is lra's one way to turn small integers (seeds,
// streams, epochs) into well-spread 64-bit keys or to draw a short reproducible stream that does
// not depend on the standard library.
//
//   uint64_t state = seed;
//   uint64_t r = SplitMix64(&state);          // advances the state
//   uint64_t key = SplitMix64Hash(stream);    // one step from `stream`, no state kept
#ifndef LRA_CORE_BASE_SPLITMIX64_H_
#define LRA_CORE_BASE_SPLITMIX64_H_

#include <cstdint>

namespace lra {

// Advances `*state` by the golden-ratio increment and returns the mixed new state.
inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The first output of a SplitMix64 stream whose state is `x`.
inline uint64_t SplitMix64Hash(uint64_t x) { return SplitMix64(&x); }

}  // namespace lra

#endif  // LRA_CORE_BASE_SPLITMIX64_H_

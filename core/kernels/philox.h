// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC'11): a counter-based generator. Four 32-bit counter words and a 64-bit key map to four
// 32-bit outputs; the same (counter, key) always gives the same outputs, so any element of a
// random stream can be computed on its own, by any thread, in any order.
//
//   uint32_t out[4];
//   Philox4x32(/*c=*/0, 0, 0, 0, /*k=*/0, 0, out);   // 6627e8d5 e169c58d bc57ac4c 9b00dbd8
//
// One header so core/random.cc (the Rng streams) and core/kernels/attention.cc (dropout masks
// regenerated in backward) share a single implementation. Header-only and branch-free, so a
// loop over counters inlines it and vectorizes.
#ifndef LRA_CORE_KERNELS_PHILOX_H_
#define LRA_CORE_KERNELS_PHILOX_H_

#include <cstdint>

namespace lra {
namespace kernels {

// (o0, o1, o2, o3) = Philox4x32-10(counter (c0, c1, c2, c3), key (k0, k1)). Outputs by
// reference so a caller's locals stay in registers: inside a `#pragma omp simd` loop GCC
// does not scalarize a local array, and its stores then block vectorization.
inline void Philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                       uint32_t k1, uint32_t& o0, uint32_t& o1, uint32_t& o2, uint32_t& o3) {
  // Multipliers and Weyl key increments from the paper (Random123's PHILOX_M4x32_*,
  // PHILOX_W32_*).
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  // Fully unrolled, so a `#pragma omp simd` loop over counters has no inner loop and
  // vectorizes (GCC leaves the round loop rolled at -O2 otherwise).
#pragma GCC unroll 10
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t{kM0} * c0, p1 = uint64_t{kM1} * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  o0 = c0;
  o1 = c1;
  o2 = c2;
  o3 = c3;
}

// The same into out[0..3].
inline void Philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                       uint32_t k1, uint32_t out[4]) {
  Philox4x32(c0, c1, c2, c3, k0, k1, out[0], out[1], out[2], out[3]);
}

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_PHILOX_H_

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

// out = Philox4x32-10(counter (c0, c1, c2, c3), key (k0, k1)).
inline void Philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                       uint32_t k1, uint32_t out[4]) {
  // Multipliers and Weyl key increments from the paper (Random123's PHILOX_M4x32_*,
  // PHILOX_W32_*).
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
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
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_PHILOX_H_

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78, init and xorout 0xFFFFFFFF) and the
// TFRecord masking of it.
//
// Crc32c() runs at memory speed through ISA-L's `crc32_iscsi` (it picks its own SIMD path at run
// time; /work/shared/reference/TOOLCHAIN.md section 5 measured 74 GB/s at 1 MiB). Builds without
// ISA-L (LRA_HAVE_ISAL undefined) fall back to SSE4.2 `crc32` instructions when the CPU has them
// (about 10 GB/s) and to a portable slice-by-8 table otherwise (about 2 GB/s). Every path gives
// the same value; crc32c_test checks the standard vectors on each.
#ifndef LRA_DATASETS_CRC32C_H_
#define LRA_DATASETS_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace lra {
namespace datasets {

// CRC32C of `n` bytes at `data`. Crc32c("123456789", 9) == 0xE3069283.
uint32_t Crc32c(const void* data, size_t n);

// CRC32C of the concatenation A + B, given crc = Crc32c(A) and B = data[0, n).
// Crc32cExtend(0, data, n) == Crc32c(data, n).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

// TFRecord stores CRCs masked, because a CRC of data that itself embeds CRCs is weak:
// rotate right by 15 bits and add a constant (tensorflow/core/lib/hash/crc32c.h, kMaskDelta).
inline uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t UnmaskCrc(uint32_t masked) {
  const uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

// The individual implementations, exposed so that tests and benchmarks can check each one. All
// take and return the finished (post-inverted) CRC, like Crc32cExtend.
namespace crc32c_internal {
// False when this build has no ISA-L; then ExtendIsal must not be called.
bool HaveIsal();
uint32_t ExtendIsal(uint32_t crc, const void* data, size_t n);
// True when the CPU has SSE4.2 (checked once, at run time).
bool HaveSse42();
uint32_t ExtendSse42(uint32_t crc, const void* data, size_t n);
uint32_t ExtendTable(uint32_t crc, const void* data, size_t n);
}  // namespace crc32c_internal

}  // namespace datasets
}  // namespace lra

#endif  // LRA_DATASETS_CRC32C_H_

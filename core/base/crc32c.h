// CRC32C and the TFRecord masking of it: the one CRC of lra (record framing in datasets/,
// checkpoint files in core/).
//
// CRC32C is the CRC-32 with the Castagnoli polynomial 0x1EDC6F41 (G. Castagnoli, S. Braeuer,
// M. Herrmann, "Optimization of cyclic redundancy-check codes with 24 and 32 parity bits",
// IEEE Trans. Commun. 41(6), 1993), as specified for iSCSI in RFC 3720 section 12.1 and
// Appendix B.4: bits reflected (0x1EDC6F41 bit-reversed is 0x82F63B78), initial value and
// final xor 0xFFFFFFFF. RFC 3720 B.4's test vectors are in crc32c_test.
//
// Crc32c() goes through ISA-L's `crc32_iscsi` (intel/isa-l, include/crc.h; it picks its own SIMD
// path at run time). Builds without ISA-L (LRA_HAVE_ISAL undefined) fall back to SSE4.2 `crc32`
// instructions when the CPU has them and to a portable slice-by-8 table otherwise. Every path
// gives the same value; crc32c_test checks the standard vectors on each. Measured rates of the
// three, and the command that measures them, are in datasets/README.md.
#ifndef LRA_CORE_BASE_CRC32C_H_
#define LRA_CORE_BASE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace lra {

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

}  // namespace lra

#endif  // LRA_CORE_BASE_CRC32C_H_

#include "core/base/crc32c.h"

#include <cstring>
#include <limits>

#ifdef LRA_HAVE_ISAL
#include <isa-l/crc.h>
#endif

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

namespace lra {
namespace crc32c_internal {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // 0x1EDC6F41 bit-reversed (RFC 3720 section 12.1)

// Slice-by-8 tables: kTable[k][b] is the CRC contribution of byte b followed by k zero bytes.
struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t c = b;
      for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? kPoly : 0);
      t[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; ++b) {
      for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);  // little-endian host (x86-64 and aarch64 Linux)
  return v;
}

}  // namespace

uint32_t ExtendTable(uint32_t crc, const void* data, size_t n) {
  const Tables& tb = GetTables();
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (n >= 8) {
    const uint64_t v = LoadLe64(p) ^ c;
    c = tb.t[7][v & 0xFF] ^ tb.t[6][(v >> 8) & 0xFF] ^ tb.t[5][(v >> 16) & 0xFF] ^
        tb.t[4][(v >> 24) & 0xFF] ^ tb.t[3][(v >> 32) & 0xFF] ^ tb.t[2][(v >> 40) & 0xFF] ^
        tb.t[1][(v >> 48) & 0xFF] ^ tb.t[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ tb.t[0][(c ^ *p++) & 0xFF];
  return ~c;
}

#if defined(__x86_64__)
bool HaveSse42() {
  static const bool have = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    return (c & bit_SSE4_2) != 0;
  }();
  return have;
}

// One dependency chain of `crc32` instructions (3-cycle latency, 8 bytes each): about 10 GB/s,
// far more than the disks these records come from. ISA-L interleaves streams for the rest.
__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const void* data,
                                                       size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t c = static_cast<uint32_t>(~crc);
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  while (n >= 8) {
    c = _mm_crc32_u64(c, LoadLe64(p));
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
  return ~static_cast<uint32_t>(c);
}
#else
bool HaveSse42() { return false; }
uint32_t ExtendSse42(uint32_t crc, const void* data, size_t n) {
  return ExtendTable(crc, data, n);
}
#endif

#ifdef LRA_HAVE_ISAL
bool HaveIsal() { return true; }

// crc32_iscsi(buffer, int len, init_crc) (intel/isa-l include/crc.h, Debian libisal-dev 2.30)
// applies no pre- or post-inversion (crc32c_test's RFC 3720 vectors check this path), and its
// length is an `int`, so invert around it and feed it at most 1 GiB at a time.
uint32_t ExtendIsal(uint32_t crc, const void* data, size_t n) {
  constexpr size_t kMaxChunk = size_t{1} << 30;
  unsigned char* p = const_cast<unsigned char*>(static_cast<const unsigned char*>(data));
  uint32_t c = ~crc;
  while (n > 0) {
    const size_t chunk = n < kMaxChunk ? n : kMaxChunk;
    c = crc32_iscsi(p, static_cast<int>(chunk), c);
    p += chunk;
    n -= chunk;
  }
  return ~c;
}
#else
bool HaveIsal() { return false; }
uint32_t ExtendIsal(uint32_t crc, const void* data, size_t n) {
  return ExtendTable(crc, data, n);
}
#endif

}  // namespace crc32c_internal

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
#ifdef LRA_HAVE_ISAL
  return crc32c_internal::ExtendIsal(crc, data, n);
#else
  if (crc32c_internal::HaveSse42()) return crc32c_internal::ExtendSse42(crc, data, n);
  return crc32c_internal::ExtendTable(crc, data, n);
#endif
}

uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

}  // namespace lra

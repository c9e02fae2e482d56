#include "core/base/crc32c.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace lra {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

struct Impl {
  const char* name;
  ExtendFn fn;
  bool available;
};

std::vector<Impl> Impls() {
  return {
      {"dispatch", &Crc32cExtend, true},
      {"isal", &crc32c_internal::ExtendIsal, crc32c_internal::HaveIsal()},
      {"sse42", &crc32c_internal::ExtendSse42, crc32c_internal::HaveSse42()},
      {"table", &crc32c_internal::ExtendTable, true},
  };
}

// A bit-at-a-time CRC straight from the definition: the reference the fast paths must match.
uint32_t BitwiseCrc32c(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0);
  }
  return ~c;
}

// Standard vectors: "123456789" is the CRC catalogue's check value; the three 32-byte buffers
// are RFC 3720 (iSCSI) appendix B.4.
TEST(Crc32c, StandardVectorsOnEveryImplementation) {
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF), ascending(32);
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<uint8_t>(i);
  int tested = 0;
  for (const Impl& impl : Impls()) {
    if (!impl.available) continue;
    ++tested;
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn(0, "123456789", 9), 0xE3069283u);
    EXPECT_EQ(impl.fn(0, zeros.data(), 32), 0x8A9136AAu);
    EXPECT_EQ(impl.fn(0, ones.data(), 32), 0x62A8AB43u);
    EXPECT_EQ(impl.fn(0, ascending.data(), 32), 0x46DD794Eu);
    EXPECT_EQ(impl.fn(0, "", 0), 0u);
  }
#ifdef LRA_HAVE_ISAL
  EXPECT_TRUE(crc32c_internal::HaveIsal());
#endif
  EXPECT_GE(tested, 2);
}

// Every length 0..300 at every alignment 0..7 (covers head/tail loops of each path), against the
// bitwise reference, and chaining at every split point equals one call.
TEST(Crc32c, AllLengthsAlignmentsAndSplitsMatchBitwise) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(320);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (const Impl& impl : Impls()) {
    if (!impl.available) continue;
    SCOPED_TRACE(impl.name);
    for (size_t align = 0; align < 8; ++align) {
      for (size_t n = 0; n + align <= 300; ++n) {
        const uint8_t* p = buf.data() + align;
        const uint32_t want = BitwiseCrc32c(p, n);
        ASSERT_EQ(impl.fn(0, p, n), want) << "n=" << n << " align=" << align;
        if (align == 0 && n % 7 == 0) {
          for (size_t k = 0; k <= n; ++k) {
            ASSERT_EQ(impl.fn(impl.fn(0, p, k), p + k, n - k), want) << "split at " << k;
          }
        }
      }
    }
  }
}

TEST(Crc32c, MaskRoundTripsAndMatchesTfRecordDefinition) {
  for (uint32_t c : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x80000000u, 0x12345678u}) {
    EXPECT_EQ(UnmaskCrc(MaskCrc(c)), c);
    EXPECT_EQ(MaskCrc(c), ((c >> 15) | (c << 17)) + 0xa282ead8u);
  }
  // A masked CRC differs from the raw one, which is the point of masking.
  EXPECT_NE(MaskCrc(0xE3069283u), 0xE3069283u);
}

TEST(Crc32c, CrcOfDataPlusItsCrcIsTheResidueUnlessMasked) {
  // Why TFRecord masks: appending a raw CRC gives a constant CRC (the residue), whatever the data.
  std::string a = "hello", b = "another string";
  auto with_crc = [](std::string s, uint32_t crc) {
    s.append(reinterpret_cast<const char*>(&crc), 4);
    return s;
  };
  std::string a2 = with_crc(a, Crc32c(a.data(), a.size()));
  std::string b2 = with_crc(b, Crc32c(b.data(), b.size()));
  EXPECT_EQ(Crc32c(a2.data(), a2.size()), Crc32c(b2.data(), b2.size()));
  std::string a3 = with_crc(a, MaskCrc(Crc32c(a.data(), a.size())));
  std::string b3 = with_crc(b, MaskCrc(Crc32c(b.data(), b.size())));
  EXPECT_NE(Crc32c(a3.data(), a3.size()), Crc32c(b3.data(), b3.size()));
}

}  // namespace
}  // namespace lra

#include "core/kernels/philox.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace lra {
namespace kernels {
namespace {

// Known-answer vectors for philox4x32-10 from Random123's kat_vectors (the reference
// implementation of Salmon et al.): counter, key, expected output.
TEST(PhiloxTest, MatchesRandom123KnownAnswers) {
  struct Kat {
    uint32_t c[4], k[2], want[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& t : kats) {
    uint32_t out[4];
    Philox4x32(t.c[0], t.c[1], t.c[2], t.c[3], t.k[0], t.k[1], out);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], t.want[i]) << "word " << i;
  }
}

}  // namespace
}  // namespace kernels
}  // namespace lra

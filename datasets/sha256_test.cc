#include "datasets/sha256.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace lra {
namespace datasets {
namespace {

// FIPS 180-2 appendix B.1, B.2 and B.3.
TEST(Sha256, Fips180Vectors) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // The empty message (FIPS 180-4 examples).
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// Feeding the same bytes in pieces of every size, across the 55/56/64-byte padding boundaries,
// gives the one-shot digest.
TEST(Sha256, IncrementalEqualsOneShot) {
  std::string msg;
  for (int i = 0; i < 200; ++i) msg.push_back(static_cast<char>(i * 37 + 11));
  for (size_t n : {0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 200}) {
    const std::string want = Sha256Hex(msg.substr(0, n));
    for (size_t piece = 1; piece <= 70; piece += 3) {
      Sha256 h;
      for (size_t i = 0; i < n; i += piece) h.Update(msg.data() + i, std::min(piece, n - i));
      ASSERT_EQ(h.HexDigest(), want) << "n=" << n << " piece=" << piece;
    }
  }
}

TEST(Sha256, FileMatchesStringAndMissingFileIsNotFound) {
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/sha.bin";
  std::string data(3 << 20, 'x');  // larger than the 1 MiB read buffer
  data[12345] = 'y';
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  fwrite(data.data(), 1, data.size(), f);
  fclose(f);
  auto got = Sha256FileHex(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, Sha256Hex(data));
  auto missing = Sha256FileHex(path + ".nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("sha.bin.nope"), std::string::npos);
}

}  // namespace
}  // namespace datasets
}  // namespace lra

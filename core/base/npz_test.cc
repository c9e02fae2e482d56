#include "core/base/npz.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/file_util.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

namespace fs = std::filesystem;

// "50 4b 03 04" -> the four bytes.
std::string Hex(const std::string& spaced) {
  std::string hex;
  for (char c : spaced)
    if (c != ' ') hex.push_back(c);
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// The tiny array of the byte-exact tests: "a", float32 [1, 2].
const std::string& TinyData() {
  static const std::string* d = new std::string(Bytes({1.0f, 2.0f}));
  return *d;
}

// Its .npy file, by hand from numpy/lib/format.py's "Format Version 1.0": magic, version 1.0,
// HEADER_LEN = 0x76 = 118 (the 57-character dict, 60 spaces, '\n': 10 + 118 = 128 = 2 * 64),
// then the two little-endian floats.
std::string TinyNpy() {
  return Hex("93 4e 55 4d 50 59 01 00 76 00") +
         "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" + std::string(60, ' ') +
         "\n" + Hex("00 00 80 3f 00 00 00 40");
}

// zlib.crc32 of the 136 bytes of TinyNpy(), little-endian (computed with Python's zlib; the
// archives below were also checked with Python's zipfile, numpy.load and Info-ZIP `unzip -t`).
constexpr char kTinyCrc[] = "9a ca ab e7";

TEST(Npz, Crc32IsZipsCrc) {
  // The CRC-32/ISO-HDLC check value of "123456789".
  EXPECT_EQ(ZipCrc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(ZipCrc32(""), 0u);
  EXPECT_EQ(ZipCrc32Update(ZipCrc32("1234"), "56789"), 0xCBF43926u);
}

TEST(Npz, NpyBytesAreExact) {
  absl::StatusOr<std::string> npy = EncodeNpy({"a", "<f4", {2}, TinyData()});
  ASSERT_TRUE(npy.ok()) << npy.status();
  EXPECT_EQ(*npy, TinyNpy());
  EXPECT_EQ(npy->size(), 136u);
}

TEST(Npz, ShapesArePythonTuples) {
  for (const auto& [shape, literal] :
       std::vector<std::pair<std::vector<int64_t>, std::string>>{
           {{}, "()"}, {{0}, "(0,)"}, {{3}, "(3,)"}, {{1, 2, 1}, "(1, 2, 1)"}}) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    const std::string data(4 * n, '\0');
    absl::StatusOr<std::string> npy = EncodeNpy({"x", "<f4", shape, data});
    ASSERT_TRUE(npy.ok()) << npy.status();
    EXPECT_NE(npy->find(absl::StrCat("'shape': ", literal, ", }")), std::string::npos) << *npy;
    EXPECT_EQ((npy->size() - data.size()) % 64, 0u) << "header not 64-byte aligned";
  }
}

TEST(Npz, ArchiveBytesAreExact) {
  // APPNOTE.TXT 6.3.10, field by field (little-endian).
  const std::string expected =
      // 4.3.7 local file header at offset 0: signature, version needed 2.0, flags 0, method 0
      // (stored), time 00:00, date 1980-01-01, CRC-32, sizes 136 and 136, name length 5, no extra.
      Hex("50 4b 03 04  14 00  00 00  00 00  00 00  21 00") + Hex(kTinyCrc) +
      Hex("88 00 00 00  88 00 00 00  05 00  00 00") + "a.npy" + TinyNpy() +
      // 4.3.12 central directory header at 35 + 136 = 171: made by UNIX 2.0, needed 2.0, ...,
      // comment 0, disk 0, internal 0, external 0100644 << 16, local header offset 0.
      Hex("50 4b 01 02  14 03  14 00  00 00  00 00  00 00  21 00") + Hex(kTinyCrc) +
      Hex("88 00 00 00  88 00 00 00  05 00  00 00  00 00  00 00  00 00  00 00 a4 81  00 00 00 00") +
      "a.npy" +
      // 4.3.16 end of central directory: disks 0 and 0, 1 and 1 entries, directory of 51 bytes
      // at offset 171, no comment.
      Hex("50 4b 05 06  00 00  00 00  01 00  01 00  33 00 00 00  ab 00 00 00  00 00");
  absl::StatusOr<std::string> got = EncodeNpz({{"a", "<f4", {2}, TinyData()}});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 244u);
  EXPECT_EQ(*got, expected);
}

TEST(Npz, Zip64ArchiveBytesAreExact) {
  const std::string expected =
      // Local header: version needed 4.5, both sizes -1, a 20-byte extra field 0x0001 holding
      // the uncompressed then the compressed size (4.5.3).
      Hex("50 4b 03 04  2d 00  00 00  00 00  00 00  21 00") + Hex(kTinyCrc) +
      Hex("ff ff ff ff  ff ff ff ff  05 00  14 00") + "a.npy" +
      Hex("01 00  10 00  88 00 00 00 00 00 00 00  88 00 00 00 00 00 00 00") + TinyNpy() +
      // Central header at 55 + 136 = 191: sizes and offset -1, a 28-byte extra field with
      // both sizes and the offset 0.
      Hex("50 4b 01 02  2d 03  2d 00  00 00  00 00  00 00  21 00") + Hex(kTinyCrc) +
      Hex("ff ff ff ff  ff ff ff ff  05 00  1c 00  00 00  00 00  00 00  00 00 a4 81  ff ff ff ff") +
      "a.npy" +
      Hex("01 00  18 00  88 00 00 00 00 00 00 00  88 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00") +
      // 4.3.14 ZIP64 end record at 191 + 79 = 270: 44 more bytes, made by UNIX 4.5, needed
      // 4.5, disks 0 and 0, 1 and 1 entries, directory of 79 bytes at 191.
      Hex("50 4b 06 06  2c 00 00 00 00 00 00 00  2d 03  2d 00  00 00 00 00  00 00 00 00") +
      Hex("01 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00") +
      Hex("4f 00 00 00 00 00 00 00  bf 00 00 00 00 00 00 00") +
      // 4.3.15 locator: disk 0, ZIP64 end record at 270, 1 disk.
      Hex("50 4b 06 07  00 00 00 00  0e 01 00 00 00 00 00 00  01 00 00 00") +
      // 4.3.16 with every count, size and offset -1.
      Hex("50 4b 05 06  00 00  00 00  ff ff  ff ff  ff ff ff ff  ff ff ff ff  00 00");
  NpzOptions options;
  options.force_zip64 = true;
  absl::StatusOr<std::string> got = EncodeNpz({{"a", "<f4", {2}, TinyData()}}, {}, options);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 368u);
  EXPECT_EQ(*got, expected);
}

TEST(Npz, RoundTrip) {
  const std::string f = Bytes({1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f});
  const std::string scalar = Bytes({42.0f});
  const std::string u8("\x00\x01\xff", 3);
  const std::string i64(16, '\x7f');
  const std::string meta = R"({"model": "s4d"})";
  const std::vector<NpyArray> arrays = {{"layers.0.w", "<f4", {2, 3}, f},
                                        {"scalar", "<f4", {}, scalar},
                                        {"empty", "<f4", {0, 4}, ""},
                                        {"bytes", "|u1", {3}, u8},
                                        {"dir/ids", "<i8", {2}, i64}};
  for (bool zip64 : {false, true}) {
    NpzOptions options;
    options.force_zip64 = zip64;
    absl::StatusOr<std::string> archive = EncodeNpz(arrays, {{"__meta__.json", meta}}, options);
    ASSERT_TRUE(archive.ok()) << archive.status();
    absl::StatusOr<std::map<std::string, std::string>> members = ReadZipMembers(*archive);
    ASSERT_TRUE(members.ok()) << members.status();
    ASSERT_EQ(members->size(), arrays.size() + 1);
    EXPECT_EQ(members->at("__meta__.json"), meta);
    for (const NpyArray& a : arrays) {
      SCOPED_TRACE(a.name);
      absl::StatusOr<ParsedNpy> npy = DecodeNpy(members->at(a.name + ".npy"));
      ASSERT_TRUE(npy.ok()) << npy.status();
      EXPECT_EQ(npy->descr, a.descr);
      EXPECT_FALSE(npy->fortran_order);
      EXPECT_EQ(npy->shape, a.shape);
      EXPECT_EQ(npy->data, std::string(a.data));
    }
  }
}

TEST(Npz, ManyMembersSwitchToZip64EndRecords) {
  // 65535 members do not fit the 16-bit count of the end record (4.4.1.4): it must say -1 and
  // the ZIP64 end record carry the count.
  std::vector<ZipMember> extra;
  std::vector<std::string> names;
  for (int i = 0; i < 0xFFFF; ++i) names.push_back(absl::StrCat("m", i));
  for (const std::string& n : names) extra.push_back({n, "x"});
  absl::StatusOr<std::string> archive = EncodeNpz({}, extra);
  ASSERT_TRUE(archive.ok()) << archive.status();
  const std::string tail = archive->substr(archive->size() - 42);
  EXPECT_EQ(tail.substr(0, 4), Hex("50 4b 06 07")) << "no ZIP64 locator";
  EXPECT_EQ(tail.substr(20 + 8, 4), Hex("ff ff ff ff"));
  absl::StatusOr<std::map<std::string, std::string>> members = ReadZipMembers(*archive);
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(members->size(), 0xFFFFu);
  EXPECT_EQ(members->at("m65534"), "x");
}

TEST(Npz, BadInputIsOneClearError) {
  const std::string two = TinyData();
  auto error = [](const absl::StatusOr<std::string>& s) { return std::string(s.status().message()); };
  EXPECT_NE(error(EncodeNpz({{"a", "<f2", {2}, two}})).find("unsupported dtype descr '<f2'"),
            std::string::npos);
  EXPECT_NE(error(EncodeNpz({{"a", "<f4", {3}, two}})).find("needs 12 bytes, got 8"),
            std::string::npos);
  EXPECT_NE(error(EncodeNpz({{"a", "<f4", {-2}, two}})).find("is invalid"), std::string::npos);
  EXPECT_NE(error(EncodeNpz({{"a", "<f4", {2}, two}, {"a", "<f4", {2}, two}}))
                .find("'a.npy' appears twice"),
            std::string::npos);
  EXPECT_NE(error(EncodeNpz({{"a", "<f4", {2}, two}}, {{"a.npy", "x"}})).find("appears twice"),
            std::string::npos);
  for (const std::string bad : {"", "../up", "/abs", "tab\there", "back\\slash"}) {
    EXPECT_EQ(EncodeNpz({{bad, "<f4", {2}, two}}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(Npz, ReaderRejectsCorruption) {
  absl::StatusOr<std::string> archive = EncodeNpz({{"a", "<f4", {2}, TinyData()}});
  ASSERT_TRUE(archive.ok());
  std::string flipped = *archive;
  flipped[35 + 130] ^= 1;  // a data byte of a.npy
  EXPECT_NE(ReadZipMembers(flipped).status().message().find("CRC-32 mismatch"),
            std::string::npos);
  EXPECT_EQ(ReadZipMembers(archive->substr(0, 100)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeNpy("not an npy file").status().code(), absl::StatusCode::kDataLoss);
  std::string short_npy = TinyNpy();
  short_npy.pop_back();
  EXPECT_NE(DecodeNpy(short_npy).status().message().find("needs 8 bytes, file has 7"),
            std::string::npos);
}

TEST(Npz, WriteIsAtomic) {
  const fs::path dir = fs::path(std::getenv("TEST_TMPDIR")) / "npz";
  fs::remove_all(dir);
  const std::string path = (dir / "w.npz").string();
  ASSERT_TRUE(WriteNpz(path, {{"a", "<f4", {2}, TinyData()}}).ok());
  absl::StatusOr<std::string> first = ReadFile(path);
  ASSERT_TRUE(first.ok());
  // A failing encode names the path and leaves the old archive as it was, with no temporary.
  absl::Status bad = WriteNpz(path, {{"a", "<f4", {3}, TinyData()}});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find(path), std::string::npos) << bad;
  EXPECT_EQ(*ReadFile(path), *first);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  // An unwritable place is an error naming it.
  absl::Status denied = WriteNpz("/proc/no/such/dir/w.npz", {{"a", "<f4", {2}, TinyData()}});
  EXPECT_FALSE(denied.ok());
  EXPECT_NE(denied.message().find("/proc/no/such/dir"), std::string::npos) << denied;
}

}  // namespace
}  // namespace lra

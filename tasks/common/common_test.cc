#include <algorithm>
#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tasks/common/chars.h"
#include "core/base/file_util.h"
#include "tasks/common/png_codec.h"
#include "tasks/common/split.h"

namespace lra::tasks {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return JoinPath(std::getenv("TEST_TMPDIR"), name);
}

TEST(LineReaderTest, NumbersLinesKeepsCarriageReturnAndReadsLastLineWithoutNewline) {
  const std::string path = TempPath("lines.txt");
  ASSERT_TRUE(WriteFileAtomically(path, "a\tb\r\n\nlast").ok());
  auto reader = LineReader::Open(path);
  ASSERT_TRUE(reader.ok());
  absl::string_view line;
  std::vector<std::string> lines;
  while (true) {
    auto more = reader->Next(&line);
    ASSERT_TRUE(more.ok());
    if (!*more) break;
    lines.emplace_back(line);
    EXPECT_EQ(reader->line_number(), static_cast<int64_t>(lines.size()));
  }
  EXPECT_THAT(lines, ::testing::ElementsAre("a\tb\r", "", "last"));
}

TEST(FilesTest, MissingFileIsNotFoundAndNamesThePath) {
  auto s = ReadFile(TempPath("nope"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("nope"));
}

TEST(FilesTest, MakeDirsListDirRemoveTree) {
  const std::string root = TempPath("tree");
  ASSERT_TRUE(MakeDirs(JoinPath(root, "b/c")).ok());
  ASSERT_TRUE(WriteFileAtomically(JoinPath(root, "a.txt"), "x").ok());
  auto names = ListDir(root);
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, ::testing::ElementsAre("a.txt", "b"));
  ASSERT_TRUE(RemoveTree(root).ok());
  EXPECT_FALSE(PathExists(root));
  EXPECT_EQ(Basename("x/y/z.png"), "z.png");
  EXPECT_EQ(Basename("x/y/"), "y");
}

TEST(PngTest, GrayAndRgbRoundTripExactly) {
  for (int channels : {1, 3}) {
    Image8 image;
    image.width = 5;
    image.height = 3;
    image.channels = channels;
    for (int i = 0; i < 5 * 3 * channels; ++i) image.pixels.push_back((i * 37 + 11) & 255);
    auto png = EncodePng(image);
    ASSERT_TRUE(png.ok());
    auto back = DecodePng(*png, "x.png");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->width, 5);
    EXPECT_EQ(back->height, 3);
    EXPECT_EQ(back->channels, channels);
    EXPECT_EQ(back->pixels, image.pixels);
  }
}

TEST(PngTest, CorruptAndTruncatedDataNameTheInput) {
  auto bad = DecodePng("definitely not a png", "imgs/0/sample_1.png");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("imgs/0/sample_1.png"));
  Image8 image;
  image.width = image.height = 8;
  image.channels = 1;
  image.pixels.assign(64, 7);
  std::string png = *EncodePng(image);
  auto cut = DecodePng(absl::string_view(png).substr(0, png.size() / 2), "cut.png");
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(cut.status().message()), HasSubstr("cut.png"));
}

// Issue 11 item 7: the header's size is checked before decoding (the default bound and a
// caller's bound); a smaller image still decodes.
TEST(PngTest, SizeIsCheckedBeforeDecoding) {
  Image8 image;
  image.width = image.height = 40;
  image.channels = 1;
  image.pixels.assign(40 * 40, 9);
  const std::string png = *EncodePng(image);
  auto big = DecodePng(png, "imgs/0/big.png", PngSize{32, 32});
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(big.status().message()),
              HasSubstr("imgs/0/big.png: the PNG header declares 40x40 pixels, more than the "
                        "32x32 expected"));
  EXPECT_TRUE(DecodePng(png, "x.png", PngSize{64, 64}).ok());
  image.width = kMaxPngSide + 1;
  image.height = 1;
  image.pixels.assign(image.width, 0);
  auto wide = DecodePng(*EncodePng(image), "wide.png");
  EXPECT_EQ(wide.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wide.status().message()), HasSubstr("8193x1"));
}

TEST(SplitTest, PermutationIsDeterministicAndComplete) {
  auto a = SeededPermutation(1000, 42);
  auto b = SeededPermutation(1000, 42);
  auto c = SeededPermutation(1000, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[i], i);
  // Not the identity: the chance of a fixed point everywhere is 1/1000!.
  int64_t moved = 0;
  for (int64_t i = 0; i < 1000; ++i) moved += a[i] != i;
  EXPECT_GT(moved, 900);
}

TEST(SplitTest, TfdsPercentBoundaryRoundsHalfToEven) {
  EXPECT_EQ(TfdsPercentBoundary(50000, 90), 45000);
  EXPECT_EQ(TfdsPercentBoundary(200000, 80), 160000);
  EXPECT_EQ(TfdsPercentBoundary(5, 90), 4);    // 4.5 -> 4 (even)
  EXPECT_EQ(TfdsPercentBoundary(15, 90), 14);  // 13.5 -> 14 (even)
  EXPECT_EQ(TfdsPercentBoundary(7, 80), 6);    // 5.6 -> 6
  EXPECT_EQ(TfdsPercentBoundary(7, 90), 6);    // 6.3 -> 6
}


// Strict UTF-8 as Python's bytes.decode("utf-8"): one code point per character of any width,
// and the malformed forms rejected with the byte offset.
TEST(CharsTest, DecodeUtf8IsStrict) {
  std::vector<char32_t> cps;
  ASSERT_TRUE(DecodeUtf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "x", &cps).ok());
  EXPECT_THAT(cps, ::testing::ElementsAre(U'a', U'\u00e9', U'\u20ac', U'\U0001F600'));
  for (const char* bad : {"ab\xc3", "ab\x80", "ab\xc0\xaf", "ab\xed\xa0\x80", "ab\xf4\x90\x80\x80",
                          "ab\xe2\x28\xa1"}) {
    absl::Status s = DecodeUtf8(bad, "f.txt", &cps);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("f.txt: invalid UTF-8 at byte offset 2"));
  }
}

// The encoder keeps max_length - 1 characters and appends <eos>; the returned length counts
// every character plus <eos>.
TEST(CharsTest, EncoderTruncatesBeforeEos) {
  Encoding encoding;
  encoding.set_name("s4_chars");
  encoding.set_pad_id(0);
  encoding.set_unk_id(1);
  encoding.set_eos_id(2);
  encoding.set_min_freq(2);
  CharVocabularyBuilder builder(encoding, 100);
  ASSERT_TRUE(builder.Add("xyyx\xc3\xa9", "t").ok());  // x 2, y 2, e-acute 1 (< min_freq)
  auto vocab = builder.Build();
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_THAT(vocab->symbols(), ::testing::ElementsAre("<pad>", "<unk>", "<eos>", "x", "y"));
  auto encoder = CharEncoder::Create(encoding, *vocab);
  ASSERT_TRUE(encoder.ok());
  google::protobuf::RepeatedField<int32_t> ids;
  int64_t unknown = 0;
  auto length = encoder->Encode("y\xc3\xa9xyx", 4, "t", &ids, &unknown);
  ASSERT_TRUE(length.ok());
  EXPECT_EQ(*length, 6);
  EXPECT_THAT(ids, ::testing::ElementsAre(4, 1, 3, 2));
  EXPECT_EQ(unknown, 1);

  CharVocabularyBuilder empty(encoding, 100);
  ASSERT_TRUE(empty.Add("xy", "t").ok());
  EXPECT_THAT(std::string(empty.Build().status().message()),
              HasSubstr("no training character occurs 2 times or more"));
}

}  // namespace
}  // namespace lra::tasks

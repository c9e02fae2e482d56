#include "tasks/common/png_codec.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tasks/common/png_testing.h"

namespace lra::tasks {
namespace {

// A header's size is checked before any pixel memory is allocated: the 10^6 x 10^6 header
// would otherwise be decoded into 10^12 bytes. (Moved here with the generator's PNG reader,
// which this codec replaced.)
TEST(PngCodecTest, AHugeDeclaredPngIsRefusedBeforeDecoding) {
  for (auto [side, max] : {std::pair<uint32_t, int>{1000000, 0}, {30000, 128}}) {
    const std::string name = absl::StrCat("imgs/0/huge", side, ".png");
    const auto image = DecodePng(testing::PngDeclaring(side, side), name, PngSize{max, max});
    ASSERT_FALSE(image.ok());
    EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(image.status().message().find(name), std::string::npos) << image.status();
    EXPECT_NE(image.status().message().find(absl::StrCat(side, "x", side)), std::string::npos)
        << image.status();
  }
  // A small declared size passes the check and fails later, on the missing pixel rows.
  const auto small = DecodePng(testing::PngDeclaring(4, 4), "small.png");
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().code(), absl::StatusCode::kDataLoss) << small.status();
  EXPECT_NE(small.status().message().find("small.png"), std::string::npos) << small.status();
}

// The generator writes gray images through EncodePng; they decode to one channel with the
// same bytes.
TEST(PngCodecTest, GrayImageRoundTripsWithOneChannel) {
  Image8 gray;
  gray.width = 5;
  gray.height = 3;
  gray.channels = 1;
  for (int k = 0; k < 15; ++k) gray.pixels.push_back(static_cast<uint8_t>(k * 17));
  absl::StatusOr<std::string> png = EncodePng(gray);
  ASSERT_TRUE(png.ok()) << png.status();
  absl::StatusOr<Image8> back = DecodePng(*png, "gray.png");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->channels, 1);
  EXPECT_EQ(back->width, 5);
  EXPECT_EQ(back->height, 3);
  EXPECT_EQ(back->pixels, gray.pixels);
}

}  // namespace
}  // namespace lra::tasks

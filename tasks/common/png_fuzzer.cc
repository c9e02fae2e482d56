// libFuzzer target for lra's PNG reader: any byte string, decoded by tasks/common/png_codec.cc
// DecodePng (TFDS CIFAR-10 records, Pathfinder trees, generated or released) with the default
// bound and with a 32 x 32 one. It must return a Status; a decoded image must have the declared
// shape, pixels for every sample, and no side over the bound it was given; a crash, leak, hang
// or allocation past -rss_limit_mb (a header declaring a huge image) is a finding.
//
// Built and run by png_fuzzer_test.sh (the :png_fuzzer test) with clang
// -fsanitize=fuzzer,address,undefined. With LRA_FUZZ_WRITE_SEEDS=<dir> set, it writes a seed
// corpus (small gray and RGB images, a truncated one, a huge declared size) and exits.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tasks/common/png_codec.h"
#include "tasks/common/png_testing.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "png_fuzzer: property violated: %s\n", what);
    __builtin_trap();
  }
}

bool WriteFile(const std::string& path, const std::string& bytes) {
  FILE* f = fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return fclose(f) == 0 && ok;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seeds = getenv("LRA_FUZZ_WRITE_SEEDS")) {
    int i = 0;
    auto seed = [&](const std::string& bytes) {
      if (!WriteFile(std::string(seeds) + "/seed" + std::to_string(i++), bytes)) exit(1);
    };
    for (int channels : {1, 3}) {
      lra::tasks::Image8 image;
      image.width = 7;
      image.height = 5;
      image.channels = channels;
      for (int k = 0; k < 7 * 5 * channels; ++k) image.pixels.push_back((k * 37) & 255);
      const std::string png = *lra::tasks::EncodePng(image);
      seed(png);
      seed(png.substr(0, png.size() / 2));
    }
    seed(lra::tasks::testing::PngDeclaring(1000000, 1000000));
    seed(lra::tasks::testing::PngDeclaring(3, 2));
    exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (lra::tasks::PngSize bound : {lra::tasks::PngSize{}, lra::tasks::PngSize{32, 32}}) {
    absl::StatusOr<lra::tasks::Image8> image = lra::tasks::DecodePng(bytes, "fuzz.png", bound);
    if (!image.ok()) continue;
    const int max_w = bound.width > 0 ? bound.width : lra::tasks::kMaxPngSide;
    const int max_h = bound.height > 0 ? bound.height : lra::tasks::kMaxPngSide;
    Check(image->width <= max_w && image->height <= max_h, "decoded image within its bound");
    Check(image->channels >= 1 && image->channels <= 4, "1 to 4 channels");
    Check(image->pixels.size() == static_cast<size_t>(image->width) * image->height *
                                      image->channels,
          "pixels match the shape");
  }
  return 0;
}

#include "datasets/generators/png_io.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "datasets/generators/atomic_file.h"

namespace lra {
namespace generators {
namespace {

// libpng reports errors through longjmp; the message is kept for the Status.
struct PngErrorState {
  std::string message;
};

void OnPngError(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  if (state != nullptr) state->message = message;
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}

}  // namespace

absl::Status WriteGrayPng(const std::string& path, const uint8_t* pixels, int width, int height) {
  LRA_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Open(path));
  PngErrorState error;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, OnPngError,
                                            OnPngWarning);
  if (png == nullptr) return absl::ResourceExhaustedError("png_create_write_struct failed");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return absl::InternalError(absl::StrCat("libpng error writing ", path, ": ", error.message));
  }
  png_init_io(png, file->stream());
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) {
    png_write_row(png, const_cast<png_bytep>(pixels + static_cast<size_t>(y) * width));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return file->Commit();
}

absl::StatusOr<GrayImage> ReadGrayPng(const std::string& path, int max_side) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  PngErrorState error;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, OnPngError,
                                           OnPngWarning);
  if (png == nullptr) return absl::ResourceExhaustedError("png_create_read_struct failed");
  png_infop info = png_create_info_struct(png);
  GrayImage image;
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::DataLossError(
        absl::StrCat(path, ": not a readable PNG (libpng: ", error.message, ")"));
  }
  png_init_io(png, file.get());
  // libpng's own limit is 1,000,000 pixels a side; ours is checked below with a clearer text.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  if (max_side < 1 || width > static_cast<png_uint_32>(max_side) ||
      height > static_cast<png_uint_32>(max_side)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": the PNG header declares ", width, "x", height, " pixels, more than ", max_side,
        " a side; not decoded. Replace the file (a damaged image?)"));
  }
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (color_type != PNG_COLOR_TYPE_GRAY || bit_depth != 8) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected an 8-bit grayscale PNG, got color type ", color_type, " with ",
        bit_depth, " bits"));
  }
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.pixels.resize(static_cast<size_t>(image.width) * image.height);
  for (int y = 0; y < image.height; ++y) {
    png_read_row(png, image.pixels.data() + static_cast<size_t>(y) * image.width, nullptr);
  }
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

}  // namespace generators
}  // namespace lra

#include "tasks/common/png_codec.h"

#include <png.h>

#include <csetjmp>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace lra::tasks {
namespace {

// libpng reports errors through a callback that must not return; we longjmp back to the
// setjmp in the caller after saving the message. Only PODs live across the setjmp.
struct ErrorState {
  char message[256];
};

void OnError(png_structp png, png_const_charp message) {
  auto* state = static_cast<ErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s", message);
  png_longjmp(png, 1);
}

void OnWarning(png_structp, png_const_charp) {}

struct MemoryReader {
  const uint8_t* data;
  size_t size;
  size_t offset;
};

void ReadFromMemory(png_structp png, png_bytep out, png_size_t n) {
  auto* reader = static_cast<MemoryReader*>(png_get_io_ptr(png));
  if (n > reader->size - reader->offset) png_error(png, "unexpected end of data (truncated PNG)");
  std::memcpy(out, reader->data + reader->offset, n);
  reader->offset += n;
}

void WriteToString(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), n);
}

void FlushNothing(png_structp) {}

}  // namespace

absl::StatusOr<Image8> DecodePng(absl::string_view data, absl::string_view name,
                                 PngSize max_size) {
  if (data.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(data.data()), 0, 8) != 0) {
    return absl::DataLossError(
        absl::StrCat(name, ": not a PNG file (", data.size(), " bytes, bad signature)"));
  }
  ErrorState state;
  state.message[0] = '\0';
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, OnError, OnWarning);
  if (png == nullptr) return absl::ResourceExhaustedError("png_create_read_struct failed");
  png_infop info = png_create_info_struct(png);
  MemoryReader reader{reinterpret_cast<const uint8_t*>(data.data()), data.size(), 0};
  Image8 image;
  std::vector<png_bytep> rows;
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::DataLossError(absl::StrCat(name, ": corrupt PNG: ", state.message));
  }
  png_set_read_fn(png, &reader, ReadFromMemory);
  // libpng's own limit is 1,000,000 pixels a side; ours is checked below with a clearer text.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  png_uint_32 width = png_get_image_width(png, info);
  png_uint_32 height = png_get_image_height(png, info);
  // The header's size, before any pixel memory is allocated.
  const png_uint_32 max_width = max_size.width > 0 ? max_size.width : kMaxPngSide;
  const png_uint_32 max_height = max_size.height > 0 ? max_size.height : kMaxPngSide;
  if (width > max_width || height > max_height) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": the PNG header declares ", width, "x", height, " pixels, more than the ",
        max_width, "x", max_height, " expected here; not decoded. Replace the file (a wrong "
        "resolution folder or a damaged image?)"));
  }
  int bit_depth = png_get_bit_depth(png, info);
  int color_type = png_get_color_type(png, info);
  if (bit_depth == 16) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": 16-bit PNG; LRA sources are 8-bit, re-export the image as 8-bit"));
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.channels = png_get_channels(png, info);
  size_t row_bytes = png_get_rowbytes(png, info);
  if (row_bytes != static_cast<size_t>(image.width) * image.channels) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::InternalError(absl::StrCat(name, ": unexpected PNG row size ", row_bytes));
  }
  image.pixels.resize(row_bytes * height);
  rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = image.pixels.data() + y * row_bytes;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

absl::StatusOr<std::string> EncodePng(const Image8& image) {
  if (image.channels != 1 && image.channels != 3) {
    return absl::InvalidArgumentError("EncodePng: channels must be 1 or 3");
  }
  if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) {
    return absl::InvalidArgumentError("EncodePng: pixel buffer size does not match the shape");
  }
  ErrorState state;
  state.message[0] = '\0';
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, OnError, OnWarning);
  if (png == nullptr) return absl::ResourceExhaustedError("png_create_write_struct failed");
  png_infop info = png_create_info_struct(png);
  std::string out;
  std::vector<png_bytep> rows(image.height);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return absl::InternalError(absl::StrCat("PNG encoding failed: ", state.message));
  }
  png_set_write_fn(png, &out, WriteToString, FlushNothing);
  png_set_IHDR(png, info, image.width, image.height, 8,
               image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  size_t row_bytes = static_cast<size_t>(image.width) * image.channels;
  for (int y = 0; y < image.height; ++y) {
    rows[y] = const_cast<png_bytep>(image.pixels.data() + y * row_bytes);
  }
  png_set_rows(png, info, rows.data());
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace lra::tasks

// NumPy .npy arrays and .npz archives: write them for `numpy.load` (and read them back, for
// tests and round trips).
//
//   std::vector<NpyArray> arrays = {{"layers.0.w", "<f4", {64, 128}, bytes_of_w}};
//   LRA_RETURN_IF_ERROR(WriteNpz("/tmp/w.npz", arrays, {{"__meta__.json", json}}));
//   // python: numpy.load("/tmp/w.npz")["layers.0.w"].shape == (64, 128)
//
// .npy: NPY format version 1.0 as specified in the docstring of numpy/lib/format.py (NumPy
// 1.24, "Format Version 1.0"; the format's origin is NEP 1, "A simple file format for NumPy
// arrays"): the magic "\x93NUMPY", the version bytes 1 and 0, a little-endian uint16 HEADER_LEN,
// then HEADER_LEN bytes of ASCII: the Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// (keys sorted, as the spec says a writer SHOULD), padded with spaces and ended by '\n' so that
// 10 + HEADER_LEN is a multiple of 64; then the elements, C order.
//
// .npz: what numpy.savez writes, a ZIP archive with one member "<name>.npy" per array, here
// stored (compression method 0) with CRC-32 from zlib, following PKWARE's APPNOTE.TXT 6.3.10:
// a local file header (4.3.7) and the data per member, the central directory (4.3.12), the end
// of central directory record (4.3.16). When a member or an offset reaches 0xFFFFFFFF, or the
// archive has 0xFFFF members or more, the ZIP64 forms are used: the Zip64 extended information
// extra field 0x0001 (4.5.3), the ZIP64 end of central directory record and locator (4.3.14,
// 4.3.15), version needed 4.5 (4.4.3.2). Every member's time stamp is 1980-01-01 00:00:00 (the
// MS-DOS epoch, 4.4.6), so the same arrays give the same bytes on every machine and day.
//
// Non-array members (extra files, e.g. "__meta__.json") are stored the same way; numpy.load
// returns their raw bytes for npz["__meta__.json"].
#ifndef LRA_CORE_BASE_NPZ_H_
#define LRA_CORE_BASE_NPZ_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra {

// One array. `data` is borrowed: product(shape) * itemsize(descr) bytes, C order, in the byte
// order `descr` names.
struct NpyArray {
  std::string name;             // archive member "<name>.npy"; numpy.load(path)[name]
  std::string descr;            // "<f4", "<f8", "<i4", "<i8", "|u1", "|i1", "|b1", "<c8"
  std::vector<int64_t> shape;   // () is a scalar of one element
  absl::string_view data;
};

// A non-array member, stored as is under `name`.
struct ZipMember {
  std::string name;
  absl::string_view contents;
};

struct NpzOptions {
  // Write the ZIP64 forms for every member and the end records even when nothing needs them
  // (tests use it to cover the > 4 GiB layout with small arrays).
  bool force_zip64 = false;
};

// Bytes per element of a supported descr; InvalidArgumentError naming the supported ones.
absl::StatusOr<int64_t> NpyItemSize(absl::string_view descr);

// One .npy file (format 1.0). InvalidArgumentError when the descr is unsupported, a dimension is
// negative or `data` has the wrong size.
absl::StatusOr<std::string> EncodeNpy(const NpyArray& array);

// The whole archive: arrays first (in the given order), then the extra members. Names must be
// unique, non-empty printable ASCII without '\\', and neither start with '/' nor contain "..".
absl::StatusOr<std::string> EncodeNpz(const std::vector<NpyArray>& arrays,
                                      const std::vector<ZipMember>& extra = {},
                                      const NpzOptions& options = {});

// EncodeNpz, written atomically (core/base/file_util.h): `path` is either the complete new
// archive or untouched. Errors name `path`.
absl::Status WriteNpz(const std::string& path, const std::vector<NpyArray>& arrays,
                      const std::vector<ZipMember>& extra = {}, const NpzOptions& options = {});

// --- Reading (what EncodeNpz writes: stored members, with or without ZIP64) ----------------------

struct ParsedNpy {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  std::string data;
};

// Parses a .npy file of format 1.0; DataLossError saying what is wrong.
absl::StatusOr<ParsedNpy> DecodeNpy(absl::string_view bytes);

// The members of a ZIP archive of stored members, by name, after checking each CRC-32 and the
// local headers against the central directory. UnimplementedError for compressed members.
absl::StatusOr<std::map<std::string, std::string>> ReadZipMembers(absl::string_view archive);

// CRC-32 (ISO-HDLC, the one of ZIP and zlib) of `bytes`; Update continues one over more bytes:
// ZipCrc32Update(ZipCrc32(a), b) == ZipCrc32(a + b).
uint32_t ZipCrc32(absl::string_view bytes);
uint32_t ZipCrc32Update(uint32_t crc_so_far, absl::string_view bytes);

}  // namespace lra

#endif  // LRA_CORE_BASE_NPZ_H_

#include "core/base/npz.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/file_util.h"
#include "core/base/status_macros.h"

namespace lra {
namespace {

// numpy/lib/format.py (NumPy 1.24): MAGIC_PREFIX, and ARRAY_ALIGN for the header padding.
constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr int kNpyMagicLen = 6;
constexpr int kNpyAlign = 64;

// APPNOTE.TXT 6.3.10 signatures and fixed values.
constexpr uint32_t kLocalHeaderSig = 0x04034b50;      // 4.3.7
constexpr uint32_t kCentralHeaderSig = 0x02014b50;    // 4.3.12
constexpr uint32_t kZip64EndSig = 0x06064b50;         // 4.3.14
constexpr uint32_t kZip64LocatorSig = 0x07064b50;     // 4.3.15
constexpr uint32_t kEndSig = 0x06054b50;              // 4.3.16
constexpr uint16_t kZip64ExtraId = 0x0001;            // 4.5.3
constexpr uint16_t kVersionDefault = 20;              // 4.4.3.2: 2.0, stored members
constexpr uint16_t kVersionZip64 = 45;                // 4.4.3.2: 4.5, ZIP64
constexpr uint16_t kHostUnix = 3;                     // 4.4.2.2: "version made by" upper byte
constexpr uint16_t kDosTime = 0;                      // 4.4.6: 00:00:00
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 4.4.6: 1980-01-01 (years from 1980)
// 4.4.15: external attributes; with host UNIX the upper 16 bits are st_mode (regular, 0644).
constexpr uint32_t kExternalAttributes = 0100644u << 16;
constexpr uint64_t kMax32 = 0xFFFFFFFFu;
constexpr uint64_t kMax16 = 0xFFFFu;
// Sizes of the fixed parts of the records (APPNOTE 4.3.7, 4.3.12, 4.3.14, 4.3.15, 4.3.16).
constexpr size_t kLocalHeaderSize = 30, kCentralHeaderSize = 46, kZip64EndSize = 56,
                 kZip64LocatorSize = 20, kEndSize = 22;

void PutU16(std::string* out, uint16_t v) {
  const char b[2] = {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)};
  out->append(b, 2);
}
void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t GetLe(absl::string_view s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

absl::Status CheckMemberName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 0xFFFF && name.front() != '/' &&
            !absl::StrContains(name, "..");
  for (char c : name) ok = ok && c >= 0x20 && c <= 0x7E && c != '\\';
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "npz: member name '", absl::CEscape(name),
      "' is not allowed; use non-empty printable ASCII without '\\', a leading '/' or '..'"));
}

// A member's bytes are `prefix` (an array's .npy header; empty for an extra file) then `data`,
// so an array's elements are copied once, straight into the archive.
struct Member {
  std::string name;
  std::string prefix;
  absl::string_view data;
  uint64_t size() const { return prefix.size() + data.size(); }
};

uint32_t MemberCrc32(const Member& m) {
  uint32_t crc = ZipCrc32(m.prefix);
  return m.data.empty() ? crc : ZipCrc32Update(crc, m.data);
}

// One stored member: local header (with the Zip64 extra field when `zip64`), then the data.
void AppendLocal(const Member& m, uint32_t crc, bool zip64, std::string* out) {
  const uint64_t size = m.size();
  PutU32(out, kLocalHeaderSig);
  PutU16(out, zip64 ? kVersionZip64 : kVersionDefault);  // version needed to extract
  PutU16(out, 0);                                        // general purpose flags
  PutU16(out, 0);                                        // compression method: stored
  PutU16(out, kDosTime);
  PutU16(out, kDosDate);
  PutU32(out, crc);
  PutU32(out, zip64 ? kMax32 : size);  // compressed size
  PutU32(out, zip64 ? kMax32 : size);  // uncompressed size
  PutU16(out, static_cast<uint16_t>(m.name.size()));
  PutU16(out, zip64 ? 20 : 0);  // extra field length
  out->append(m.name);
  if (zip64) {
    // 4.5.3: in a local header the field holds both sizes, uncompressed first.
    PutU16(out, kZip64ExtraId);
    PutU16(out, 16);
    PutU64(out, size);
    PutU64(out, size);
  }
  out->append(m.prefix);
  out->append(m.data.data(), m.data.size());
}

void AppendCentral(const Member& m, uint32_t crc, uint64_t offset, bool force_zip64,
                   std::string* out) {
  const uint64_t size = m.size();
  const bool size64 = force_zip64 || size >= kMax32;
  const bool offset64 = force_zip64 || offset >= kMax32;
  // 4.5.3: the central field holds, in this order, only the values whose 32-bit field is -1.
  std::string extra;
  if (size64 || offset64) {
    PutU16(&extra, kZip64ExtraId);
    PutU16(&extra, static_cast<uint16_t>((size64 ? 16 : 0) + (offset64 ? 8 : 0)));
    if (size64) PutU64(&extra, size), PutU64(&extra, size);
    if (offset64) PutU64(&extra, offset);
  }
  const uint16_t version = size64 || offset64 ? kVersionZip64 : kVersionDefault;
  PutU32(out, kCentralHeaderSig);
  PutU16(out, static_cast<uint16_t>(kHostUnix << 8 | version));  // version made by
  PutU16(out, version);                                            // version needed to extract
  PutU16(out, 0);
  PutU16(out, 0);
  PutU16(out, kDosTime);
  PutU16(out, kDosDate);
  PutU32(out, crc);
  PutU32(out, size64 ? kMax32 : size);
  PutU32(out, size64 ? kMax32 : size);
  PutU16(out, static_cast<uint16_t>(m.name.size()));
  PutU16(out, static_cast<uint16_t>(extra.size()));
  PutU16(out, 0);  // file comment length
  PutU16(out, 0);  // disk number start
  PutU16(out, 0);  // internal file attributes
  PutU32(out, kExternalAttributes);
  PutU32(out, offset64 ? kMax32 : offset);  // relative offset of local header
  out->append(m.name);
  out->append(extra);
}

std::string ShapeLiteral(const std::vector<int64_t>& shape) {
  // A Python tuple literal: (), (5,), (2, 3).
  return absl::StrCat("(", absl::StrJoin(shape, ", "), shape.size() == 1 ? ",)" : ")");
}

// The value after `'key':` in a header dict literal, up to the next top-level ',' or '}'.
absl::StatusOr<absl::string_view> HeaderValue(absl::string_view header, absl::string_view key) {
  const std::string needle = absl::StrCat("'", key, "':");
  const size_t at = header.find(needle);
  if (at == absl::string_view::npos) {
    return absl::DataLossError(absl::StrCat("npy header has no '", key, "': ", header));
  }
  size_t begin = at + needle.size(), end = begin;
  int depth = 0;
  bool quoted = false;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '\'') quoted = !quoted;
    if (quoted) continue;
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  return absl::StripAsciiWhitespace(header.substr(begin, end - begin));
}

}  // namespace

uint32_t ZipCrc32(absl::string_view bytes) { return ZipCrc32Update(0, bytes); }

uint32_t ZipCrc32Update(uint32_t crc_so_far, absl::string_view bytes) {
  uLong crc = crc_so_far;
  size_t off = 0;
  while (off < bytes.size()) {
    const uInt n = static_cast<uInt>(std::min<size_t>(bytes.size() - off, size_t{1} << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + off), n);
    off += n;
  }
  return static_cast<uint32_t>(crc);
}

absl::StatusOr<int64_t> NpyItemSize(absl::string_view descr) {
  static const std::map<std::string, int64_t, std::less<>> kSizes = {
      {"<f4", 4}, {"<f8", 8}, {"<i4", 4}, {"<i8", 8}, {"|u1", 1},
      {"|i1", 1}, {"|b1", 1}, {"<c8", 8}};
  auto it = kSizes.find(descr);
  if (it != kSizes.end()) return it->second;
  std::vector<std::string> known;
  for (const auto& [d, n] : kSizes) known.push_back(d);
  return absl::InvalidArgumentError(absl::StrCat("npy: unsupported dtype descr '", descr,
                                                 "'; supported: ", absl::StrJoin(known, " ")));
}

namespace {

// EncodeNpy without the elements: magic, version, HEADER_LEN and the padded header.
absl::StatusOr<std::string> EncodeNpyHeader(const NpyArray& array) {
  LRA_ASSIGN_OR_RETURN(const int64_t itemsize, NpyItemSize(array.descr));
  int64_t numel = 1;
  for (int64_t d : array.shape) {
    if (d < 0 || (d > 0 && numel > std::numeric_limits<int64_t>::max() / itemsize / d)) {
      return absl::InvalidArgumentError(absl::StrCat("npy '", array.name, "': shape ",
                                                     ShapeLiteral(array.shape), " is invalid"));
    }
    numel *= d;
  }
  if (static_cast<uint64_t>(numel * itemsize) != array.data.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "npy '", array.name, "': shape ", ShapeLiteral(array.shape), " of ", array.descr,
        " needs ", numel * itemsize, " bytes, got ", array.data.size()));
  }
  std::string header = absl::StrCat("{'descr': '", array.descr,
                                    "', 'fortran_order': False, 'shape': ",
                                    ShapeLiteral(array.shape), ", }");
  // Spaces then '\n', so that magic (6) + version (2) + HEADER_LEN (2) + header is a multiple
  // of 64 (the fewest spaces that do it).
  const size_t unpadded = kNpyMagicLen + 2 + 2 + header.size() + 1;
  header.append((kNpyAlign - unpadded % kNpyAlign) % kNpyAlign, ' ');
  header.push_back('\n');
  if (header.size() > kMax16) {
    return absl::InvalidArgumentError(absl::StrCat("npy '", array.name, "': header of ",
                                                   header.size(), " bytes exceeds format 1.0"));
  }
  std::string out(kNpyMagic, kNpyMagicLen);
  out.push_back('\x01');  // major version
  out.push_back('\x00');  // minor version
  PutU16(&out, static_cast<uint16_t>(header.size()));
  out.append(header);
  return out;
}

}  // namespace

absl::StatusOr<std::string> EncodeNpy(const NpyArray& array) {
  LRA_ASSIGN_OR_RETURN(std::string out, EncodeNpyHeader(array));
  out.append(array.data.data(), array.data.size());
  return out;
}

absl::StatusOr<std::string> EncodeNpz(const std::vector<NpyArray>& arrays,
                                      const std::vector<ZipMember>& extra,
                                      const NpzOptions& options) {
  std::vector<Member> members;
  std::set<std::string> names;
  auto add = [&](Member m) -> absl::Status {
    LRA_RETURN_IF_ERROR(CheckMemberName(m.name));
    if (!names.insert(m.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("npz: member '", m.name, "' appears twice"));
    }
    members.push_back(std::move(m));
    return absl::OkStatus();
  };
  for (const NpyArray& a : arrays) {
    LRA_RETURN_IF_ERROR(CheckMemberName(a.name));
    LRA_ASSIGN_OR_RETURN(std::string header, EncodeNpyHeader(a));
    LRA_RETURN_IF_ERROR(add({absl::StrCat(a.name, ".npy"), std::move(header), a.data}));
  }
  for (const ZipMember& m : extra) LRA_RETURN_IF_ERROR(add({m.name, "", m.contents}));

  // Fixed records, names twice, the largest extra fields (20 local + 28 central), the data.
  size_t total = kEndSize + kZip64EndSize + kZip64LocatorSize;
  for (const Member& m : members) {
    total += kLocalHeaderSize + kCentralHeaderSize + 2 * m.name.size() + 48 + m.size();
  }
  std::string out;
  out.reserve(total);
  std::vector<uint32_t> crcs;
  std::vector<uint64_t> offsets;
  for (const Member& m : members) {
    crcs.push_back(MemberCrc32(m));
    offsets.push_back(out.size());
    AppendLocal(m, crcs.back(), options.force_zip64 || m.size() >= kMax32, &out);
  }
  const uint64_t cd_offset = out.size();
  for (size_t i = 0; i < members.size(); ++i) {
    AppendCentral(members[i], crcs[i], offsets[i], options.force_zip64, &out);
  }
  const uint64_t cd_size = out.size() - cd_offset, n = members.size();
  const bool zip64 = options.force_zip64 || n >= kMax16 || cd_size >= kMax32 || cd_offset >= kMax32;
  if (zip64) {
    const uint64_t end64_offset = out.size();
    PutU32(&out, kZip64EndSig);
    PutU64(&out, kZip64EndSize - 12);  // size of the rest of the record
    PutU16(&out, static_cast<uint16_t>(kHostUnix << 8 | kVersionZip64));
    PutU16(&out, kVersionZip64);
    PutU32(&out, 0);  // number of this disk
    PutU32(&out, 0);  // disk with the central directory
    PutU64(&out, n);  // entries on this disk
    PutU64(&out, n);  // entries in total
    PutU64(&out, cd_size);
    PutU64(&out, cd_offset);
    PutU32(&out, kZip64LocatorSig);
    PutU32(&out, 0);  // disk with the ZIP64 end record
    PutU64(&out, end64_offset);
    PutU32(&out, 1);  // total number of disks
  }
  // 4.4.1.4: a value that does not fit (or every value, when forced) is -1, read from ZIP64.
  const bool f = options.force_zip64;
  PutU32(&out, kEndSig);
  PutU16(&out, 0);  // number of this disk
  PutU16(&out, 0);  // disk with the central directory
  PutU16(&out, static_cast<uint16_t>(f || n >= kMax16 ? kMax16 : n));
  PutU16(&out, static_cast<uint16_t>(f || n >= kMax16 ? kMax16 : n));
  PutU32(&out, static_cast<uint32_t>(f || cd_size >= kMax32 ? kMax32 : cd_size));
  PutU32(&out, static_cast<uint32_t>(f || cd_offset >= kMax32 ? kMax32 : cd_offset));
  PutU16(&out, 0);  // comment length
  return out;
}

absl::Status WriteNpz(const std::string& path, const std::vector<NpyArray>& arrays,
                      const std::vector<ZipMember>& extra, const NpzOptions& options) {
  absl::StatusOr<std::string> bytes = EncodeNpz(arrays, extra, options);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat(path, ": ", bytes.status().message()));
  }
  return WriteFileAtomically(path, *bytes);
}

absl::StatusOr<ParsedNpy> DecodeNpy(absl::string_view bytes) {
  if (bytes.size() < 10 || bytes.substr(0, kNpyMagicLen) != absl::string_view(kNpyMagic, 6)) {
    return absl::DataLossError("npy: no \\x93NUMPY magic");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major != 1 && major != 2) {
    return absl::DataLossError(absl::StrCat("npy: format version ", major, " is not 1 or 2"));
  }
  const size_t len_bytes = major == 1 ? 2 : 4, start = 8 + len_bytes;
  if (bytes.size() < start) return absl::DataLossError("npy: truncated header length");
  const uint64_t header_len = GetLe(bytes, 8, static_cast<int>(len_bytes));
  if (bytes.size() < start + header_len) return absl::DataLossError("npy: truncated header");
  const absl::string_view header = bytes.substr(start, header_len);
  if ((start + header_len) % kNpyAlign != 0 || header.empty() || header.back() != '\n') {
    return absl::DataLossError("npy: header is not '\\n'-terminated and 64-byte aligned");
  }
  ParsedNpy out;
  LRA_ASSIGN_OR_RETURN(absl::string_view descr, HeaderValue(header, "descr"));
  if (descr.size() < 2 || descr.front() != '\'' || descr.back() != '\'') {
    return absl::DataLossError(absl::StrCat("npy: descr ", descr, " is not a string"));
  }
  out.descr = std::string(descr.substr(1, descr.size() - 2));
  LRA_ASSIGN_OR_RETURN(absl::string_view fortran, HeaderValue(header, "fortran_order"));
  if (fortran != "False" && fortran != "True") {
    return absl::DataLossError(absl::StrCat("npy: fortran_order ", fortran));
  }
  out.fortran_order = fortran == "True";
  LRA_ASSIGN_OR_RETURN(absl::string_view shape, HeaderValue(header, "shape"));
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') {
    return absl::DataLossError(absl::StrCat("npy: shape ", shape, " is not a tuple"));
  }
  int64_t numel = 1;
  for (absl::string_view d : absl::StrSplit(shape.substr(1, shape.size() - 2), ',')) {
    d = absl::StripAsciiWhitespace(d);
    if (d.empty()) continue;  // "(5,)"
    int64_t v = 0;
    if (!absl::SimpleAtoi(d, &v) || v < 0) {
      return absl::DataLossError(absl::StrCat("npy: shape ", shape, " has a bad dimension"));
    }
    out.shape.push_back(v);
    numel *= v;
  }
  absl::StatusOr<int64_t> itemsize = NpyItemSize(out.descr);
  if (!itemsize.ok()) return absl::DataLossError(itemsize.status().message());
  const absl::string_view data = bytes.substr(start + header_len);
  if (data.size() != static_cast<uint64_t>(numel * *itemsize)) {
    return absl::DataLossError(absl::StrCat("npy: shape ", shape, " of ", out.descr, " needs ",
                                            numel * *itemsize, " bytes, file has ", data.size()));
  }
  out.data = std::string(data);
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ReadZipMembers(absl::string_view z) {
  auto corrupt = [](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("zip: ", what));
  };
  if (z.size() < kEndSize) return corrupt("shorter than an end of central directory record");
  // The end record is the last one whose signature fits before a comment of at most 64 KiB.
  size_t end = absl::string_view::npos;
  for (size_t at = z.size() - kEndSize;; --at) {
    if (GetLe(z, at, 4) == kEndSig) {
      end = at;
      break;
    }
    if (at == 0 || z.size() - at > kEndSize + kMax16) break;
  }
  if (end == absl::string_view::npos) return corrupt("no end of central directory record");
  uint64_t n = GetLe(z, end + 10, 2), cd_size = GetLe(z, end + 12, 4),
           cd_offset = GetLe(z, end + 16, 4);
  if (end >= kZip64LocatorSize && GetLe(z, end - kZip64LocatorSize, 4) == kZip64LocatorSig) {
    const uint64_t end64 = GetLe(z, end - kZip64LocatorSize + 8, 8);
    if (end64 + kZip64EndSize > z.size() || GetLe(z, end64, 4) != kZip64EndSig) {
      return corrupt("ZIP64 locator points at no ZIP64 end record");
    }
    n = GetLe(z, end64 + 32, 8);
    cd_size = GetLe(z, end64 + 40, 8);
    cd_offset = GetLe(z, end64 + 48, 8);
  }
  if (cd_offset + cd_size > end) return corrupt("central directory runs past its end record");
  std::map<std::string, std::string> out;
  size_t at = cd_offset;
  for (uint64_t i = 0; i < n; ++i) {
    if (at + kCentralHeaderSize > cd_offset + cd_size || GetLe(z, at, 4) != kCentralHeaderSig) {
      return corrupt(absl::StrCat("central directory entry ", i, " is missing"));
    }
    const uint64_t flags = GetLe(z, at + 8, 2), method = GetLe(z, at + 10, 2);
    const uint32_t crc = static_cast<uint32_t>(GetLe(z, at + 16, 4));
    uint64_t csize = GetLe(z, at + 20, 4), usize = GetLe(z, at + 24, 4);
    const size_t name_len = GetLe(z, at + 28, 2), extra_len = GetLe(z, at + 30, 2),
                 comment_len = GetLe(z, at + 32, 2);
    uint64_t offset = GetLe(z, at + 42, 4);
    if (at + kCentralHeaderSize + name_len + extra_len + comment_len > cd_offset + cd_size) {
      return corrupt(absl::StrCat("central directory entry ", i, " is truncated"));
    }
    const std::string name(z.substr(at + kCentralHeaderSize, name_len));
    absl::string_view extra = z.substr(at + kCentralHeaderSize + name_len, extra_len);
    while (extra.size() >= 4) {
      const uint64_t id = GetLe(extra, 0, 2), len = GetLe(extra, 2, 2);
      if (4 + len > extra.size()) return corrupt(absl::StrCat(name, ": bad extra field"));
      if (id == kZip64ExtraId) {
        size_t p = 4;
        for (uint64_t* v : {&usize, &csize, &offset}) {
          if (*v != kMax32) continue;
          if (p + 8 > 4 + len) return corrupt(absl::StrCat(name, ": short ZIP64 extra field"));
          *v = GetLe(extra, p, 8);
          p += 8;
        }
      }
      extra.remove_prefix(4 + len);
    }
    if (method != 0 || (flags & 1)) {
      return absl::UnimplementedError(absl::StrCat(
          "zip: member '", name, "' is compressed or encrypted (method ", method,
          "); only stored members are read"));
    }
    if (csize != usize) return corrupt(absl::StrCat(name, ": stored sizes differ"));
    if (offset + kLocalHeaderSize > z.size() || GetLe(z, offset, 4) != kLocalHeaderSig) {
      return corrupt(absl::StrCat(name, ": no local header at offset ", offset));
    }
    const size_t local_name = GetLe(z, offset + 26, 2), local_extra = GetLe(z, offset + 28, 2);
    const uint64_t data_at = offset + kLocalHeaderSize + local_name + local_extra;
    if (z.substr(offset + kLocalHeaderSize, local_name) != name ||
        GetLe(z, offset + 14, 4) != crc) {
      return corrupt(absl::StrCat(name, ": local header disagrees with the central directory"));
    }
    if (data_at + csize > cd_offset) return corrupt(absl::StrCat(name, ": data runs past the end"));
    const absl::string_view data = z.substr(data_at, csize);
    if (ZipCrc32(data) != crc) return corrupt(absl::StrCat(name, ": CRC-32 mismatch"));
    if (!out.emplace(name, std::string(data)).second) {
      return corrupt(absl::StrCat("member '", name, "' appears twice"));
    }
    at += kCentralHeaderSize + name_len + extra_len + comment_len;
  }
  return out;
}

}  // namespace lra

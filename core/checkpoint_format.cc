#include "core/checkpoint_format.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/base/crc32c.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace lra {
namespace {

constexpr char kMagic[8] = {'L', 'R', 'A', 'C', 'K', 'P', 'T', '1'};
constexpr int64_t kMaxStep = int64_t{1} << 53;
constexpr int kMaxRank = 8;
constexpr int64_t kMaxDim = int64_t{1} << 40;

absl::Status OutOfRange(const std::string& path, absl::string_view field, absl::string_view value,
                        absl::string_view range) {
  return absl::DataLossError(absl::StrCat(
      path, ": checkpoint field ", field, " = ", value, " is outside ", range,
      "; the file is damaged or was not written by lra: use an older checkpoint"));
}

absl::Status CheckTensors(const google::protobuf::RepeatedPtrField<core::TensorProto>& tensors,
                          absl::string_view section, const std::string& path) {
  std::set<std::string> names;
  for (int i = 0; i < tensors.size(); ++i) {
    const core::TensorProto& t = tensors[i];
    const std::string field = absl::StrCat(section, "[", i, "] '", t.name(), "'");
    if (t.name().empty()) return OutOfRange(path, absl::StrCat(section, "[", i, "].name"), "\"\"", "non-empty names");
    if (!names.insert(t.name()).second) {
      return absl::DataLossError(absl::StrCat(path, ": checkpoint ", section, " name '", t.name(),
                                              "' appears twice; the file is damaged"));
    }
    if (t.dtype() != 0 && t.dtype() != 1) {
      return OutOfRange(path, absl::StrCat(field, " dtype"), absl::StrCat(t.dtype()),
                        "{0 (float32), 1 (complex64)}");
    }
    if (t.shape_size() > kMaxRank) {
      return OutOfRange(path, absl::StrCat(field, " rank"), absl::StrCat(t.shape_size()),
                        absl::StrCat("[0, ", kMaxRank, "]"));
    }
    // Every dimension <= 2^40 and rank <= 8 could still overflow the product; stop as soon as
    // it passes the data's actual element count.
    const uint64_t element_bytes = t.dtype() == 1 ? 8 : 4;
    const uint64_t have = t.data().size() / element_bytes;
    bool empty = false;
    for (int d = 0; d < t.shape_size(); ++d) {
      if (t.shape(d) < 0 || t.shape(d) > kMaxDim) {
        return OutOfRange(path, absl::StrCat(field, " shape[", d, "]"), absl::StrCat(t.shape(d)),
                          "[0, 2^40]");
      }
      empty |= t.shape(d) == 0;
    }
    uint64_t elements = empty ? 0 : 1;
    for (int d = 0; d < t.shape_size() && elements != 0; ++d) {
      const uint64_t dim = static_cast<uint64_t>(t.shape(d));
      if (elements > have / dim) {  // the product already exceeds the data; no overflow
        elements = have + 1;
        break;
      }
      elements *= dim;
    }
    if (t.data().size() % element_bytes != 0 || elements != have) {
      return absl::DataLossError(absl::StrCat(
          path, ": checkpoint ", field, " holds ", t.data().size(), " data bytes, not ",
          element_bytes, " per element of its shape; the file is damaged"));
    }
    const size_t floats = t.data().size() / 4;
    for (size_t k = 0; k < floats; ++k) {
      float x;
      std::memcpy(&x, t.data().data() + 4 * k, 4);
      if (!std::isfinite(x)) {
        return absl::DataLossError(absl::StrCat(
            path, ": checkpoint ", field, " holds a non-finite value (", x, ") at float ", k,
            "; a diverged run's state is not a usable checkpoint: use an older one"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCheckpointFields(const core::CheckpointProto& proto, const std::string& path) {
  if (proto.step() < 0 || proto.step() > kMaxStep) {
    return OutOfRange(path, "step", absl::StrCat(proto.step()), "[0, 2^53]");
  }
  if (proto.optimizer_step() < 0 || proto.optimizer_step() > kMaxStep) {
    return OutOfRange(path, "optimizer_step", absl::StrCat(proto.optimizer_step()), "[0, 2^53]");
  }
  if (absl::Status s = CheckTensors(proto.params(), "parameter", path); !s.ok()) return s;
  if (absl::Status s = CheckTensors(proto.optimizer(), "optimizer state", path); !s.ok()) return s;
  if (absl::Status s = CheckTensors(proto.buffers(), "buffer", path); !s.ok()) return s;
  std::set<std::string> rngs;
  for (int i = 0; i < proto.rngs_size(); ++i) {
    const std::string& name = proto.rngs(i).name();
    if (name.empty()) return OutOfRange(path, absl::StrCat("rngs[", i, "].name"), "\"\"", "non-empty names");
    if (!rngs.insert(name).second) {
      return absl::DataLossError(
          absl::StrCat(path, ": checkpoint rng '", name, "' appears twice; the file is damaged"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FrameCheckpoint(const core::CheckpointProto& proto,
                                            const std::string& path) {
  // Deterministic serialization writes the metadata map sorted by key; the default order
  // follows the map's hash layout, so equal states could give different bytes.
  std::string payload;
  {
    google::protobuf::io::StringOutputStream stream(&payload);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!proto.SerializeToCodedStream(&coded))
      return absl::InternalError(
          absl::StrCat(path, ": checkpoint does not serialize (over 2 GiB?)"));
  }
  std::string bytes(kMagic, sizeof(kMagic));
  const uint64_t len = payload.size();
  bytes.append(reinterpret_cast<const char*>(&len), 8);
  bytes += payload;
  const uint32_t crc = Crc32c(payload.data(), payload.size());
  bytes.append(reinterpret_cast<const char*>(&crc), 4);
  return bytes;
}

absl::StatusOr<core::CheckpointProto> ParseCheckpoint(absl::string_view bytes,
                                                      const std::string& path) {
  if (bytes.size() < 20 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    return absl::DataLossError(absl::StrCat(path, ": not an lra checkpoint (bad magic at offset 0)"));
  uint64_t len;
  std::memcpy(&len, bytes.data() + 8, 8);
  // Compared without computing 16 + len + 4, which a hostile length would overflow.
  if (len != bytes.size() - 20)
    return absl::DataLossError(absl::StrCat(path, ": truncated or padded: header says ", len,
                                            " payload bytes, file has ", bytes.size(),
                                            " bytes in total (expected 20 + the payload)"));
  if (len > static_cast<uint64_t>(INT32_MAX))
    return absl::DataLossError(absl::StrCat(path, ": payload of ", len,
                                            " bytes is over the 2 GiB a checkpoint can hold"));
  const absl::string_view payload = bytes.substr(16, len);
  uint32_t crc;
  std::memcpy(&crc, bytes.data() + 16 + len, 4);
  if (crc != Crc32c(payload.data(), payload.size()))
    return absl::DataLossError(absl::StrCat(path, ": CRC32C mismatch over bytes [16, ", 16 + len,
                                            "); the file is corrupt, use an older checkpoint"));
  core::CheckpointProto proto;
  if (!proto.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    return absl::DataLossError(absl::StrCat(path, ": payload does not parse as CheckpointProto"));
  if (absl::Status s = CheckCheckpointFields(proto, path); !s.ok()) return s;
  return proto;
}

}  // namespace lra

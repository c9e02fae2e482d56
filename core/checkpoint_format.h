// The checkpoint file format, apart from tensors: framing, CRC and the checks on every field a
// file holds. core/checkpoint.cc reads and writes through these; the checkpoint fuzzer
// (core/checkpoint_fuzzer.cc) feeds them arbitrary bytes.
//
// File: the 8 bytes "LRACKPT1", a little-endian uint64 payload length, the serialized
// lra.core.CheckpointProto (core/checkpoint.proto), then a little-endian uint32 CRC32C of the
// payload.
#ifndef LRA_CORE_CHECKPOINT_FORMAT_H_
#define LRA_CORE_CHECKPOINT_FORMAT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/checkpoint.pb.h"

namespace lra {

// The framed file bytes of `proto` (deterministic serialization: equal protos give equal bytes).
// `path` only names the file in errors.
absl::StatusOr<std::string> FrameCheckpoint(const core::CheckpointProto& proto,
                                            const std::string& path);

// Parses the bytes of a checkpoint file and checks everything that does not need the model:
// magic, length, CRC32C, the proto, then every field (CheckCheckpointFields). Errors are
// DataLossError naming `path`, the field and, for a value out of range, the value and the range.
absl::StatusOr<core::CheckpointProto> ParseCheckpoint(absl::string_view bytes,
                                                      const std::string& path);

// The field checks of ParseCheckpoint, for a proto from anywhere (SaveCheckpoint runs them
// before writing, so a file that fails them is never written):
//   step and optimizer_step in [0, 2^53] (exact in a double; a run is far shorter);
//   every tensor: a non-empty name used once per section, dtype 0 (float32) or 1 (complex64),
//     rank <= 8, every dimension in [0, 2^40], data exactly elements x element size bytes,
//     every value finite (a NaN or Inf parameter, moment or buffer is a diverged run);
//   every rng: a non-empty name used once.
absl::Status CheckCheckpointFields(const core::CheckpointProto& proto, const std::string& path);

}  // namespace lra

#endif  // LRA_CORE_CHECKPOINT_FORMAT_H_

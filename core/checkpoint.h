// Checkpoints: parameters, optimizer moments, buffers, RNG states and the step, in one file.
//
//   TrainingState s{.params = model.Parameters(), .optimizer = &opt,
//                   .buffers = {{"bn0.mean", bn.running_mean}}, .rngs = {{"dropout", &drop}},
//                   .step = step};
//   LRA_RETURN_IF_ERROR(SaveCheckpoint("/runs/x/ckpt", s));
//   ...
//   LRA_RETURN_IF_ERROR(LoadCheckpoint("/runs/x/ckpt", &s));   // restores all of it in place
//
// File format: the 8 bytes "LRACKPT1", a little-endian uint64 payload length, the serialized
// lra.core.CheckpointProto (core/checkpoint.proto), then a little-endian uint32 CRC32C of the
// payload (core/checkpoint_format.h). Writes go to "<path>.tmp.<pid>" which is fsynced and renamed over
// `path`, so a crash leaves either the old or the new checkpoint, never a torn one.
//
// Both directions check every field (CheckCheckpointFields): steps in range, tensor shapes
// consistent with their data, every value finite. SaveCheckpoint refuses a state with a NaN or
// Inf parameter, moment or buffer (FailedPreconditionError; the previous file stays), and
// LoadCheckpoint refuses such a file (DataLossError naming the field and the value). Loading
// matches tensors by name and checks shapes and dtypes; on any mismatch nothing is modified and
// the error lists every missing, unexpected and mis-shaped name.
#ifndef LRA_CORE_CHECKPOINT_H_
#define LRA_CORE_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/optim/adam.h"
#include "core/random.h"
#include "core/tape.h"

namespace lra {

struct TrainingState {
  std::vector<Var> params;  // named by Var::name(); names must be unique and non-empty
  Adam* optimizer = nullptr;  // optional
  std::vector<std::pair<std::string, Tensor>> buffers;  // restored in place (shared storage)
  std::vector<std::pair<std::string, Rng*>> rngs;
  int64_t step = 0;
  // The caller's own key/value state; saved as is and replaced on load.
  std::map<std::string, std::string> metadata;
};

absl::Status SaveCheckpoint(const std::string& path, const TrainingState& state);
absl::Status LoadCheckpoint(const std::string& path, TrainingState* state);

}  // namespace lra

#endif  // LRA_CORE_CHECKPOINT_H_

// libFuzzer target for the checkpoint reader (core/checkpoint_format.h): any byte string must
// either parse into a checkpoint whose every field is in range (and which frames back into bytes
// that parse to the same checkpoint), or fail with a DataLossError naming the file. Anything
// else (a crash, an out-of-bounds read, a huge allocation, an accepted NaN or a shape that does
// not match its data) traps.
//
// The first input byte picks what the rest is: even, the file's bytes as they are; odd, a
// payload that the target frames with a correct header and CRC32C first, so mutations reach the
// proto parser and the field checks instead of stopping at the CRC.
//
// Built and run by checkpoint_fuzzer_test.sh (the :checkpoint_fuzzer test) with clang
// -fsanitize=fuzzer,address,undefined. With LRA_FUZZ_WRITE_SEEDS=<dir> set, it writes a seed
// corpus of valid and damaged checkpoints to <dir> and exits.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "core/checkpoint.pb.h"
#include "core/checkpoint_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "isa-l/crc.h"

namespace {

constexpr char kPath[] = "fuzz.ckpt";

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "checkpoint_fuzzer: property violated: %s\n", what);
    __builtin_trap();
  }
}

// Frames `payload` as a file with a correct length and CRC32C (the layout in
// core/checkpoint_format.h; ISA-L's crc32_iscsi needs the inversions done by the caller).
std::string Frame(const std::string& payload) {
  std::string file = "LRACKPT1";
  const uint64_t len = payload.size();
  file.append(reinterpret_cast<const char*>(&len), 8);
  file += payload;
  const uint32_t crc = ~crc32_iscsi(
      reinterpret_cast<unsigned char*>(const_cast<char*>(payload.data())),
      static_cast<int>(payload.size()), 0xFFFFFFFFu);
  file.append(reinterpret_cast<const char*>(&crc), 4);
  return file;
}

void WriteSeeds(const std::string& dir) {
  auto seed = [&dir](const char* name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  };
  lra::core::CheckpointProto p;
  p.set_step(13);
  p.set_optimizer_step(13);
  auto add = [](google::protobuf::RepeatedPtrField<lra::core::TensorProto>* to,
                const std::string& name, std::initializer_list<int64_t> shape, int dtype) {
    lra::core::TensorProto* t = to->Add();
    t->set_name(name);
    int64_t n = 1;
    for (int64_t d : shape) t->add_shape(d), n *= d;
    std::string data(static_cast<size_t>(n) * (dtype == 1 ? 8 : 4), '\0');
    for (size_t i = 0; i + 4 <= data.size(); i += 4) {
      const float x = 0.25f * static_cast<float>(i);
      std::memcpy(&data[i], &x, 4);
    }
    t->set_dtype(dtype);
    t->set_data(data);
  };
  add(p.mutable_params(), "w", {3, 4}, 0);
  add(p.mutable_params(), "lambda", {2, 2}, 1);
  add(p.mutable_optimizer(), "w/m", {3, 4}, 0);
  add(p.mutable_optimizer(), "w/v", {3, 4}, 0);
  add(p.mutable_buffers(), "bn.mean", {4}, 0);
  lra::core::RngStateProto* r = p.add_rngs();
  r->set_name("dropout");
  r->set_seed(7);
  r->set_stream(2);
  r->set_counter(99);
  (*p.mutable_metadata())["epoch"] = "0";
  (*p.mutable_metadata())["best_val"] = "0.52500000000000002";
  const std::string file = *lra::FrameCheckpoint(p, kPath);
  seed("valid", std::string(1, '\0') + file);
  seed("payload", std::string(1, '\1') + file.substr(16, file.size() - 20));
  seed("truncated", std::string(1, '\0') + file.substr(0, file.size() - 9));
  std::string flipped = file;
  flipped[40] ^= 4;
  seed("flipped", std::string(1, '\0') + flipped);
  seed("empty", std::string(1, '\1'));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seeds = getenv("LRA_FUZZ_WRITE_SEEDS")) {
    WriteSeeds(seeds);
    exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string file = (data[0] & 1) ? Frame(rest) : rest;
  absl::StatusOr<lra::core::CheckpointProto> parsed = lra::ParseCheckpoint(file, kPath);
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kDataLoss, "error is not DataLoss");
    Check(absl::StrContains(parsed.status().message(), kPath), "error does not name the file");
    return 0;
  }
  const lra::core::CheckpointProto& p = *parsed;
  Check(p.step() >= 0 && p.optimizer_step() >= 0, "negative step accepted");
  for (const auto* section : {&p.params(), &p.optimizer(), &p.buffers()}) {
    for (const lra::core::TensorProto& t : *section) {
      Check(!t.name().empty(), "unnamed tensor accepted");
      Check(t.dtype() == 0 || t.dtype() == 1, "unknown dtype accepted");
      long double elements = 1;
      for (int64_t d : t.shape()) {
        Check(d >= 0, "negative dimension accepted");
        elements *= d;
      }
      Check(elements * (t.dtype() == 1 ? 8 : 4) == t.data().size(), "shape does not match data");
      for (size_t i = 0; i + 4 <= t.data().size(); i += 4) {
        float x;
        std::memcpy(&x, t.data().data() + i, 4);
        Check(std::isfinite(x), "non-finite value accepted");
      }
    }
  }
  // What was accepted frames back into a file that parses to the same checkpoint.
  absl::StatusOr<std::string> again = lra::FrameCheckpoint(p, kPath);
  Check(again.ok(), "an accepted checkpoint does not frame");
  absl::StatusOr<lra::core::CheckpointProto> reparsed = lra::ParseCheckpoint(*again, kPath);
  Check(reparsed.ok(), "a re-framed checkpoint does not parse");
  Check(google::protobuf::util::MessageDifferencer::Equals(p, *reparsed),
        "a re-framed checkpoint parses differently");
  return 0;
}

#include "core/checkpoint.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>
#include <fstream>
#include <iterator>
#include <string>

#include <limits>

#include "absl/strings/str_cat.h"
#include "core/checkpoint.pb.h"
#include "core/checkpoint_format.h"
#include "core/testing/checkpoint_edit.h"

#include "gtest/gtest.h"

namespace lra {
namespace {

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

TEST(CheckpointTest, RoundTripRestoresEverything) {
  Rng init(1);
  Var w = Parameter(RandomNormal({3, 4}, 1.0f, init), "w");
  Var z = Parameter(Tensor::FromVector({2}, {1.0f, 2.0f}), "z");
  Adam opt({{{w, z}, 0.1f, 0.0f}});
  AccumulateGrad(w, Tensor::Full({3, 4}, 0.5f));
  opt.Step();
  Tensor buf = Tensor::FromVector({2}, {7.0f, 8.0f});
  Rng drop(9, 2);
  drop.NextU64();
  TrainingState s{{w, z}, &opt, {{"bn.mean", buf}}, {{"dropout", &drop}}, 42};
  s.metadata = {{"epoch", "3"}, {"best_val", "0.52500000000000002"}};
  const std::string path = TmpPath("ckpt_roundtrip");
  ASSERT_TRUE(SaveCheckpoint(path, s).ok());

  // A fresh model with different values loads the saved ones.
  Var w2 = Parameter(Tensor::Zeros({3, 4}), "w");
  Var z2 = Parameter(Tensor::Zeros({2}), "z");
  Adam opt2({{{w2, z2}, 0.1f, 0.0f}});
  Tensor buf2 = Tensor::Zeros({2});
  Rng drop2(0);
  TrainingState s2{{w2, z2}, &opt2, {{"bn.mean", buf2}}, {{"dropout", &drop2}}, 0};
  absl::Status st = LoadCheckpoint(path, &s2);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(s2.step, 42);
  EXPECT_EQ(s2.metadata, s.metadata);
  EXPECT_EQ(opt2.step(), 1);
  EXPECT_EQ(w2.value().ToVector(), w.value().ToVector());
  EXPECT_EQ(opt2.moments()[0].v.ToVector(), opt.moments()[0].v.ToVector());
  EXPECT_EQ(buf2.ToVector(), buf.ToVector());
  EXPECT_EQ(drop2.NextU64(), drop.NextU64());
  std::ifstream tmp(path + ".tmp." + std::to_string(::getpid()));  // AtomicFile's name
  EXPECT_FALSE(tmp.good()) << "temporary file left behind";
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Equal states give equal bytes: the metadata map is written in key order, not in the hash
// order of the protobuf map (which differed between two saves of one state in trainer_test).
TEST(CheckpointTest, EqualStatesGiveIdenticalBytes) {
  Var w = Parameter(Tensor::FromVector({2}, {1.0f, 2.0f}), "w");
  TrainingState s{{w}};
  for (int i = 0; i < 40; ++i) s.metadata[absl::StrCat("field_", i)] = absl::StrCat(i * 7);
  const std::string first = TmpPath("ckpt_bytes_a"), second = TmpPath("ckpt_bytes_b");
  ASSERT_TRUE(SaveCheckpoint(first, s).ok());
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(SaveCheckpoint(second, s).ok());
    ASSERT_EQ(ReadBytes(first), ReadBytes(second)) << "save " << round;
  }
}

TEST(CheckpointTest, MismatchNamesEveryProblemAndChangesNothing) {
  Var w = Parameter(Tensor::Zeros({3, 4}), "w");
  Var b = Parameter(Tensor::Zeros({4}), "b");
  const std::string path = TmpPath("ckpt_mismatch");
  ASSERT_TRUE(SaveCheckpoint(path, TrainingState{{w, b}}).ok());
  Var w2 = Parameter(Tensor::Full({4, 3}, 5.0f), "w");
  Var c = Parameter(Tensor::Zeros({1}), "c");
  TrainingState s{{w2, c}};
  absl::Status st = LoadCheckpoint(path, &s);
  ASSERT_FALSE(st.ok());
  const std::string msg(st.message());
  EXPECT_NE(msg.find("'w': file has [3, 4], model has [4, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'c' [1] is missing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'b' [4] is in the file but not in the model"), std::string::npos) << msg;
  EXPECT_EQ(w2.value().data<float>()[0], 5.0f);
}

TEST(CheckpointTest, CorruptionIsDetected) {
  Var w = Parameter(Tensor::Full({8}, 1.0f), "w");
  const std::string path = TmpPath("ckpt_corrupt");
  ASSERT_TRUE(SaveCheckpoint(path, TrainingState{{w}}).ok());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    f.put('\x7f');
  }
  TrainingState s{{w}};
  absl::Status st = LoadCheckpoint(path, &s);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(std::string(st.message()).find("CRC32C"), std::string::npos) << st;
  EXPECT_EQ(LoadCheckpoint(path + ".nope", &s).code(), absl::StatusCode::kNotFound);
}


// A valid-CRC file with a field out of range is refused, naming the field, the value and the
// range; the old reader accepted step=-1000 and resumed 1,020 steps.
TEST(CheckpointTest, FieldsOutOfRangeAreRefusedWithFieldValueAndRange) {
  Var w = Parameter(Tensor::Full({4}, 1.0f), "w");
  Adam opt({{{w}, 0.1f, 0.0f}});
  const std::string path = TmpPath("ckpt_range");
  struct Case {
    std::function<void(core::CheckpointProto*)> edit;
    std::string expected;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Case> cases = {
      {[](core::CheckpointProto* p) { p->set_step(-1000); }, "field step = -1000 is outside [0, 2^53]"},
      {[](core::CheckpointProto* p) { p->set_optimizer_step(-1); }, "optimizer_step = -1 is outside"},
      {[](core::CheckpointProto* p) { p->mutable_params(0)->set_dtype(7); }, "dtype = 7 is outside"},
      {[](core::CheckpointProto* p) { p->mutable_params(0)->set_shape(0, -4); }, "shape[0] = -4 is outside"},
      {[](core::CheckpointProto* p) { p->mutable_params(0)->set_shape(0, int64_t{1} << 40); },
       "holds 16 data bytes, not 4 per element"},
      {[nan](core::CheckpointProto* p) {
         std::string data = p->optimizer(1).data();
         std::memcpy(&data[8], &nan, 4);
         p->mutable_optimizer(1)->set_data(data);
       },
       "optimizer state[1] 'w/v' holds a non-finite value (nan) at float 2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    TrainingState s{{w}, &opt, {}, {}, 5};
    ASSERT_TRUE(SaveCheckpoint(path, s).ok());
    testing::EditCheckpoint(path, c.edit);
    absl::Status st = LoadCheckpoint(path, &s);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_NE(std::string(st.message()).find(c.expected), std::string::npos) << st;
    EXPECT_NE(std::string(st.message()).find(path), std::string::npos) << st;
  }
}

// A NaN or Inf parameter or moment is never written: the previous checkpoint stays.
TEST(CheckpointTest, NonFiniteStateIsNeverWritten) {
  Var w = Parameter(Tensor::Full({3}, 1.0f), "w");
  const std::string path = TmpPath("ckpt_nonfinite");
  ASSERT_TRUE(SaveCheckpoint(path, TrainingState{{w}}).ok());
  const std::string good = ReadBytes(path);
  w.mutable_value().data<float>()[1] = std::numeric_limits<float>::infinity();
  absl::Status st = SaveCheckpoint(path, TrainingState{{w}, nullptr, {}, {}, 1});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(std::string(st.message()).find("parameter[0] 'w' holds a non-finite value (inf)"),
            std::string::npos)
      << st;
  EXPECT_EQ(ReadBytes(path), good);
}

}  // namespace
}  // namespace lra

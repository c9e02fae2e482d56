#include "tasks/image/cifar.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "datasets/record_io.h"
#include "core/base/file_util.h"
#include "tasks/common/png_codec.h"
#include "tasks/common/tf_example.pb.h"
#include "tasks/common/test_util.h"
#include "tasks/image/grayscale.h"

namespace lra::tasks {
extern const char kImageSpec[];
namespace {

using ::lra::tasks::testing::MakeContext;
using ::lra::tasks::testing::PlanAndRun;
using ::lra::tasks::testing::TestDir;
using ::testing::HasSubstr;

// Channel c of pixel k of global image n.
uint8_t Channel(int n, int c, int k) { return static_cast<uint8_t>((n * 29 + c * 101 + k * 3) & 255); }

// cifar-10-batches-bin/ with `per_batch` records in each of the five training batches and
// `per_batch` test records; image n (global, train first) has label n % 10.
std::string WriteBinary(const std::string& name, int per_batch) {
  const std::string dir = JoinPath(TestDir(name), "cifar-10-batches-bin");
  EXPECT_TRUE(MakeDirs(dir).ok());
  int n = 0;
  for (int f = 1; f <= 6; ++f) {
    std::string bytes;
    for (int r = 0; r < per_batch; ++r, ++n) {
      bytes.push_back(static_cast<char>(n % 10));
      for (int c = 0; c < 3; ++c) {
        for (int k = 0; k < 1024; ++k) bytes.push_back(static_cast<char>(Channel(n, c, k)));
      }
    }
    const std::string file = f <= 5 ? absl::StrCat("data_batch_", f, ".bin") : "test_batch.bin";
    EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, file), bytes).ok());
  }
  return TestDir(name);
}

TEST(CifarTest, BinaryReleaseGivesGrayTokensAndTheNinetyTenSplit) {
  auto t = MakeContext(kImageSpec, WriteBinary("cifar", 4));
  auto plan = PlanImageWithBatchSize(t.context, 4);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->provenance.source_files_size(), 6);
  EXPECT_EQ(plan->vocab.size(), 256);
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  // 20 training records: round(18.0) = 18 train, 2 val; 4 test.
  ASSERT_EQ(sink.split("train").size(), 18u);
  ASSERT_EQ(sink.split("val").size(), 2u);
  ASSERT_EQ(sink.split("test").size(), 4u);
  EXPECT_EQ(sink.split("val")[0].id(), "data_batch_5.bin:2");
  const datasets::Example& e = sink.split("test")[3];
  EXPECT_EQ(e.id(), "test_batch.bin:3");
  EXPECT_EQ(e.label(), 23 % 10);
  ASSERT_EQ(e.tokens_size(), 1024);
  for (int k = 0; k < 1024; ++k) {
    ASSERT_EQ(e.tokens(k), TfRgbToGray(Channel(23, 0, k), Channel(23, 1, k), Channel(23, 2, k)));
  }
}

TEST(CifarTest, TruncatedFileAndBadLabelNameFileAndOffset) {
  const std::string root = WriteBinary("cifar_bad", 2);
  const std::string dir = JoinPath(root, "cifar-10-batches-bin");
  auto bytes = ReadFile(JoinPath(dir, "data_batch_3.bin"));
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "data_batch_3.bin"), bytes->substr(0, 5000)).ok());
  auto t = MakeContext(kImageSpec, dir);
  absl::Status s = PlanImageWithBatchSize(t.context, 2).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("data_batch_3.bin: 5000 bytes is not a whole number of 3073-byte "
                        "records; record 1 at byte offset 3073 is truncated"));

  std::string bad = *bytes;
  bad[3073] = 42;
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "data_batch_3.bin"), bad).ok());
  MemorySink sink;
  RunStats stats;
  auto plan = PlanImageWithBatchSize(t.context, 2);
  ASSERT_TRUE(plan.ok()) << plan.status();
  s = plan->run(&sink, &stats);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("data_batch_3.bin: record 1 at byte offset 3073: label byte 42"));

  auto none = PlanImage(MakeContext(kImageSpec, TestDir("no_cifar")).context);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
}

// A batch file cut exactly at a record boundary, or empty, is a whole number of records; before
// the fixed size was checked, those images were silently missing.
TEST(CifarTest, BatchFileCutAtARecordBoundaryOrEmptyFails) {
  const std::string dir = JoinPath(WriteBinary("cifar_short", 4), "cifar-10-batches-bin");
  auto t = MakeContext(kImageSpec, dir);
  const std::string batch2 = JoinPath(dir, "data_batch_2.bin");
  auto bytes = ReadFile(batch2);
  ASSERT_TRUE(WriteFileAtomically(batch2, bytes->substr(0, 2 * 3073)).ok());
  absl::Status s = PlanImageWithBatchSize(t.context, 4).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("data_batch_2.bin: 6146 bytes = 2 images, but every CIFAR-10 batch file "
                        "holds 4 (12292 bytes) (re-extract cifar-10-binary.tar.gz)"));

  ASSERT_TRUE(WriteFileAtomically(batch2, *bytes).ok());
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "test_batch.bin"), "").ok());
  s = PlanImageWithBatchSize(t.context, 4).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("test_batch.bin: 0 bytes = 0 images"));

  // The release's own size: 10,000 images, 30,730,000 bytes per file.
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "test_batch.bin"), *bytes).ok());
  s = PlanImage(t.context).status();
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("data_batch_1.bin: 12292 bytes = 4 images, but every CIFAR-10 batch file "
                        "holds 10000 (30730000 bytes)"));
}

// cifar10/3.0.2 with `n_train` PNG records in one shard and 2 test records; image n as in
// WriteBinary but interleaved RGB, label n % 10, id "train_<n>"; dataset_info.json records the
// counts.
std::string WriteTfds(const std::string& name, int n_train, int bad_side = 0) {
  const std::string dir = JoinPath(TestDir(name), "cifar10/3.0.2");
  EXPECT_TRUE(MakeDirs(dir).ok());
  for (const bool train : {true, false}) {
    std::string shard;
    const int count = train ? n_train : 2;
    for (int i = 0; i < count; ++i) {
      const int n = train ? i : 100 + i;
      Image8 image;
      image.width = image.height = (train && i == 1 && bad_side) ? bad_side : 32;
      image.channels = 3;
      for (int k = 0; k < image.width * image.height; ++k) {
        for (int c = 0; c < 3; ++c) image.pixels.push_back(Channel(n, c, k));
      }
      tf::Example example;
      auto& f = *example.mutable_features()->mutable_feature();
      f["image"].mutable_bytes_list()->add_value(*EncodePng(image));
      f["label"].mutable_int64_list()->add_value(n % 10);
      f["id"].mutable_bytes_list()->add_value(absl::StrCat(train ? "train_" : "test_", n));
      datasets::AppendRecord(example.SerializeAsString(), &shard);
    }
    const std::string file = train ? "cifar10-train.tfrecord-00000-of-00001"
                                   : "cifar10-test.tfrecord-00000-of-00001";
    EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, file), shard).ok());
  }
  // As TFDS 4 writes it (other fields omitted; unknown ones are ignored).
  EXPECT_TRUE(WriteFileAtomically(
                  JoinPath(dir, "dataset_info.json"),
                  absl::StrCat(R"({"name": "cifar10", "splits": [)",
                               R"({"name": "test", "numBytes": "1", "shardLengths": ["2"]}, )",
                               R"({"name": "train", "shardLengths": [")", n_train, R"("]}]})"))
                  .ok());
  return TestDir(name);
}

TEST(CifarTest, TfdsCacheDecodesPngAndSlicesTrainAtNinetyPercent) {
  auto t = MakeContext(kImageSpec, WriteTfds("cifar_tfds", 10));
  auto plan = PlanImage(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->provenance.options().at("source_format"), "tfds");
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  ASSERT_EQ(sink.split("train").size(), 9u);
  ASSERT_EQ(sink.split("val").size(), 1u);
  ASSERT_EQ(sink.split("test").size(), 2u);
  EXPECT_EQ(sink.split("val")[0].id(), "train_9");
  const datasets::Example& e = sink.split("test")[1];
  EXPECT_EQ(e.id(), "test_101");
  EXPECT_EQ(e.label(), 1);
  for (int k = 0; k < 1024; ++k) {
    ASSERT_EQ(e.tokens(k), TfRgbToGray(Channel(101, 0, k), Channel(101, 1, k), Channel(101, 2, k)));
  }
}

TEST(CifarTest, TfdsWrongImageSizeNamesTheRecord) {
  auto t = MakeContext(kImageSpec, WriteTfds("cifar_tfds_bad", 3, /*bad_side=*/28));
  absl::Status s = PlanAndRun(PlanImage(t.context));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cifar10-train.tfrecord-00000-of-00001 record 1"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("expected a 32x32 RGB PNG, got 28x28"));
}

// dataset_info.json's counts are checked: a shard cut exactly at a record boundary, an empty
// shard, a missing dataset_info.json and another shard count all fail with the file named.
TEST(CifarTest, TfdsShardsAreCheckedAgainstDatasetInfo) {
  const std::string root = WriteTfds("cifar_tfds_short", 4);
  const std::string dir = JoinPath(root, "cifar10/3.0.2");
  const std::string shard = JoinPath(dir, "cifar10-train.tfrecord-00000-of-00001");
  const std::string full = *ReadFile(shard);
  auto t = MakeContext(kImageSpec, root);
  auto run = [&] { return PlanAndRun(PlanImage(t.context)); };
  ASSERT_TRUE(run().ok());

  // Cut after record 2 (of 4): the framing is intact, two images are gone.
  size_t cut = 0;
  for (int r = 0; r < 2; ++r) {
    uint64_t length = 0;
    std::memcpy(&length, full.data() + cut, 8);
    cut += 8 + 4 + length + 4;
  }
  ASSERT_TRUE(WriteFileAtomically(shard, full.substr(0, cut)).ok());
  absl::Status s = run();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("cifar10-train.tfrecord-00000-of-00001: 2 records, but dataset_info.json "
                        "says this shard holds 4"));

  ASSERT_TRUE(WriteFileAtomically(shard, "").ok());
  EXPECT_THAT(std::string(run().message()), HasSubstr("00001: 0 records, but dataset_info.json"));

  ASSERT_TRUE(WriteFileAtomically(shard, full).ok());
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "cifar10-train.tfrecord-00001-of-00002"), full)
                  .ok());
  EXPECT_THAT(std::string(run().message()),
              HasSubstr("2 cifar10-train.tfrecord-* shards, but dataset_info.json lists 1"));
  ASSERT_TRUE(RemoveTree(JoinPath(dir, "cifar10-train.tfrecord-00001-of-00002")).ok());

  ASSERT_TRUE(RemoveTree(JoinPath(dir, "dataset_info.json")).ok());
  s = run();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("3.0.2/dataset_info.json is missing"));
}

// Older TFDS versions record only statistics.numExamples per split; the total is checked then.
TEST(CifarTest, TfdsTotalFromStatisticsIsChecked) {
  const std::string root = WriteTfds("cifar_tfds_stats", 3);
  const std::string dir = JoinPath(root, "cifar10/3.0.2");
  ASSERT_TRUE(WriteFileAtomically(
                  JoinPath(dir, "dataset_info.json"),
                  R"({"splits": [{"name": "train", "statistics": {"numExamples": "5"}},)"
                  R"( {"name": "test", "numShards": "1", "statistics": {"numExamples": 2}}]})")
                  .ok());
  absl::Status s = PlanAndRun(PlanImage(MakeContext(kImageSpec, root).context));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("split 'train' (" + JoinPath(dir, "cifar10-train.tfrecord-00000-of-00001") +
                        " ...): 3 records, but dataset_info.json says 5"));
}

}  // namespace
}  // namespace lra::tasks

#include "tasks/fashion_mnist/fashion_mnist.h"

#include <zlib.h>

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "core/base/file_util.h"
#include "tasks/common/test_util.h"

namespace lra::tasks {
extern const char kFashionMnistSpec[];
namespace {

using ::lra::tasks::testing::MakeContext;
using ::lra::tasks::testing::TestDir;
using ::testing::HasSubstr;

void Put32(std::string* s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>((v >> shift) & 255));
}

void WriteGz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), bytes.size()), static_cast<int>(bytes.size()));
  gzclose(f);
}

// Pixel (i, k) of the fixture; label i % 10.
uint8_t Pixel(int i, int k) { return static_cast<uint8_t>((i * 31 + k * 7) & 255); }

std::string WriteFixture(const std::string& name, int n_train, int n_test) {
  const std::string dir = TestDir(name);
  EXPECT_TRUE(MakeDirs(dir).ok());
  for (auto [prefix, n] : {std::pair<const char*, int>{"train", n_train}, {"t10k", n_test}}) {
    std::string images, labels;
    Put32(&images, 2051);
    Put32(&images, n);
    Put32(&images, 28);
    Put32(&images, 28);
    Put32(&labels, 2049);
    Put32(&labels, n);
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < 784; ++k) images.push_back(static_cast<char>(Pixel(i, k)));
      labels.push_back(static_cast<char>(i % 10));
    }
    WriteGz(JoinPath(dir, std::string(prefix) + "-images-idx3-ubyte.gz"), images);
    WriteGz(JoinPath(dir, std::string(prefix) + "-labels-idx1-ubyte.gz"), labels);
  }
  return dir;
}

std::set<std::string> Ids(const std::vector<datasets::Example>& v) {
  std::set<std::string> ids;
  for (const auto& e : v) ids.insert(e.id());
  return ids;
}

TEST(FashionMnistTest, ConvertsIdxWithSeededValidationSplit) {
  auto t = MakeContext(kFashionMnistSpec, WriteFixture("fm", 20, 5));
  t.context.seed = 7;
  auto plan = PlanFashionMnist(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->provenance.kind(), datasets::Provenance::SYSTEM);
  EXPECT_THAT(plan->provenance.options().at("split"), HasSubstr("seed 7"));
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  ASSERT_EQ(sink.split("train").size(), 18u);
  ASSERT_EQ(sink.split("val").size(), 2u);
  ASSERT_EQ(sink.split("test").size(), 5u);
  EXPECT_EQ(stats.examples, 25);
  // Every example carries its own pixels and label, wherever the split put it.
  for (const auto& [split, examples] : sink.splits()) {
    for (const auto& e : examples) {
      const bool test = split == "test";
      const int i = std::stoi(e.id().substr(e.id().find(':') + 1));
      EXPECT_EQ(e.id().substr(0, test ? 5 : 6), test ? "t10k:" : "train:");
      EXPECT_EQ(e.label(), i % 10);
      ASSERT_EQ(e.tokens_size(), 784);
      EXPECT_EQ(e.length(), 784);
      for (int k = 0; k < 784; k += 97) EXPECT_EQ(e.tokens(k), Pixel(i, k));
    }
  }
  // Train and val are disjoint and cover the training file.
  std::set<std::string> all = Ids(sink.split("train"));
  for (const auto& id : Ids(sink.split("val"))) EXPECT_TRUE(all.insert(id).second);
  EXPECT_EQ(all.size(), 20u);

  // The same seed gives the same split; another seed another one.
  MemorySink again;
  ASSERT_TRUE(PlanFashionMnist(t.context)->run(&again, &stats).ok());
  EXPECT_EQ(Ids(again.split("val")), Ids(sink.split("val")));
  t.context.seed = 8;
  MemorySink other;
  ASSERT_TRUE(PlanFashionMnist(t.context)->run(&other, &stats).ok());
  EXPECT_NE(Ids(other.split("val")), Ids(sink.split("val")));
}

TEST(FashionMnistTest, BadMagicTruncationAndCountMismatchAreNamed) {
  const std::string dir = WriteFixture("fm_bad", 4, 2);
  // Labels where images belong: magic 2049 instead of 2051.
  std::string swapped;
  Put32(&swapped, 2049);
  Put32(&swapped, 4);
  swapped.append(4, '\1');
  WriteGz(JoinPath(dir, "train-images-idx3-ubyte.gz"), swapped);
  auto bad = ReadIdxGz(JoinPath(dir, "train-images-idx3-ubyte.gz"), 2051);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("train-images-idx3-ubyte.gz: bad IDX magic number 2049 at byte 0"));

  std::string cut;
  Put32(&cut, 2049);
  Put32(&cut, 10);
  cut.append(3, '\1');
  WriteGz(JoinPath(dir, "cut.gz"), cut);
  auto truncated = ReadIdxGz(JoinPath(dir, "cut.gz"), 2049);
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(truncated.status().message()), HasSubstr("cut.gz: truncated at byte 11"));

  const std::string dir2 = WriteFixture("fm_mismatch", 4, 2);
  std::string labels;
  Put32(&labels, 2049);
  Put32(&labels, 3);
  labels.append(3, '\1');
  WriteGz(JoinPath(dir2, "t10k-labels-idx1-ubyte.gz"), labels);
  auto t = MakeContext(kFashionMnistSpec, dir2);
  MemorySink sink;
  RunStats stats;
  absl::Status s = PlanFashionMnist(t.context)->run(&sink, &stats);
  EXPECT_THAT(std::string(s.message()), HasSubstr("t10k-labels-idx1-ubyte.gz: 3 labels for 2"));

  auto missing = PlanFashionMnist(MakeContext(kFashionMnistSpec, TestDir("nowhere")).context);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("dataset-fashion-mnist"));
}

// The real files from Debian's dataset-fashion-mnist, when installed: shapes and the known
// class balance (6,000 per class in train, 1,000 in test).
TEST(FashionMnistTest, DebianFilesHaveTheExpectedHeadersAndBalance) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!PathExists(JoinPath(dir, "t10k-labels-idx1-ubyte.gz"))) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  for (auto [prefix, n] : {std::pair<const char*, uint32_t>{"train", 60000}, {"t10k", 10000}}) {
    auto labels = ReadIdxGz(JoinPath(dir, std::string(prefix) + "-labels-idx1-ubyte.gz"), 2049);
    ASSERT_TRUE(labels.ok()) << labels.status();
    ASSERT_EQ(labels->dims, std::vector<uint32_t>{n});
    std::vector<int> counts(10, 0);
    for (uint8_t l : labels->data) {
      ASSERT_LT(l, 10);
      ++counts[l];
    }
    for (int c : counts) EXPECT_EQ(c, static_cast<int>(n / 10));
  }
  auto images = ReadIdxGz(JoinPath(dir, "t10k-images-idx3-ubyte.gz"), 2051);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->dims, (std::vector<uint32_t>{10000, 28, 28}));
}

}  // namespace
}  // namespace lra::tasks

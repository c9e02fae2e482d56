#include "tasks/text/text.h"

#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "datasets/record_io.h"
#include "tasks/common/files.h"
#include "tasks/common/tf_example.pb.h"
#include "tasks/common/test_util.h"
#include "tasks/common/words.h"

namespace lra::tasks {
extern const char kTextSpec[];
namespace {

using ::lra::tasks::testing::MakeContext;
using ::lra::tasks::testing::TestDir;
using ::lra::tasks::testing::Tokens;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

void Write(const std::string& root, const std::string& rel, const std::string& text) {
  const std::string path = JoinPath(root, rel);
  ASSERT_TRUE(MakeDirs(path.substr(0, path.find_last_of('/'))).ok());
  ASSERT_TRUE(WriteFileAtomically(path, text).ok());
}

// A tiny aclImdb/ in the Stanford layout, with the files that are not reviews.
std::string WriteAclImdb(const std::string& name) {
  const std::string root = JoinPath(TestDir(name), "aclImdb");
  Write(root, "train/neg/10_2.txt", "bad");
  Write(root, "train/neg/2_1.txt", " Awful.\n");
  Write(root, "train/pos/0_9.txt", "Good<br />film \xc3\xa9\n");
  Write(root, "train/unsup/0_0.txt", "unlabeled");
  Write(root, "train/urls_pos.txt", "http://x");
  Write(root, "train/labeledBow.feat", "0:1");
  Write(root, "test/neg/0_3.txt", "meh");
  Write(root, "test/pos/5_10.txt", "\tGreat\r\n");
  return TestDir(name);
}

std::vector<int> Bytes(const std::string& s) {
  std::vector<int> ids;
  for (unsigned char c : s) ids.push_back(c + 1);
  return ids;
}

TEST(TextTest, AclImdbBytesPlusOneStrippedLikeTfds) {
  auto t = MakeContext(kTextSpec, WriteAclImdb("acl"));
  EXPECT_EQ(t.context.max_length, 4096);
  auto plan = PlanText(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->vocab.size(), 257);
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  // Examples are written in a seeded permutation (not neg-then-pos): look them up by id.
  auto by_id = [](const std::vector<datasets::Example>& examples) {
    std::map<std::string, datasets::Example> m;
    for (const auto& e : examples) m[e.id()] = e;
    return m;
  };
  const auto train = by_id(sink.split("train"));
  ASSERT_EQ(train.size(), 3u);
  ASSERT_EQ(train.count("train/neg/2_1"), 1u);
  ASSERT_EQ(train.count("train/neg/10_2"), 1u);  // numeric ids, not "1" < "2" order
  EXPECT_EQ(Tokens(train.at("train/neg/2_1")), Bytes("Awful."));
  EXPECT_EQ(train.at("train/neg/2_1").label(), 0);
  const datasets::Example& good = train.at("train/pos/0_9");
  EXPECT_EQ(good.label(), 1);
  EXPECT_EQ(Tokens(good), Bytes("Good<br />film \xc3\xa9"));
  EXPECT_EQ(good.tokens(good.tokens_size() - 1), 0xa9 + 1);
  // val = test, both present, in the same order.
  ASSERT_EQ(sink.split("val").size(), 2u);
  ASSERT_EQ(sink.split("test").size(), 2u);
  EXPECT_EQ(sink.split("val")[1].id(), sink.split("test")[1].id());
  EXPECT_EQ(Tokens(by_id(sink.split("test")).at("test/pos/5_10")), Bytes("Great"));
  EXPECT_EQ(stats.examples, 5);
}

TEST(TextTest, MaxLengthTruncatesAndKeepsTheFullLength) {
  auto t = MakeContext(kTextSpec, WriteAclImdb("acl_trunc"));
  t.context.max_length = 4;
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(PlanText(t.context)->run(&sink, &stats).ok());
  for (const auto& e : sink.split("train")) {
    if (e.id() != "train/pos/0_9") continue;
    EXPECT_EQ(Tokens(e), Bytes("Good"));
    EXPECT_EQ(e.length(), 17);
  }
}

TEST(TextTest, MissingSourceSaysWhatToPointAt) {
  auto plan = PlanText(MakeContext(kTextSpec, TestDir("nothing")).context);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("aclImdb"));
  const std::string bad = WriteAclImdb("acl_badname");
  Write(JoinPath(bad, "aclImdb"), "train/pos/review.txt", "x");
  auto named = PlanText(MakeContext(kTextSpec, bad).context);
  EXPECT_THAT(std::string(named.status().message()), HasSubstr("train/pos/review.txt"));
}

// One serialized tf.train.Example as TFDS's imdb_reviews writes it.
std::string ImdbRecord(const std::string& text, int64_t label) {
  tf::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  features["text"].mutable_bytes_list()->add_value(text);
  features["label"].mutable_int64_list()->add_value(label);
  return example.SerializeAsString();
}

// imdb_reviews/plain_text/1.0.0 with two train shards and one test shard.
std::string WriteTfds(const std::string& name) {
  const std::string dir = JoinPath(TestDir(name), "imdb_reviews/plain_text/1.0.0");
  EXPECT_TRUE(MakeDirs(dir).ok());
  std::string shard0, shard1, test;
  datasets::AppendRecord(ImdbRecord("first", 1), &shard0);
  datasets::AppendRecord(ImdbRecord("second", 0), &shard0);
  datasets::AppendRecord(ImdbRecord("third \xe2\x82\xac", 1), &shard1);
  datasets::AppendRecord(ImdbRecord("t", 0), &test);
  EXPECT_TRUE(
      WriteFileAtomically(JoinPath(dir, "imdb_reviews-train.tfrecord-00001-of-00002"), shard1).ok());
  EXPECT_TRUE(
      WriteFileAtomically(JoinPath(dir, "imdb_reviews-train.tfrecord-00000-of-00002"), shard0).ok());
  EXPECT_TRUE(
      WriteFileAtomically(JoinPath(dir, "imdb_reviews-test.tfrecord-00000-of-00001"), test).ok());
  EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, "dataset_info.json"), "{}").ok());
  return TestDir(name);
}

TEST(TextTest, TfdsCacheInShardOrder) {
  auto t = MakeContext(kTextSpec, WriteTfds("tfds"));
  auto plan = PlanText(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->provenance.options().at("source_format"), "tfds");
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  const auto& train = sink.split("train");
  ASSERT_EQ(train.size(), 3u);
  EXPECT_EQ(Tokens(train[0]), Bytes("first"));
  EXPECT_EQ(train[0].label(), 1);
  EXPECT_EQ(Tokens(train[1]), Bytes("second"));
  EXPECT_EQ(Tokens(train[2]), Bytes("third \xe2\x82\xac"));
  EXPECT_EQ(train[2].id(), "train/2");
  ASSERT_EQ(sink.split("val").size(), 1u);
  ASSERT_EQ(sink.split("test").size(), 1u);
}

TEST(TextTest, CorruptTfRecordNamesFileAndOffset) {
  const std::string root = WriteTfds("tfds_bad");
  const std::string shard =
      JoinPath(root, "imdb_reviews/plain_text/1.0.0/imdb_reviews-train.tfrecord-00000-of-00002");
  std::string bytes = *ReadFileToString(shard);
  const size_t second = bytes.size() / 2 + 8;  // inside the second record
  bytes[second] ^= 0x20;
  ASSERT_TRUE(WriteFileAtomically(shard, bytes).ok());
  auto t = MakeContext(kTextSpec, root);
  MemorySink sink;
  RunStats stats;
  absl::Status s = PlanText(t.context)->run(&sink, &stats);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("imdb_reviews-train.tfrecord-00000-of-00002"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("offset"));

  // Valid framing around a payload that is not an Example.
  std::string junk;
  datasets::AppendRecord("\xff\xff\xff", &junk);
  ASSERT_TRUE(WriteFileAtomically(shard, junk).ok());
  s = PlanText(t.context)->run(&sink, &stats);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("00002 record 0 at byte offset 0: not a serialized tf.train.Example"));
}

TEST(TextTest, SyntheticLabelIsTheMajorityOfCuesSpreadOverTheWholeReview) {
  auto t = MakeContext(kTextSpec, "");
  t.context.seed = 5;
  const std::string dir = TestDir("synthetic_text");
  ASSERT_TRUE(GenerateSyntheticText(t.context, 60, dir).ok());
  t.context.source = dir;
  auto plan = PlanText(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  ASSERT_EQ(sink.split("train").size(), 30u);
  ASSERT_EQ(sink.split("test").size(), 30u);
  // The generator's cue words, from the same seeded stream.
  SeededRng rng(5);
  const auto positive = MakeWords(rng, 6);
  const auto negative = MakeWords(rng, 6, positive);
  const absl::flat_hash_set<std::string> pos(positive.begin(), positive.end());
  const absl::flat_hash_set<std::string> neg(negative.begin(), negative.end());
  int labels[2] = {0, 0};
  int cues_in_second_half = 0, cues = 0;
  for (const auto& e : sink.split("train")) {
    std::string text;
    for (int id : e.tokens()) text.push_back(static_cast<char>(id - 1));
    ASSERT_EQ(e.length(), e.tokens_size());  // whole review fits in 4096
    int n_pos = 0, n_neg = 0;
    std::vector<absl::string_view> words =
        absl::StrSplit(text, absl::ByAnyChar(" ."), absl::SkipEmpty());
    for (size_t w = 0; w < words.size(); ++w) {
      const bool p = pos.contains(words[w]), n = neg.contains(words[w]);
      n_pos += p;
      n_neg += n;
      if (p || n) {
        ++cues;
        cues_in_second_half += 2 * w >= words.size();
      }
    }
    EXPECT_EQ(std::abs(n_pos - n_neg), 1);
    EXPECT_EQ(e.label(), n_pos > n_neg ? 1 : 0);
    ++labels[e.label()];
  }
  EXPECT_EQ(labels[0], 15);
  EXPECT_EQ(labels[1], 15);
  // Spread: about half the cues lie in the second half (binomial, 30 docs x >= 5 cues).
  EXPECT_GT(cues_in_second_half, cues * 3 / 10);
  EXPECT_LT(cues_in_second_half, cues * 7 / 10);
}

}  // namespace
}  // namespace lra::tasks

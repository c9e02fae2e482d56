#include "tasks/text/text.h"

#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "datasets/record_io.h"
#include "core/base/file_util.h"
#include "tasks/common/tf_example.pb.h"
#include "tasks/common/test_util.h"
#include "tasks/common/words.h"

namespace lra::tasks {
extern const char kTextSpec[];
namespace {

using ::lra::tasks::testing::MakeContext;
using ::lra::tasks::testing::PlanAndRun;
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

// An empty class folder used to give a one-class split without a word.
TEST(TextTest, AclImdbEmptyClassFolderFails) {
  const std::string root = WriteAclImdb("acl_no_pos");
  ASSERT_TRUE(RemoveTree(JoinPath(root, "aclImdb/train/pos/0_9.txt")).ok());
  auto plan = PlanText(MakeContext(kTextSpec, root).context);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("aclImdb/train/pos: no <id>_<rating>.txt reviews; aclImdb has 12,500 in "
                        "each class folder"));
  ASSERT_TRUE(RemoveTree(JoinPath(root, "aclImdb/test/neg")).ok());
  ASSERT_TRUE(MakeDirs(JoinPath(root, "aclImdb/test/pos")).ok());
  Write(JoinPath(root, "aclImdb"), "train/pos/0_9.txt", "x");
  plan = PlanText(MakeContext(kTextSpec, root).context);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("aclImdb/test/neg is missing"));
}

// S4's character encoding on a fixture whose ids follow by hand from
// state-spaces/s4 e757cef src/dataloaders/lra.py IMDB.process_dataset (min_freq 15 over the
// training reviews' first l_max - 1 characters, <pad> <unk> <eos> first, then by count, ties by
// code point; <eos> appended).
std::string WriteCharFixture(const std::string& name) {
  const std::string root = JoinPath(TestDir(name), "aclImdb");
  // Training counts: e-acute 20, a 15, b 15, c 14, newline 1.
  Write(root, "train/neg/1_1.txt", std::string(15, 'b') + std::string(14, 'c'));
  std::string pos(15, 'a');
  for (int i = 0; i < 20; ++i) pos += "\xc3\xa9";
  Write(root, "train/pos/1_9.txt", pos + "\n");
  Write(root, "test/neg/1_2.txt", "abc\xc3\xa9\n");
  // 20 z's: frequent in test, absent from train, so <unk>.
  Write(root, "test/pos/1_8.txt", " ab" + std::string(20, 'z'));
  return TestDir(name);
}

TEST(TextTest, S4CharsVocabularyFromTrainingWithMinFreqAndEos) {
  auto t = MakeContext(kTextSpec, WriteCharFixture("acl_chars"), "s4_chars");
  EXPECT_EQ(t.context.max_length, 4096);
  auto plan = PlanText(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // <pad> <unk> <eos>, e-acute (20), then a and b (15 each, a < b); c (14) and \n (1) are out.
  EXPECT_THAT(plan->vocab.symbols(),
              ElementsAre("<pad>", "<unk>", "<eos>", "\xc3\xa9", "a", "b"));
  EXPECT_EQ(plan->vocab.size(), 6);
  EXPECT_EQ(plan->vocab.pad_id(), 0);
  EXPECT_EQ(plan->vocab.eos_id(), 2);
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  std::map<std::string, datasets::Example> test;
  for (const auto& e : sink.split("test")) test[e.id()] = e;
  // a b c e-acute \n <eos>: c and \n are <unk> (1).
  EXPECT_THAT(Tokens(test.at("test/neg/1_2")), ElementsAre(4, 5, 1, 3, 1, 2));
  EXPECT_EQ(test.at("test/neg/1_2").length(), 6);
  // Not stripped (Hugging Face's imdb reads the file as is): the leading space is <unk>.
  std::vector<int> want = {1, 4, 5};
  want.insert(want.end(), 20, 1);
  want.push_back(2);
  EXPECT_EQ(Tokens(test.at("test/pos/1_8")), want);
  ASSERT_EQ(sink.split("val").size(), 2u);
  std::vector<int> train_pos(15, 4);
  train_pos.insert(train_pos.end(), 20, 3);
  train_pos.push_back(1);
  train_pos.push_back(2);
  for (const auto& e : sink.split("train")) {
    if (e.id() == "train/pos/1_9") {
      EXPECT_EQ(Tokens(e), train_pos);
    }
  }
  // 14 c + 1 newline (train), c + newline (test/neg), space + 20 z (test/pos).
  EXPECT_THAT(stats.notes, ElementsAre("38 characters outside the training vocabulary were "
                                       "mapped to <unk>"));
}

// S4 truncates before counting: with l_max 16 only the first 15 characters of each training
// review count, so c and e-acute never enter the vocabulary.
TEST(TextTest, S4CharsCountsOnlyTheTruncatedTrainingText) {
  auto t = MakeContext(kTextSpec, WriteCharFixture("acl_chars_short"), "s4_chars");
  t.context.max_length = 16;
  auto plan = PlanText(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->vocab.symbols(), ElementsAre("<pad>", "<unk>", "<eos>", "a", "b"));
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  for (const auto& e : sink.split("train")) {
    // 15 characters kept of 36, then <eos>; length counts all 36 + <eos>.
    if (e.id() == "train/pos/1_9") {
      EXPECT_EQ(Tokens(e), std::vector<int>({3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2}));
      EXPECT_EQ(e.length(), 37);
    }
  }
}

TEST(TextTest, S4CharsRejectsInvalidUtf8NamingTheFile) {
  const std::string root = WriteCharFixture("acl_chars_bad");
  Write(JoinPath(root, "aclImdb"), "train/neg/2_1.txt", "ok \xc3");
  auto plan = PlanText(MakeContext(kTextSpec, root, "s4_chars").context);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("train/neg/2_1.txt: invalid UTF-8 at byte offset 3"));
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
  datasets::AppendRecord(ImdbRecord("u", 1), &test);
  EXPECT_TRUE(
      WriteFileAtomically(JoinPath(dir, "imdb_reviews-train.tfrecord-00001-of-00002"), shard1).ok());
  EXPECT_TRUE(
      WriteFileAtomically(JoinPath(dir, "imdb_reviews-train.tfrecord-00000-of-00002"), shard0).ok());
  EXPECT_TRUE(
      WriteFileAtomically(JoinPath(dir, "imdb_reviews-test.tfrecord-00000-of-00001"), test).ok());
  EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, "dataset_info.json"),
                                  R"({"name": "imdb_reviews", "splits": [)"
                                  R"({"name": "train", "shardLengths": ["2", "1"]},)"
                                  R"({"name": "test", "shardLengths": ["2"]},)"
                                  R"({"name": "unsupervised", "shardLengths": ["0"]}]})")
                  .ok());
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
  ASSERT_EQ(sink.split("val").size(), 2u);
  ASSERT_EQ(sink.split("test").size(), 2u);
}

// A shard that lost its last records (cut at a record boundary) or all of them (0 bytes) still
// has valid framing; only dataset_info.json's counts show the loss.
TEST(TextTest, TfdsShardShorterThanDatasetInfoFails) {
  const std::string root = WriteTfds("tfds_short");
  const std::string dir = JoinPath(root, "imdb_reviews/plain_text/1.0.0");
  std::string one;
  datasets::AppendRecord(ImdbRecord("first", 1), &one);
  const std::string shard0 = JoinPath(dir, "imdb_reviews-train.tfrecord-00000-of-00002");
  ASSERT_TRUE(WriteFileAtomically(shard0, one).ok());
  auto t = MakeContext(kTextSpec, root);
  absl::Status s = PlanAndRun(PlanText(t.context));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("imdb_reviews-train.tfrecord-00000-of-00002: 1 records, but "
                        "dataset_info.json says this shard holds 2; the shard is damaged or cut "
                        "short: copy the TFDS folder again"));
  ASSERT_TRUE(WriteFileAtomically(shard0, "").ok());
  s = PlanAndRun(PlanText(t.context));
  EXPECT_THAT(std::string(s.message()), HasSubstr("00002: 0 records, but dataset_info.json"));
}

TEST(TextTest, TfdsSplitWithOneClassFails) {
  const std::string root = WriteTfds("tfds_one_class");
  std::string test;
  datasets::AppendRecord(ImdbRecord("t", 0), &test);
  datasets::AppendRecord(ImdbRecord("v", 0), &test);
  ASSERT_TRUE(WriteFileAtomically(JoinPath(root, "imdb_reviews/plain_text/1.0.0/"
                                                 "imdb_reviews-test.tfrecord-00000-of-00001"),
                                  test)
                  .ok());
  absl::Status s = PlanAndRun(PlanText(MakeContext(kTextSpec, root).context));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("imdb_reviews-test.tfrecord-00000-of-00001: split test has no reviews "
                        "with label 1"));
}

TEST(TextTest, CorruptTfRecordNamesFileAndOffset) {
  const std::string root = WriteTfds("tfds_bad");
  const std::string shard =
      JoinPath(root, "imdb_reviews/plain_text/1.0.0/imdb_reviews-train.tfrecord-00000-of-00002");
  std::string bytes = *ReadFile(shard);
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

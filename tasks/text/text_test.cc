#include "tasks/text/text.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tasks/common/files.h"
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
  ASSERT_TRUE(WriteFileAtomic(path, text).ok());
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
  const auto& train = sink.split("train");
  ASSERT_EQ(train.size(), 3u);
  EXPECT_EQ(train[0].id(), "train/neg/2_1");  // numeric id order: 2 before 10
  EXPECT_EQ(Tokens(train[0]), Bytes("Awful."));
  EXPECT_EQ(train[0].label(), 0);
  EXPECT_EQ(train[1].id(), "train/neg/10_2");
  EXPECT_EQ(train[2].label(), 1);
  EXPECT_EQ(Tokens(train[2]), Bytes("Good<br />film \xc3\xa9"));
  EXPECT_EQ(train[2].tokens(train[2].tokens_size() - 1), 0xa9 + 1);
  // val = test, both present.
  ASSERT_EQ(sink.split("val").size(), 2u);
  ASSERT_EQ(sink.split("test").size(), 2u);
  EXPECT_EQ(sink.split("val")[1].id(), "test/pos/5_10");
  EXPECT_EQ(Tokens(sink.split("test")[1]), Bytes("Great"));
  EXPECT_EQ(stats.examples, 5);
}

TEST(TextTest, MaxLengthTruncatesAndKeepsTheFullLength) {
  auto t = MakeContext(kTextSpec, WriteAclImdb("acl_trunc"));
  t.context.max_length = 4;
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(PlanText(t.context)->run(&sink, &stats).ok());
  EXPECT_EQ(Tokens(sink.split("train")[2]), Bytes("Good"));
  EXPECT_EQ(sink.split("train")[2].length(), 17);
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

#include "tasks/retrieval/retrieval.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "core/base/file_util.h"
#include "tasks/common/test_util.h"
#include "tasks/common/words.h"

namespace lra::tasks {
extern const char kRetrievalSpec[];
namespace {

using ::lra::tasks::testing::MakeContext;
using ::lra::tasks::testing::PlanAndRun;
using ::lra::tasks::testing::TestDir;
using ::lra::tasks::testing::Tokens;
using ::testing::HasSubstr;

std::vector<int> Bytes(absl::string_view s) {
  std::vector<int> ids;
  for (unsigned char c : s) ids.push_back(c + 1);
  return ids;
}

// tsv_data/ in the release format (no header, 5 columns, no quoting).
std::string WriteTsvData(const std::string& name, const std::string& long_text) {
  const std::string dir = JoinPath(TestDir(name), "tsv_data");
  EXPECT_TRUE(MakeDirs(dir).ok());
  EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, "new_aan_pairs.train.tsv"),
                              "1\tP01-1001\tP02-2002\tAbc \"quoted\"\tde\n"
                              "0.0\tP03\tP04\t" + long_text + "\tx\n")
                  .ok());
  EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, "new_aan_pairs.eval.tsv"), "1.0\ta\tb\tq\tr\n").ok());
  EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, "new_aan_pairs.test.tsv"), "0\tc\td\t\ts\n").ok());
  return TestDir(name);
}

TEST(RetrievalTest, TsvPairsCutTo10000BytesThen4000Tokens) {
  std::string long_text;
  for (int i = 0; i < 12000; ++i) long_text.push_back(static_cast<char>('a' + i % 26));
  auto t = MakeContext(kRetrievalSpec, WriteTsvData("aan", long_text));
  EXPECT_EQ(t.context.max_length, 4000);
  auto plan = PlanRetrieval(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  ASSERT_EQ(sink.split("train").size(), 2u);
  ASSERT_EQ(sink.split("val").size(), 1u);
  ASSERT_EQ(sink.split("test").size(), 1u);
  const auto& a = sink.split("train")[0];
  EXPECT_EQ(a.label(), 1);
  EXPECT_EQ(Tokens(a), Bytes("Abc \"quoted\""));  // quotes are plain bytes (no quote parsing)
  EXPECT_EQ(std::vector<int>(a.tokens2().begin(), a.tokens2().end()), Bytes("de"));
  EXPECT_EQ(a.id(), "new_aan_pairs.train.tsv:1");
  const auto& b = sink.split("train")[1];
  EXPECT_EQ(b.label(), 0);
  EXPECT_EQ(b.tokens_size(), 4000);
  EXPECT_EQ(b.length(), 10000);  // after the 10,000-byte cut
  EXPECT_EQ(Tokens(b), Bytes(absl::string_view(long_text).substr(0, 4000)));
  EXPECT_EQ(sink.split("val")[0].label(), 1);  // "1.0"
  EXPECT_EQ(sink.split("test")[0].tokens_size(), 0);  // empty text1
  EXPECT_EQ(sink.split("test")[0].length2(), 1);
}

TEST(RetrievalTest, WrongColumnCountAndBadLabelNameFileAndLine) {
  const std::string root = WriteTsvData("aan_bad", "t");
  const std::string eval = JoinPath(root, "tsv_data/new_aan_pairs.eval.tsv");
  ASSERT_TRUE(WriteFileAtomically(eval, "1\ta\tb\tq\tr\n1\ta\tb\tq\n").ok());
  auto t = MakeContext(kRetrievalSpec, root);
  MemorySink sink;
  RunStats stats;
  absl::Status s = PlanRetrieval(t.context)->run(&sink, &stats);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("new_aan_pairs.eval.tsv:2: expected 5 tab-separated columns"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("found 4"));
  ASSERT_TRUE(WriteFileAtomically(eval, "yes\ta\tb\tq\tr\n").ok());
  s = PlanRetrieval(t.context)->run(&sink, &stats);
  EXPECT_THAT(std::string(s.message()), HasSubstr("eval.tsv:1: label \"yes\""));
  EXPECT_EQ(PlanRetrieval(MakeContext(kRetrievalSpec, TestDir("none")).context).status().code(),
            absl::StatusCode::kNotFound);
}

// A split file with no pairs (0 bytes) used to give a dataset without that split.
TEST(RetrievalTest, EmptySplitFileFailsNamingIt) {
  const std::string root = WriteTsvData("aan_empty", "t");
  const std::string eval = JoinPath(root, "tsv_data/new_aan_pairs.eval.tsv");
  ASSERT_TRUE(WriteFileAtomically(eval, "").ok());
  absl::Status s = PlanAndRun(PlanRetrieval(MakeContext(kRetrievalSpec, root).context));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("new_aan_pairs.eval.tsv: no pairs (the file is empty); the release's "
                        "new_aan_pairs files hold 147,086 / 18,090 / 17,437 lines"));
  // An empty training file fails at once for s4_chars, whose vocabulary is counted from it.
  ASSERT_TRUE(WriteFileAtomically(JoinPath(root, "tsv_data/new_aan_pairs.train.tsv"), "").ok());
  auto chars = PlanRetrieval(MakeContext(kRetrievalSpec, root, "s4_chars").context);
  EXPECT_THAT(std::string(chars.status().message()),
              HasSubstr("new_aan_pairs.train.tsv: no pairs"));
}

// S4's character encoding; ids by hand from state-spaces/s4 e757cef src/dataloaders/lra.py
// AAN.process_dataset: vocabulary over the training tokens1 + tokens2 (no min_freq), <pad>
// <unk> <eos> first, then by count with ties by code point; 3999 characters + <eos>, no
// 10,000-byte cut.
TEST(RetrievalTest, S4CharsVocabularyFromBothTrainingDocuments) {
  const std::string dir = JoinPath(TestDir("aan_chars"), "tsv_data");
  ASSERT_TRUE(MakeDirs(dir).ok());
  // Training counts: a 3, b 2, z 2, c 1, e-acute 1.
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "new_aan_pairs.train.tsv"),
                                  "1\ta\tb\tabca\tb\xc3\xa9\n0\tc\td\tzz\ta\n")
                  .ok());
  ASSERT_TRUE(
      WriteFileAtomically(JoinPath(dir, "new_aan_pairs.eval.tsv"), "1.0\te\tf\tqa\tb\n").ok());
  std::string long_text;
  for (int i = 0; i < 12000; ++i) long_text += "\xc3\xa9";  // 24,000 bytes
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "new_aan_pairs.test.tsv"),
                                  "0\tg\th\t\t" + long_text + "\n")
                  .ok());
  auto t = MakeContext(kRetrievalSpec, dir, "s4_chars");
  EXPECT_EQ(t.context.max_length, 4000);
  auto plan = PlanRetrieval(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->vocab.symbols(),
              ::testing::ElementsAre("<pad>", "<unk>", "<eos>", "a", "b", "z", "c", "\xc3\xa9"));
  EXPECT_EQ(plan->vocab.size(), 8);
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  const auto& first = sink.split("train")[0];
  EXPECT_THAT(Tokens(first), ::testing::ElementsAre(3, 4, 6, 3, 2));
  EXPECT_THAT(first.tokens2(), ::testing::ElementsAre(4, 7, 2));
  EXPECT_EQ(first.length(), 5);
  const auto& val = sink.split("val")[0];
  EXPECT_THAT(Tokens(val), ::testing::ElementsAre(1, 3, 2));  // q is <unk>
  EXPECT_THAT(val.tokens2(), ::testing::ElementsAre(4, 2));
  const auto& test = sink.split("test")[0];
  EXPECT_THAT(Tokens(test), ::testing::ElementsAre(2));  // an empty text is <eos> alone
  ASSERT_EQ(test.tokens2_size(), 4000);
  for (int i = 0; i < 3999; ++i) ASSERT_EQ(test.tokens2(i), 7);
  EXPECT_EQ(test.tokens2(3999), 2);
  EXPECT_EQ(test.length2(), 12001);  // every character + <eos>: no 10,000-byte cut
  EXPECT_THAT(stats.notes, ::testing::ElementsAre("1 characters outside the training vocabulary "
                                                  "were mapped to <unk>"));
}

TEST(RetrievalTest, SyntheticPairsMatchIffAllEightSlotsAgree) {
  auto t = MakeContext(kRetrievalSpec, "");
  t.context.seed = 3;
  const std::string dir = TestDir("synthetic_aan");
  ASSERT_TRUE(GenerateSyntheticRetrieval(t.context, 50, dir).ok());
  t.context.source = dir;
  auto plan = PlanRetrieval(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  EXPECT_EQ(sink.split("train").size(), 40u);
  EXPECT_EQ(sink.split("val").size(), 5u);
  EXPECT_EQ(sink.split("test").size(), 5u);
  // Rebuild the slot words from the same stream: slot s, value v.
  SeededRng rng(3);
  absl::flat_hash_map<std::string, std::pair<int, int>> slot_of;
  std::vector<std::string> taken;
  for (int s = 0; s < 8; ++s) {
    auto words = MakeWords(rng, 6, taken);
    for (int v = 0; v < 6; ++v) slot_of[words[v]] = {s, v};
    taken.insert(taken.end(), words.begin(), words.end());
  }
  auto topic = [&](const google::protobuf::RepeatedField<int32_t>& ids) {
    std::string text;
    for (int id : ids) text.push_back(static_cast<char>(id - 1));
    std::vector<absl::string_view> words = absl::StrSplit(text, ' ');
    std::vector<int> values(8, -1);
    for (size_t w = 0; w < words.size(); ++w) {
      auto it = slot_of.find(words[w]);
      if (it == slot_of.end()) continue;
      const int s = it->second.first;
      EXPECT_EQ(values[s], -1) << "slot " << s << " twice";
      values[s] = it->second.second;
      // Slot s sits in the s-th eighth of the document.
      EXPECT_GE(w, words.size() * s / 8);
      EXPECT_LT(w, words.size() * (s + 1) / 8);
    }
    for (int v : values) EXPECT_GE(v, 0);
    return values;
  };
  int positives = 0;
  for (const auto& e : sink.split("train")) {
    EXPECT_EQ(e.length(), e.tokens_size());  // fits in 4000 bytes
    EXPECT_EQ(e.length2(), e.tokens2_size());
    std::vector<int> a = topic(e.tokens()), b = topic(e.tokens2());
    int differ = 0;
    for (int s = 0; s < 8; ++s) differ += a[s] != b[s];
    EXPECT_EQ(differ, e.label() == 1 ? 0 : 1);
    positives += e.label();
  }
  EXPECT_EQ(positives, 20);
}

}  // namespace
}  // namespace lra::tasks

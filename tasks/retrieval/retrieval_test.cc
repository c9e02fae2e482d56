#include "tasks/retrieval/retrieval.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tasks/common/files.h"
#include "tasks/common/test_util.h"
#include "tasks/common/words.h"

namespace lra::tasks {
extern const char kRetrievalSpec[];
namespace {

using ::lra::tasks::testing::MakeContext;
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

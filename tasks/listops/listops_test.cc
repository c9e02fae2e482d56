#include "tasks/listops/listops.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "core/base/file_util.h"
#include "tasks/common/test_util.h"

namespace lra::tasks {
extern const char kListOpsSpec[];
namespace {

using ::lra::tasks::testing::MakeContext;
using ::lra::tasks::testing::PlanAndRun;
using ::lra::tasks::testing::TestDir;
using ::lra::tasks::testing::Tokens;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Writes a listops-1000 folder in the release format (tasks/README.md).
std::string WriteFixture(const std::string& name, const std::string& train_extra = "") {
  const std::string dir = TestDir(name);
  EXPECT_TRUE(MakeDirs(dir).ok());
  EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, "basic_train.tsv"),
                              "Source\tTarget\n"
                              "( ( ( [MAX 2 ) 9 ) ] )\t9\n"
                              "( ( ( ( [MIN 3 ) 2 ) 5 ) ] )\t2\n"
                              "( ( [SM 2 ) ] )\t2\n" +
                                  train_extra)
                  .ok());
  EXPECT_TRUE(
      WriteFileAtomically(JoinPath(dir, "basic_val.tsv"), "Source\tTarget\n( ( [MED 7 ) ] )\t7\n")
          .ok());
  EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, "basic_test.tsv"),
                              "Source\tTarget\r\n( ( ( [MIN 4 ) 0 ) ] )\t0\r\n")
                  .ok());
  return dir;
}

TEST(ListOpsTest, TokenizerRenamesClosingBracketAndDropsParentheses) {
  EXPECT_THAT(ListOpsTokens("( ( ( [MAX 2 ) 9 ) ] )"), ElementsAre("[MAX", "2", "9", "X"));
  EXPECT_THAT(ListOpsTokens("[SM 1 ]\t"), ElementsAre("[SM", "1", "X"));
  EXPECT_TRUE(ListOpsTokens(" ( ) ").empty());
}

TEST(ListOpsTest, LraEncodingGivesFixedIdsLabelsAndSplits) {
  auto t = MakeContext(kListOpsSpec, WriteFixture("lra"));
  auto plan = PlanListOps(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->vocab.size(), 17);
  EXPECT_EQ(plan->vocab.pad_id(), 0);
  EXPECT_EQ(plan->provenance.kind(), datasets::Provenance::RELEASE);
  EXPECT_EQ(plan->provenance.source_files_size(), 3);
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  EXPECT_EQ(stats.examples, 5);
  ASSERT_EQ(sink.split("train").size(), 3u);
  ASSERT_EQ(sink.split("val").size(), 1u);
  ASSERT_EQ(sink.split("test").size(), 1u);
  // Symbols: 1..4 = [MIN [MAX [MED [SM, 5 = X, 6..15 = digits 0..9, 16 = <unk>.
  const auto& train = sink.split("train");
  EXPECT_THAT(Tokens(train[0]), ElementsAre(2, 8, 15, 5));
  EXPECT_EQ(train[0].label(), 9);
  EXPECT_EQ(train[0].length(), 4);
  EXPECT_EQ(train[0].id(), "basic_train.tsv:2");
  EXPECT_THAT(Tokens(train[1]), ElementsAre(1, 9, 8, 11, 5));
  EXPECT_EQ(train[1].label(), 2);
  EXPECT_THAT(Tokens(sink.split("val")[0]), ElementsAre(3, 13, 5));
  // Windows line ends: the '\r' after Target is dropped, the label parses.
  EXPECT_THAT(Tokens(sink.split("test")[0]), ElementsAre(1, 10, 6, 5));
  EXPECT_EQ(sink.split("test")[0].label(), 0);
  EXPECT_TRUE(stats.notes.empty());
}

TEST(ListOpsTest, S4EncodingCountsTheTrainingVocabularyAndAppendsEos) {
  auto t = MakeContext(kListOpsSpec, WriteFixture("s4"), "s4_eos");
  EXPECT_EQ(t.context.max_length, 2048);
  auto plan = PlanListOps(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // Counts: X 3, 2 3, then 1 each; ties in code-point order ('2' < 'X'; digits < '[').
  EXPECT_THAT(plan->vocab.symbols(), ElementsAre("<pad>", "<unk>", "<eos>", "2", "X", "3", "5",
                                                 "9", "[MAX", "[MIN", "[SM"));
  EXPECT_EQ(plan->vocab.size(), 11);
  EXPECT_EQ(plan->vocab.eos_id(), 2);
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  EXPECT_THAT(Tokens(sink.split("train")[0]), ElementsAre(8, 3, 7, 4, 2));
  EXPECT_EQ(sink.split("train")[0].length(), 5);
  // [MED and 7 never occur in train: <unk>.
  EXPECT_THAT(Tokens(sink.split("val")[0]), ElementsAre(1, 1, 4, 2));
  ASSERT_EQ(stats.notes.size(), 2u);  // val and test have out-of-vocabulary tokens
  EXPECT_THAT(stats.notes[0], HasSubstr("basic_val.tsv: 2 tokens"));
}

TEST(ListOpsTest, TruncationKeepsEosLastAndRecordsTheFullLength) {
  auto t = MakeContext(kListOpsSpec, WriteFixture("trunc"));
  t.context.max_length = 3;
  auto plan = PlanListOps(t.context);
  ASSERT_TRUE(plan.ok());
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  EXPECT_THAT(Tokens(sink.split("train")[1]), ElementsAre(1, 9, 8));
  EXPECT_EQ(sink.split("train")[1].length(), 5);

  auto s4 = MakeContext(kListOpsSpec, WriteFixture("trunc_s4"), "s4_eos");
  s4.context.max_length = 3;
  auto plan4 = PlanListOps(s4.context);
  ASSERT_TRUE(plan4.ok());
  MemorySink sink4;
  ASSERT_TRUE(plan4->run(&sink4, &stats).ok());
  EXPECT_THAT(Tokens(sink4.split("train")[1]), ElementsAre(9, 5, 2));
  EXPECT_EQ(sink4.split("train")[1].length(), 6);
}

// A split file holding only its header used to give a dataset without that split.
TEST(ListOpsTest, HeaderOnlySplitFileFailsNamingIt) {
  const std::string dir = WriteFixture("header_only");
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "basic_val.tsv"), "Source\tTarget\n").ok());
  absl::Status s = PlanAndRun(PlanListOps(MakeContext(kListOpsSpec, dir).context));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("basic_val.tsv: only the header, no expressions; the release's "
                        "basic_{train,val,test}.tsv hold 96,000 / 2,000 / 2,000 rows"));
  // The training file too, where s4_eos counts its vocabulary before converting.
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "basic_train.tsv"), "Source\tTarget\n").ok());
  auto s4 = PlanListOps(MakeContext(kListOpsSpec, dir, "s4_eos").context);
  EXPECT_THAT(std::string(s4.status().message()), HasSubstr("basic_train.tsv: only the header"));
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "basic_train.tsv"), "").ok());
  s4 = PlanListOps(MakeContext(kListOpsSpec, dir, "s4_eos").context);
  EXPECT_THAT(std::string(s4.status().message()), HasSubstr("basic_train.tsv: empty file, no header"));
}

TEST(ListOpsTest, WrongColumnCountNamesFileAndLine) {
  auto t = MakeContext(kListOpsSpec, WriteFixture("bad_cols", "[SM 1 ]\t1\textra\n"));
  auto plan = PlanListOps(t.context);
  ASSERT_TRUE(plan.ok());
  MemorySink sink;
  RunStats stats;
  absl::Status s = plan->run(&sink, &stats);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("basic_train.tsv:5: expected 2"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("found 3"));
}

TEST(ListOpsTest, BadLabelAndMissingFileAndBadHeaderAreClear) {
  auto t = MakeContext(kListOpsSpec, WriteFixture("bad_label", "[SM 1 ]\t12\n"));
  auto plan = PlanListOps(t.context);
  ASSERT_TRUE(plan.ok());
  MemorySink sink;
  RunStats stats;
  absl::Status s = plan->run(&sink, &stats);
  EXPECT_THAT(std::string(s.message()), HasSubstr("basic_train.tsv:5: Target \"12\""));

  const std::string dir = WriteFixture("missing");
  ASSERT_TRUE(RemoveTree(JoinPath(dir, "basic_val.tsv")).ok());
  auto missing = PlanListOps(MakeContext(kListOpsSpec, dir).context);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("basic_val.tsv"));

  const std::string hdr = WriteFixture("header");
  ASSERT_TRUE(WriteFileAtomically(JoinPath(hdr, "basic_test.tsv"), "a\tb\n[SM 1 ]\t1\n").ok());
  auto t2 = MakeContext(kListOpsSpec, hdr);
  auto plan2 = PlanListOps(t2.context);
  ASSERT_TRUE(plan2.ok());
  s = plan2->run(&sink, &stats);
  EXPECT_THAT(std::string(s.message()), HasSubstr("basic_test.tsv:1: expected the header"));
}

}  // namespace
}  // namespace lra::tasks

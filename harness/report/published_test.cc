#include "harness/report/published.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lra::report {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

PublishedData Embedded() {
  absl::StatusOr<PublishedData> data = LoadEmbeddedPublished();
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *std::move(data) : PublishedData{};
}

const AccuracyRow* FindRow(const AccuracyTable& t, const std::string& model) {
  for (const AccuracyRow& row : t.row()) {
    if (row.model() == model) return &row;
  }
  return nullptr;
}

TEST(PublishedTest, EmbeddedTablesParseWithTheExpectedShape) {
  const PublishedData data = Embedded();
  const AccuracyTable* t1 = FindAccuracyTable(data, "lra_table1");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->row_size(), 11);  // every model row of LRA Table 1
  EXPECT_EQ(t1->citation().arxiv_id(), "2011.04006");
  EXPECT_EQ(t1->citation().page(), "p. 6");
  for (const AccuracyRow& row : t1->row()) EXPECT_TRUE(row.path_x().failed()) << row.model();
  const EfficiencyTable* t2 = FindEfficiencyTable(data, "lra_table2");
  ASSERT_NE(t2, nullptr);
  EXPECT_EQ(t2->row_size(), 9);
  EXPECT_THAT(std::vector<int>(t2->axis().begin(), t2->axis().end()),
              ::testing::ElementsAre(1024, 2048, 3072, 4096));
  ASSERT_NE(FindAccuracyTable(data, "s4_lra"), nullptr);
  EXPECT_EQ(FindAccuracyTable(data, "s4_lra")->row_size(), 16);  // Table 10 less "Random"
  ASSERT_NE(FindAccuracyTable(data, "s4d_lra"), nullptr);
  EXPECT_EQ(FindAccuracyTable(data, "s4d_lra")->row_size(), 7);
  ASSERT_NE(FindEfficiencyTable(data, "s4_table3"), nullptr);
  ASSERT_NE(FindEfficiencyTable(data, "s4_table2"), nullptr);
  EXPECT_EQ(data.Figures().size(), 3u);
  // Spot values, straight from the papers: LRA (arXiv 2011.04006) Tables 1 and 2, S4 (arXiv
  // 2111.00396v3) Table 4.
  EXPECT_DOUBLE_EQ(FindRow(*t1, "BigBird")->printed_avg(), 55.01);
  EXPECT_DOUBLE_EQ(FindRow(*FindAccuracyTable(data, "s4_lra"), "S4 (original, v1)")->path_x().value(),
                   88.10);
  EXPECT_EQ(CitationText(t1->citation()),
            "Tay, Dehghani, Abnar, Shen, Bahri, Pham, Rao, Yang, Ruder, Metzler, ICLR 2021, "
            "arXiv 2011.04006, Table 1, p. 6");
}

TEST(PublishedTest, EmbeddedCopyMatchesTheFilesInTheTree) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  ASSERT_NE(srcdir, nullptr);
  absl::StatusOr<PublishedData> from_dir =
      LoadPublishedDir(std::string(srcdir) + "/lra/results/published");
  ASSERT_TRUE(from_dir.ok()) << from_dir.status();
  const PublishedData embedded = Embedded();
  ASSERT_EQ(from_dir->files.size(), embedded.files.size());
  for (size_t i = 0; i < embedded.files.size(); ++i) {
    EXPECT_EQ(from_dir->files[i].second.SerializeAsString(),
              embedded.files[i].second.SerializeAsString())
        << embedded.files[i].first;
  }
}

// The real check on the transcriptions: printed averages equal the row means within rounding,
// column summaries equal the column statistics, printed ratios follow from the printed values,
// and exactly the cells the data flags (Sinkhorn's average, S4 Table 2's 1.9x) disagree.
TEST(PublishedTest, PublishedNumbersAreSelfConsistent) {
  EXPECT_THAT(CheckPublishedConsistency(Embedded()), IsEmpty());
}

TEST(PublishedTest, ConsistencyCheckCatchesAMistypedNumber) {
  // Swapped digits in one score (36.37 -> 63.37) move the mean by 5.4.
  PublishedData data = Embedded();
  for (auto& [name, file] : data.files) {
    for (AccuracyTable& t : *file.mutable_accuracy()) {
      if (t.id() == "lra_table1") t.mutable_row(0)->mutable_listops()->set_value(63.37);
    }
  }
  std::vector<std::string> problems = CheckPublishedConsistency(data);
  ASSERT_GE(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("lra_table1, row 'Transformer'"));

  // A one-digit slip (71.40 -> 71.50) moves the S4 mean by 0.1 / 6 = 0.017: still caught. (The
  // check's resolution is the 0.01 rounding allowance: a slip must move the mean past it.)
  data = Embedded();
  for (auto& [name, file] : data.files) {
    for (AccuracyTable& t : *file.mutable_accuracy()) {
      if (t.id() == "s4_lra") t.mutable_row(0)->mutable_pathfinder()->set_value(71.50);
    }
  }
  problems = CheckPublishedConsistency(data);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("s4_lra, row 'Transformer'"));

  // A mistyped steps/s (9.3 -> 3.9) breaks its printed relative speed.
  data = Embedded();
  for (auto& [name, file] : data.files) {
    for (EfficiencyTable& t : *file.mutable_efficiency()) {
      if (t.id() != "lra_table2") continue;
      for (EfficiencyRow& row : *t.mutable_row()) {
        if (row.model() == "Linformer") row.mutable_series(0)->set_value(0, 3.9);
      }
    }
  }
  problems = CheckPublishedConsistency(data);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("Linformer"));
  EXPECT_THAT(problems[0], HasSubstr("a typo?"));
}

TEST(PublishedTest, RowsQuotedInSeveralPapersAgree) {
  const PublishedData data = Embedded();
  const AccuracyTable& t1 = *FindAccuracyTable(data, "lra_table1");
  const AccuracyTable& s4 = *FindAccuracyTable(data, "s4_lra");
  int compared = 0;
  for (const AccuracyRow& row : s4.row()) {
    const AccuracyRow* lra = FindRow(t1, row.model());
    if (lra == nullptr) continue;
    ++compared;
    EXPECT_EQ(RowScores(*lra)[0].value, RowScores(row)[0].value) << row.model();
    for (LraTask task : kLraTasks) {
      EXPECT_EQ(RowScore(*lra, task).SerializeAsString(), RowScore(row, task).SerializeAsString())
          << row.model() << " " << LraTaskKey(task);
    }
  }
  EXPECT_EQ(compared, 11);  // every LRA Table 1 model: Table 10 of S4 arXiv v3 repeats them all
  const AccuracyRow* updated = FindRow(s4, "S4 (updated)");
  const AccuracyRow* legs = FindRow(*FindAccuracyTable(data, "s4d_lra"), "S4-LegS");
  ASSERT_NE(updated, nullptr);
  ASSERT_NE(legs, nullptr);
  for (LraTask task : kLraTasks) {
    EXPECT_EQ(RowScore(*updated, task).value(), RowScore(*legs, task).value());
  }
}

// The S4 table is arXiv v3's (Tables 4 and 10), not v2's Table 4: it has Table 10's six extra LRA
// baselines with their printed 6-task averages (a failed Path-X counted as 50).
TEST(PublishedTest, S4TableIsArxivV3WithTheTable10Baselines) {
  const PublishedData data = Embedded();
  const AccuracyTable* s4 = FindAccuracyTable(data, "s4_lra");
  ASSERT_NE(s4, nullptr);
  EXPECT_EQ(s4->citation().table(), "Tables 4 and 10 (arXiv v3)");
  EXPECT_EQ(s4->citation().page(), "pp. 8, 26");
  EXPECT_EQ(s4->avg_convention(), S4_6);
  const std::vector<std::pair<std::string, double>> table10 = {
      {"Local Attention", 46.71}, {"Sparse Trans.", 51.03}, {"Longformer", 52.88},
      {"Linformer", 51.14},       {"Sinkhorn Trans.", 51.23}, {"Synthesizer", 52.40}};
  for (const auto& [model, avg] : table10) {
    const AccuracyRow* row = FindRow(*s4, model);
    ASSERT_NE(row, nullptr) << model;
    EXPECT_DOUBLE_EQ(row->printed_avg(), avg) << model;
    EXPECT_FALSE(row->printed_avg_inconsistent()) << model;
    EXPECT_TRUE(row->path_x().failed()) << model;
  }
}

TEST(PublishedTest, ConventionsOnPublishedRows) {
  const PublishedData data = Embedded();
  const AccuracyRow& transformer = FindAccuracyTable(data, "lra_table1")->row(0);
  // The Transformer row of LRA Table 1: 54.39 under LRA's 5-task average, 53.66 under S4's.
  EXPECT_NEAR(*ConventionAverage(transformer, LRA_5), 54.39, 0.005);
  EXPECT_NEAR(*ConventionAverage(transformer, S4_6), 53.66, 0.005);
  // Sinkhorn: the printed 51.39 is flagged; the true mean is 51.476.
  const AccuracyRow* sinkhorn = FindRow(*FindAccuracyTable(data, "lra_table1"), "Sinkhorn Trans.");
  EXPECT_TRUE(sinkhorn->printed_avg_inconsistent());
  EXPECT_NEAR(*ConventionAverage(*sinkhorn, LRA_5), 51.476, 1e-9);
}

TEST(PublishedTest, BadFilesAreRejectedWithTheirName) {
  absl::StatusOr<PublishedData> r = ParsePublishedFiles(
      {{"x.textproto", "accuracy { id: \"a\" avg_convention: LRA_5 row { model: \"m\" "
                       "listops { value: 136 } } }"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("x.textproto"));
  EXPECT_THAT(r.status().message(), HasSubstr("outside [0, 100]"));
  r = ParsePublishedFiles({{"y.textproto", "accuracy { id: \"a\" avg_convention: LRA_5 }"},
                           {"z.textproto", "accuracy { id: \"a\" avg_convention: S4_6 }"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("duplicate table id"));
  r = ParsePublishedFiles({{"w.textproto",
                            "efficiency { id: \"e\" axis: [1, 2] row { model: \"m\" series { "
                            "quantity: STEPS_PER_SECOND value: [1] } } }"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("1 values for 2 axis points"));
  r = ParsePublishedFiles({{"v.textproto", "accuracy { id: \"a\" rows { } }"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("v.textproto:1:"));
}

}  // namespace
}  // namespace lra::report

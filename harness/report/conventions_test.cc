#include "harness/report/conventions.h"

#include <cmath>

#include "gtest/gtest.h"

namespace lra::report {
namespace {

LraScores Row(double a, double b, double c, double d, double e) {
  LraScores s;
  s[0].value = a;
  s[1].value = b;
  s[2].value = c;
  s[3].value = d;
  s[4].value = e;
  s[5].failed = true;
  return s;
}

TEST(ConventionsTest, LraAverageIgnoresPathX) {
  // Hand-computed: (10 + 20 + 30 + 40 + 50) / 5 = 30, whatever Path-X holds.
  LraScores s = Row(10, 20, 30, 40, 50);
  EXPECT_DOUBLE_EQ(*LraAverage(s), 30.0);
  s[5].failed = false;
  s[5].value = 99;
  EXPECT_DOUBLE_EQ(*LraAverage(s), 30.0);
}

TEST(ConventionsTest, LraAverageNeedsAllFiveTasks) {
  LraScores s = Row(10, 20, 30, 40, 50);
  s[2].value.reset();
  EXPECT_FALSE(LraAverage(s).has_value());
  s = Row(10, 20, 30, 40, 50);
  s[4].failed = true;
  EXPECT_FALSE(LraAverage(s).has_value());
}

TEST(ConventionsTest, S4AverageCountsFailAsFifty) {
  // (10 + 20 + 30 + 40 + 50 + 50) / 6 = 200 / 6.
  S4Average a = ComputeS4Average(Row(10, 20, 30, 40, 50));
  EXPECT_DOUBLE_EQ(a.value, 200.0 / 6.0);
  EXPECT_EQ(a.failed, 1);
  EXPECT_EQ(a.missing, 0);
  // The averaging trap: the LRA Transformer is 54.39 under LRA (arXiv:2011.04006, Table 1) and
  // 53.66 under S4 (arXiv:2111.00396, Table 10).
  LraScores t = Row(36.37, 64.27, 57.46, 42.44, 71.40);
  EXPECT_NEAR(*LraAverage(t), 54.388, 1e-9);
  EXPECT_NEAR(ComputeS4Average(t).value, 53.656666666666666, 1e-9);
}

TEST(ConventionsTest, S4AverageCountsMissingAsFiftyAndSaysSo) {
  LraScores s;
  s[0].value = 80;
  s[3].value = 70;
  // (80 + 70 + 4 * 50) / 6 = 350 / 6.
  S4Average a = ComputeS4Average(s);
  EXPECT_DOUBLE_EQ(a.value, 350.0 / 6.0);
  EXPECT_EQ(a.missing, 4);
  EXPECT_EQ(a.failed, 0);
  // A solved Path-X counts at its value.
  LraScores full = Row(60, 60, 60, 60, 60);
  full[5].failed = false;
  full[5].value = 90;
  EXPECT_DOUBLE_EQ(ComputeS4Average(full).value, 65.0);
}

TEST(ConventionsTest, MeanStdOverSeeds) {
  // 1, 2, 3, 4: mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; sample var 5/3.
  MeanStd m = ComputeMeanStd({1, 2, 3, 4});
  EXPECT_EQ(m.n, 4);
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_NEAR(m.std, std::sqrt(5.0 / 3.0), 1e-15);
  MeanStd one = ComputeMeanStd({42});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.std, 0);
  EXPECT_EQ(ComputeMeanStd({}).n, 0);
  // Large offset: the two-pass formula keeps the spread exact where sum(x^2) would cancel.
  MeanStd big = ComputeMeanStd({1e9 + 1, 1e9 + 3});
  EXPECT_NEAR(big.std, std::sqrt(2.0), 1e-6);
}

TEST(ConventionsTest, TaskNamesAndAliases) {
  EXPECT_EQ(ParseLraTask("listops"), LraTask::kListOps);
  EXPECT_EQ(ParseLraTask("IMDb"), LraTask::kText);
  EXPECT_EQ(ParseLraTask("aan"), LraTask::kRetrieval);
  EXPECT_EQ(ParseLraTask("cifar10"), LraTask::kImage);
  EXPECT_EQ(ParseLraTask("Path-X"), LraTask::kPathX);
  EXPECT_EQ(ParseLraTask("path_x"), LraTask::kPathX);
  EXPECT_EQ(ParseLraTask("pathx"), LraTask::kPathX);
  EXPECT_FALSE(ParseLraTask("fashion_mnist").has_value());
  for (LraTask t : kLraTasks) EXPECT_EQ(ParseLraTask(LraTaskKey(t)), t);
  for (LraTask t : kLraTasks) EXPECT_EQ(ParseLraTask(LraTaskDisplayName(t)), t);
}

// A column matches its key and aliases the way result files spell them.
TEST(ConventionsTest, TaskColumnMatchesKeyAndAliases) {
  TaskColumn c;
  c.key = "fashion_mnist";
  c.aliases = {"fmnist"};
  EXPECT_TRUE(c.Matches("Fashion-MNIST"));
  EXPECT_TRUE(c.Matches("FMNIST"));
  EXPECT_FALSE(c.Matches("mnist"));
}

// Over columns, each average takes exactly the columns the specs put in it.
TEST(ConventionsTest, ColumnAveragesFollowTheColumnFlags) {
  std::vector<TaskColumn> columns(3);
  columns[0].in_lra_average = columns[0].in_s4_average = true;
  columns[1].in_s4_average = true;  // like Path-X
  // columns[2]: an extra task, in neither
  std::vector<TaskScore> scores(3);
  scores[0].value = 60;
  scores[2].value = 99;
  EXPECT_DOUBLE_EQ(*LraAverage(columns, scores), 60.0);
  const S4Average s4 = ComputeS4Average(columns, scores);
  EXPECT_DOUBLE_EQ(s4.value, (60.0 + 50) / 2);
  EXPECT_EQ(s4.missing, 1);
  scores[0].failed = true;
  EXPECT_FALSE(LraAverage(columns, scores).has_value());
}

}  // namespace
}  // namespace lra::report

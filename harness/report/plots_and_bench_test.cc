#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "harness/report/bench_table.h"
#include "core/base/file_util.h"
#include "harness/report/plots.h"
#include "harness/report/result_io.h"
#include "harness/report/test_util.h"

namespace lra::report {
namespace {

namespace fs = std::filesystem;
using harness::BenchResult;
using harness::MetricsRecord;
using ::testing::HasSubstr;

void Keep(const std::string& name, const std::string& text) {
  if (const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR")) {
    std::ofstream(std::string(dir) + "/" + name) << text;
  }
}

BenchResult Bench(const std::string& model, int length, double steps_per_second, double gib,
                  int batch = 32) {
  BenchResult r;
  r.set_model(model);
  r.set_task("text");
  r.set_seq_length(length);
  r.set_batch_size(batch);
  r.set_train_steps_per_second(steps_per_second);
  r.set_examples_per_second(steps_per_second * batch);
  r.set_tokens_per_second(steps_per_second * batch * length);
  r.set_peak_memory_bytes(static_cast<int64_t>(gib * (1 << 30)));
  r.set_threads(2);
  r.set_machine("test machine");
  return r;
}

std::vector<BenchResult> SampleBench() {
  std::vector<BenchResult> v = {
      Bench("s4d", 1024, 2.0, 0.5),         Bench("s4d", 2048, 1.0, 0.75),
      Bench("s4d", 4096, 0.5, 1.25),        Bench("transformer", 1024, 1.0, 1.0),
      Bench("transformer", 2048, 0.25, 3.0), Bench("transformer", 4096, 0, 0),
      Bench("s4d", 1024, 4.0, 0.25),  // a repeat: mean speed, max memory
      Bench("s4d", 1024, 9.0, 0.1, 16),  // other batch size: filtered by batch_size = 32
  };
  v[5].set_skipped_reason("out of memory");
  v[0].set_recurrent_tokens_per_second(50000);
  v[1].set_recurrent_tokens_per_second(52000);
  v[2].set_recurrent_tokens_per_second(51000);
  v[6].set_recurrent_tokens_per_second(54000);
  return v;
}

TEST(BenchTableTest, RelativeSpeedsMeansAndSkips) {
  BenchTableOptions options;
  options.batch_size = 32;
  const BenchTableData t = BuildBenchTable(SampleBench(), options);
  EXPECT_EQ(t.lengths, (std::vector<int>{1024, 2048, 4096}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].model, "transformer");  // the reference row first
  const BenchRow& s4d = t.rows[1];
  // 1K: s4d mean of 2.0 and 4.0 steps/s = 3.0; transformer 1.0 -> 3.0x; memory max(0.5, 0.25).
  EXPECT_EQ(s4d.cells[0].n, 2);
  EXPECT_DOUBLE_EQ(s4d.cells[0].steps_per_second, 3.0);
  EXPECT_DOUBLE_EQ(*s4d.cells[0].relative_speed, 3.0);
  EXPECT_DOUBLE_EQ(s4d.cells[0].peak_memory_gb, 0.5);
  EXPECT_DOUBLE_EQ(*s4d.cells[0].recurrent_tokens_per_second, 52000);
  // 2K: 1.0 / 0.25 = 4x. 4K: the transformer was skipped, so no ratio.
  EXPECT_DOUBLE_EQ(*s4d.cells[1].relative_speed, 4.0);
  EXPECT_FALSE(s4d.cells[2].relative_speed.has_value());
  EXPECT_TRUE(t.rows[0].cells[2].skipped);
  EXPECT_DOUBLE_EQ(*t.rows[0].cells[0].relative_speed, 1.0);
  EXPECT_TRUE(t.has_recurrent);
  ASSERT_EQ(t.notes.size(), 1u);
  EXPECT_THAT(t.notes[0], HasSubstr("No relative speed at 4K"));

  const std::string md = BenchTableMarkdown(t, nullptr);
  EXPECT_THAT(md, HasSubstr("| transformer | 1.00 (1.00x) | 0.250 (1.00x) | skipped (out of memory) |"));
  EXPECT_THAT(md, HasSubstr("| s4d | 3.00 (3.00x) | 1.00 (4.00x) | 0.500 | 0.50 | 0.75 | 1.25 |"));
  EXPECT_THAT(md, HasSubstr("| s4d | 52000 | 52000 | 51000 |"));
}

TEST(BenchTableTest, DifferentBatchSizesCompareExamplesPerSecond) {
  // s4d at batch 16 doing 4 steps/s = 64 ex/s; transformer at 32 doing 1 step/s = 32 ex/s -> 2x.
  const BenchTableData t =
      BuildBenchTable({Bench("s4d", 1024, 4.0, 1, 16), Bench("transformer", 1024, 1.0, 1, 32)}, {});
  EXPECT_DOUBLE_EQ(*t.rows[1].cells[0].relative_speed, 2.0);
  EXPECT_THAT(t.notes[0], HasSubstr("Batch sizes differ"));
  BenchTableOptions other;
  other.task = "listops";
  EXPECT_TRUE(BuildBenchTable(SampleBench(), other).rows.empty());
}

TEST(BenchTableTest, CsvAndJsonParseBack) {
  absl::StatusOr<PublishedData> published = LoadEmbeddedPublished();
  ASSERT_TRUE(published.ok());
  BenchTableOptions options;
  options.batch_size = 32;
  const BenchTableData t = BuildBenchTable(SampleBench(), options);
  const auto rows = ParseCsv(BenchTableCsv(t));
  ASSERT_EQ(rows.size(), 1u + 6);  // header + 3 transformer (one skipped) + 3 s4d
  for (const auto& r : rows) EXPECT_EQ(r.size(), rows[0].size());
  EXPECT_EQ(rows[3][0], "transformer");
  EXPECT_EQ(rows[3].back(), "out of memory");
  const std::string json = BenchTableJson(t, &*published);
  Keep("bench_table.json", json);
  google::protobuf::Struct parsed;
  auto status = google::protobuf::util::JsonStringToMessage(json, &parsed);
  ASSERT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  EXPECT_EQ(parsed.fields().at("ours").list_value().values_size(), 2);
  EXPECT_EQ(parsed.fields().at("published").list_value().values_size(), 3);
  const std::string md = BenchTableMarkdown(t, &*published);
  Keep("bench_table.md", md);
  EXPECT_THAT(md, HasSubstr("4x4 TPU v3"));
  EXPECT_THAT(md, HasSubstr("| Synthesizer | 8.7 | 5.7 | 6.6 (note 1) | 1.9 |"));
  EXPECT_THAT(md, HasSubstr("20.84 images/s"));
  // Printed precision kept: Performer's 8.0 and Linear Trans.'s 0.80.
  EXPECT_THAT(md, HasSubstr("| Performer | 9.5 | 9.4 | 8.7 | 8.0 |"));
  EXPECT_THAT(md, HasSubstr("| 0.37 | 0.57 | 0.80 | 1.03 |"));
}

TEST(PlotsTest, TrainingCurvesFromMetricsJsonl) {
  const fs::path dir = fs::path(::testing::TempDir()) / "curves_run";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string lines;
  for (int step = 0; step <= 1000; step += 50) {
    MetricsRecord r;
    r.set_step(step);
    r.set_split("train");
    r.set_loss(2.3 * std::exp(-step / 400.0) + 0.4);
    r.set_accuracy(0.1 + 0.6 * (1 - std::exp(-step / 300.0)));
    lines += MetricsRecordToJsonLine(r) + "\n";
    if (step % 200 == 0) {
      r.set_split("val");
      r.set_loss(r.loss() + 0.1);
      r.set_accuracy(r.accuracy() - 0.05);
      lines += MetricsRecordToJsonLine(r) + "\n";
    }
  }
  MetricsRecord test;
  test.set_step(1000);
  test.set_split("test");
  test.set_loss(0.6);
  test.set_accuracy(0.62);
  lines += MetricsRecordToJsonLine(test) + "\n";
  ASSERT_TRUE(WriteFileAtomically((dir / "metrics.jsonl").string(), lines).ok());
  harness::RunResult result;
  result.set_task("listops");
  result.set_model("s4d");
  result.set_config("small");
  result.set_seed(3);
  result.set_status(harness::COMPLETED);
  ASSERT_TRUE(WriteRunResult((dir / "result.json").string(), result).ok());

  absl::StatusOr<std::string> path = WriteTrainingCurves(dir.string());
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, (dir / "curves.svg").string());
  absl::StatusOr<std::string> svg = ReadFile(*path);
  ASSERT_TRUE(svg.ok());
  Keep("curves.svg", *svg);
  EXPECT_TRUE(CheckWellFormed(*svg).ok()) << CheckWellFormed(*svg);
  EXPECT_THAT(*svg, HasSubstr("s4d on listops (small, seed 3)"));
  EXPECT_THAT(*svg, HasSubstr(">val</text>"));
  EXPECT_THAT(*svg, HasSubstr(">test</text>"));

  // A missing metrics file is an error naming it.
  absl::StatusOr<std::string> none = WriteTrainingCurves((dir / "nope").string());
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("nope/metrics.jsonl"));
}

TEST(PlotsTest, WriteBenchTablesWritesTablesAndPlot) {
  const fs::path dir = fs::path(::testing::TempDir()) / "bench_out";
  fs::remove_all(dir);
  // One file per (model, task, length, batch): the 1K s4d repeat overwrites the first.
  for (const BenchResult& r : SampleBench()) {
    ASSERT_TRUE(WriteBenchResult((dir / "bench" / BenchFileName(r)).string(), r).ok());
  }
  BenchTableOptions options;
  options.batch_size = 32;
  absl::StatusOr<TableFiles> files =
      WriteBenchTables((dir / "bench").string(), (dir / "tables").string(), options);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->written.size(), 4u);
  absl::StatusOr<std::string> svg = ReadFile((dir / "tables" / "bench.svg").string());
  ASSERT_TRUE(svg.ok());
  Keep("bench.svg", *svg);
  EXPECT_TRUE(CheckWellFormed(*svg).ok()) << CheckWellFormed(*svg);
  EXPECT_THAT(*svg, HasSubstr(">4K</text>"));
  EXPECT_THAT(*svg, HasSubstr(">transformer</text>"));
}

}  // namespace
}  // namespace lra::report

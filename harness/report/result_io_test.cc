#include "harness/report/result_io.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lra::report {
namespace {

namespace fs = std::filesystem;
using harness::BenchResult;
using harness::MetricsRecord;
using harness::RunResult;
using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void WriteText(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

RunResult SampleRun() {
  RunResult r;
  r.set_task("listops");
  r.set_model("s4d");
  r.set_config("small");
  r.set_seed(7);
  r.set_threads(2);
  r.mutable_best()->set_step(400);
  r.mutable_best()->set_val_accuracy(0.375);
  r.mutable_best()->set_test_accuracy(0.3625);
  r.mutable_last()->set_step(600);
  r.mutable_last()->set_val_accuracy(0.35);
  r.mutable_last()->set_test_accuracy(0.34);
  r.set_steps(600);
  r.set_epochs(0.2);
  r.set_wall_seconds(118.5);
  r.set_tokens_per_second(15000.25);
  r.set_peak_memory_bytes(int64_t{3} << 32);  // 12 GiB: needs 64 bits
  r.set_commit("abc1234");
  r.set_machine("test machine");
  r.mutable_data()->set_provenance(harness::GENERATED);
  r.mutable_data()->set_source("listops generator, seed 1");
  r.mutable_budget()->set_description("small: 600 steps");
  r.mutable_budget()->set_max_steps(600);
  r.set_status(harness::COMPLETED);
  return r;
}

TEST(ResultIoTest, RunResultRoundTripsThroughJson) {
  const std::string dir = TempDir("roundtrip");
  const std::string path = dir + "/run/result.json";
  const RunResult in = SampleRun();
  ASSERT_TRUE(WriteRunResult(path, in).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
  absl::StatusOr<RunResult> out = ReadRunResult(path);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->SerializeAsString(), in.SerializeAsString());
  // People read the file: proto field names and enum names, not numbers.
  const std::string json = RunResultToJson(in);
  EXPECT_THAT(json, HasSubstr("\"test_accuracy\": 0.3625"));
  EXPECT_THAT(json, HasSubstr("\"provenance\": \"GENERATED\""));
  EXPECT_THAT(json, HasSubstr("\"status\": \"COMPLETED\""));
  EXPECT_THAT(json, HasSubstr("\"peak_memory_bytes\": \"12884901888\""));
}

TEST(ResultIoTest, UnsetOptionalAccuracyStaysUnset) {
  const std::string dir = TempDir("optional");
  RunResult in = SampleRun();
  in.mutable_last()->clear_test_accuracy();
  ASSERT_TRUE(WriteRunResult(dir + "/result.json", in).ok());
  absl::StatusOr<RunResult> out = ReadRunResult(dir + "/result.json");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->last().has_test_accuracy());
  EXPECT_TRUE(out->best().has_test_accuracy());
}

TEST(ResultIoTest, MalformedFilesNameTheFileAndTheProblem) {
  const std::string dir = TempDir("malformed");
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {"", "the file is empty"},
      {"{\"task\": \"listops\", ", "not a valid RunResult JSON file"},
      {"{\"task\": \"listops\", \"modle\": \"s4d\"}", "modle"},
      {"{\"task\": \"listops\", \"status\": \"COMPLETED\"}", "field 'model' is empty"},
      {"{\"task\": \"listops\", \"model\": \"s4d\"}", "field 'status' is not set"},
      {"{\"task\": \"listops\", \"model\": \"s4d\", \"status\": \"COMPLETED\", "
       "\"best\": {\"test_accuracy\": 36.2}}",
       "was it written in percent?"},
      {"{\"task\": \"listops\", \"model\": \"s4d\", \"status\": \"COMPLETED\", "
       "\"wall_seconds\": \"NaN\"}",
       "'wall_seconds' is not finite"},
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string path = dir + "/case" + std::to_string(i++) + "/result.json";
    WriteText(path, c.text);
    absl::StatusOr<RunResult> r = ReadRunResult(path);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(path)) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.expected)) << r.status();
  }
  absl::StatusOr<RunResult> missing = ReadRunResult(dir + "/nope/result.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(dir + "/nope/result.json"));
}

TEST(ResultIoTest, WriteRejectsInvalidResultAndLeavesNoFile) {
  const std::string dir = TempDir("reject");
  RunResult bad = SampleRun();
  bad.mutable_best()->set_test_accuracy(62.5);
  absl::Status s = WriteRunResult(dir + "/result.json", bad);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("best.test_accuracy"));
  EXPECT_FALSE(fs::exists(dir + "/result.json"));
}

TEST(ResultIoTest, ScanFindsRunsAtAnyDepthAndReportsBadOnes) {
  const std::string dir = TempDir("scan");
  ASSERT_TRUE(WriteRunResult(dir + "/a/result.json", SampleRun()).ok());
  RunResult other = SampleRun();
  other.set_seed(8);
  ASSERT_TRUE(WriteRunResult(dir + "/suite/b/result.json", other).ok());
  WriteText(dir + "/c/result.json", "{oops");
  WriteText(dir + "/c/notes.json", "{}");  // not a result file: ignored
  absl::StatusOr<RunScan> scan = ScanRunResults(dir);
  ASSERT_TRUE(scan.ok()) << scan.status();
  ASSERT_EQ(scan->runs.size(), 2u);
  EXPECT_EQ(scan->runs[0].result.seed(), 7u);
  EXPECT_EQ(scan->runs[1].result.seed(), 8u);
  ASSERT_EQ(scan->errors.size(), 1u);
  EXPECT_THAT(scan->errors[0], HasSubstr(dir + "/c/result.json"));

  absl::StatusOr<RunScan> none = ScanRunResults(dir + "/missing");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("lra train"));
}

TEST(ResultIoTest, BenchResultRoundTripAndScan) {
  const std::string dir = TempDir("bench");
  BenchResult b;
  b.set_model("s4d");
  b.set_task("text");
  b.set_seq_length(1024);
  b.set_batch_size(32);
  b.set_train_steps_per_second(1.5);
  b.set_examples_per_second(48);
  b.set_tokens_per_second(48 * 1024);
  b.set_peak_memory_bytes(1 << 30);
  b.set_recurrent_tokens_per_second(90000);
  b.set_threads(2);
  EXPECT_EQ(BenchFileName(b), "bench-s4d-text-L1024-B32.json");
  ASSERT_TRUE(WriteBenchResult(dir + "/" + BenchFileName(b), b).ok());
  BenchResult t = b;
  t.set_model("transformer");
  t.clear_recurrent_tokens_per_second();
  ASSERT_TRUE(WriteBenchResult(dir + "/" + BenchFileName(t), t).ok());
  absl::StatusOr<BenchScan> scan = ScanBenchResults(dir);
  ASSERT_TRUE(scan.ok()) << scan.status();
  ASSERT_EQ(scan->results.size(), 2u);
  EXPECT_EQ(scan->results[0].SerializeAsString(), b.SerializeAsString());
  EXPECT_FALSE(scan->results[1].has_recurrent_tokens_per_second());

  BenchResult zero = b;
  zero.set_train_steps_per_second(0);
  EXPECT_THAT(WriteBenchResult(dir + "/z.json", zero).message(), HasSubstr("skipped_reason"));
  zero.set_skipped_reason("out of memory");
  EXPECT_TRUE(WriteBenchResult(dir + "/z.json", zero).ok());
}

TEST(ResultIoTest, MetricsJsonlRoundTripAndLineNumbers) {
  const std::string dir = TempDir("metrics");
  MetricsRecord a;
  a.set_step(10);
  a.set_split("train");
  a.set_loss(2.25);
  a.set_accuracy(0.125);
  MetricsRecord b = a;
  b.set_split("val");
  const std::string line = MetricsRecordToJsonLine(a);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_THAT(line, HasSubstr("\"step\":10"));
  // Extra keys from the training loop are allowed; blank lines are skipped.
  WriteText(dir + "/metrics.jsonl", line + "\n\n" + MetricsRecordToJsonLine(b) +
                                        "\n{\"step\": 20, \"split\": \"val\", \"loss\": 1.5, "
                                        "\"accuracy\": 0.5, \"grad_norm\": 3.0}\n");
  absl::StatusOr<std::vector<MetricsRecord>> records = ReadMetricsJsonl(dir + "/metrics.jsonl");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[2].step(), 20);
  EXPECT_EQ((*records)[1].split(), "val");

  WriteText(dir + "/bad.jsonl", line + "\n{\"split\": \"val\", \"loss\": 1}\n");
  absl::StatusOr<std::vector<MetricsRecord>> bad = ReadMetricsJsonl(dir + "/bad.jsonl");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(dir + "/bad.jsonl:2: no \"step\" key"));
  WriteText(dir + "/bad2.jsonl", "step=1\n");
  EXPECT_THAT(ReadMetricsJsonl(dir + "/bad2.jsonl").status().message(),
              HasSubstr("bad2.jsonl:1: expected a JSON object"));
  WriteText(dir + "/bad3.jsonl", "{\"step\": 1, \"split\": \"val\", \"accuracy\": 50}\n");
  EXPECT_THAT(ReadMetricsJsonl(dir + "/bad3.jsonl").status().message(),
              HasSubstr("bad3.jsonl:1: \"accuracy\" is 50"));
}

}  // namespace
}  // namespace lra::report

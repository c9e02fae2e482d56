// OpenTaskData and VerifyDatasets on prepared ListOps: damaged shards are found before training,
// damaged manifests are named as such, a shorter dataset must have been made on purpose.
#include "harness/task_data.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/record_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tasks/registry.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string TmpDir(const std::string& name) {
  fs::path p = fs::path(std::getenv("TEST_TMPDIR")) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// Generated ListOps (300 examples) under `data_dir`; returns the dataset folder.
std::string Prepare(const std::string& data_dir, int max_length = 0) {
  tasks::PrepareOptions o;
  o.task = "listops";
  o.generate = true;
  o.size = 300;
  o.max_length = max_length;
  absl::StatusOr<std::string> dir = tasks::DefaultDatasetDir(data_dir, o);
  EXPECT_TRUE(dir.ok()) << dir.status();
  o.out_dir = *dir;
  absl::Status s = tasks::PrepareTask(o);
  EXPECT_TRUE(s.ok()) << s;
  return *dir;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Rewrites `path` with its records passed through `edit` (valid framing and CRCs).
void EditRecords(const std::string& path,
                 void (*edit)(std::vector<datasets::Example>* records)) {
  std::vector<datasets::Example> records;
  auto reader = datasets::RecordReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::string payload;
  while (*(*reader)->Next(&payload)) {
    records.emplace_back();
    ASSERT_TRUE(records.back().ParseFromString(payload));
  }
  ASSERT_GE(records.size(), 2u);
  edit(&records);
  std::string bytes;
  for (const datasets::Example& e : records) datasets::AppendRecord(e.SerializeAsString(), &bytes);
  WriteAll(path, bytes);
}

// Issue 11, case 1: a test shard with its records reordered, or every label rewritten, with
// valid CRCs, is found when the data is opened, before any training step.
TEST(TaskData, DamagedTestShardIsFoundBeforeTraining) {
  struct Case {
    const char* name;
    void (*edit)(std::vector<datasets::Example>*);
  };
  const Case cases[] = {
      {"reordered", [](std::vector<datasets::Example>* r) { std::reverse(r->begin(), r->end()); }},
      {"relabelled",
       [](std::vector<datasets::Example>* r) {
         for (datasets::Example& e : *r) e.set_label((e.label() + 1) % 10);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string data_dir = TmpDir(std::string("damaged_") + c.name);
    const std::string dir = Prepare(data_dir);
    absl::StatusOr<TaskData> data = OpenTaskData(data_dir, "listops");
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_TRUE(fs::exists(fs::path(dir) / datasets::kVerifyCacheFile));
    EditRecords(dir + "/test-00000.tfrecord", c.edit);
    data = OpenTaskData(data_dir, "listops");
    ASSERT_EQ(data.status().code(), absl::StatusCode::kDataLoss) << data.status();
    EXPECT_THAT(std::string(data.status().message()), HasSubstr("test-00000.tfrecord"));
    EXPECT_THAT(std::string(data.status().message()), HasSubstr("lra verify"));
    EXPECT_THAT(std::string(data.status().message()), HasSubstr("--overwrite"));
  }
}

// Issue 11, case 3: a damaged manifest is reported as damaged, not as "no prepared data".
TEST(TaskData, DamagedManifestIsNamed) {
  const std::string data_dir = TmpDir("bad_manifest");
  const std::string dir = Prepare(data_dir);
  WriteAll(dir + "/manifest.pb", "\xff\xff\xff not a manifest");
  absl::StatusOr<TaskData> data = OpenTaskData(data_dir, "listops");
  ASSERT_EQ(data.status().code(), absl::StatusCode::kDataLoss) << data.status();
  const std::string msg(data.status().message());
  EXPECT_THAT(msg, Not(HasSubstr("no prepared data")));
  EXPECT_THAT(msg, HasSubstr("damaged manifest"));
  EXPECT_THAT(msg, HasSubstr(dir + "/manifest.pb"));
  EXPECT_THAT(msg, HasSubstr("lra verify"));
  // Named explicitly (--dataset) too.
  data = OpenTaskData(data_dir, "listops", fs::path(dir).filename().string());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss) << data.status();
  // And a folder that lost its manifest.pb.
  fs::remove(dir + "/manifest.pb");
  data = OpenTaskData(data_dir, "listops");
  ASSERT_EQ(data.status().code(), absl::StatusCode::kDataLoss) << data.status();
  EXPECT_THAT(std::string(data.status().message()), HasSubstr("manifest.pb is missing"));
}

// Issue 11, case 3: a manifest max_length below the task's trains on prefixes; only a dataset
// prepared shorter on purpose (`prepare --max_length=512`, recorded in its request) is accepted.
TEST(TaskData, ShorterMaxLengthMustBeOnPurpose) {
  const std::string data_dir = TmpDir("short");
  const std::string dir = Prepare(data_dir, 512);
  absl::StatusOr<TaskData> data = OpenTaskData(data_dir, "listops");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->info.max_length, 512);

  datasets::Manifest m = *datasets::ReadManifest(dir);
  m.mutable_provenance()->mutable_options()->erase("request");
  WriteAll(dir + "/manifest.pb", m.SerializeAsString());
  data = OpenTaskData(data_dir, "listops");
  ASSERT_EQ(data.status().code(), absl::StatusCode::kFailedPrecondition) << data.status();
  EXPECT_THAT(std::string(data.status().message()),
              HasSubstr("max_length 512 but the task's lra encoding is 2000"));
  EXPECT_THAT(std::string(data.status().message()), HasSubstr("--max_length=N"));

  // A full-length dataset whose manifest was edited shorter.
  const std::string full = Prepare(TmpDir("edited"));
  m = *datasets::ReadManifest(full);
  m.set_max_length(100);
  WriteAll(full + "/manifest.pb", m.SerializeAsString());
  data = OpenTaskData(fs::path(full).parent_path().string(), "listops");
  ASSERT_EQ(data.status().code(), absl::StatusCode::kFailedPrecondition) << data.status();
  EXPECT_THAT(std::string(data.status().message()), HasSubstr("first 100 tokens"));
}

// Issue 11, case 4: `lra verify` reads every dataset and reports each.
TEST(TaskData, VerifyDatasetsReportsEveryDataset) {
  const std::string data_dir = TmpDir("verify_all");
  const std::string good = Prepare(data_dir);
  const std::string bad = Prepare(data_dir, 512);
  const std::string shard = bad + "/val-00000.tfrecord";
  std::string bytes = ReadAll(shard);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteAll(shard, bytes);
  const std::string broken = data_dir + "/listops-broken";
  fs::create_directories(broken);
  WriteAll(broken + "/manifest.pb", "garbage");

  absl::StatusOr<std::vector<VerifiedDataset>> all = VerifyDatasets(data_dir, "");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  for (const VerifiedDataset& v : *all) {
    SCOPED_TRACE(v.dir);
    if (v.dir == good) {
      EXPECT_TRUE(v.status.ok()) << v.status;
      EXPECT_EQ(v.task, "listops");
      EXPECT_EQ(v.report.shards_hashed, v.report.shards);
      EXPECT_GT(v.report.shards, 0);
    } else if (v.dir == bad) {
      EXPECT_EQ(v.status.code(), absl::StatusCode::kDataLoss);
      EXPECT_THAT(std::string(v.status.message()), HasSubstr("val-00000.tfrecord"));
    } else {
      EXPECT_EQ(v.dir, broken);
      EXPECT_EQ(v.status.code(), absl::StatusCode::kDataLoss);
      EXPECT_THAT(std::string(v.status.message()), HasSubstr("manifest.pb"));
    }
  }
  EXPECT_EQ(VerifyDatasets(data_dir, "listops")->size(), 3u);
  EXPECT_EQ(VerifyDatasets(data_dir, "pathfinder").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(VerifyDatasets(data_dir, "no_such_task").ok());
  EXPECT_EQ(VerifyDatasets(TmpDir("empty"), "").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace lra::harness

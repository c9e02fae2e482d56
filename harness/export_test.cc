// `lra export` end to end below the command line: a tiny S4D run with BatchNorm (so it has
// buffers) and bidirectional kernels is trained on generated ListOps, exported, and every array
// of the archive is compared bit for bit with the model that LoadRun restores from the same
// checkpoint; then the errors a user meets.
#include "harness/export.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "core/base/file_util.h"
#include "core/base/npz.h"
#include "gtest/gtest.h"
#include "harness/trainer.h"
#include "tasks/registry.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

std::string Tmp(const std::string& name) {
  return (fs::path(std::getenv("TEST_TMPDIR")) / name).string();
}

class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::remove_all(Tmp("data"));
    fs::remove_all(Tmp("runs"));
    tasks::PrepareOptions p;
    p.task = "listops";
    p.generate = true;
    p.size = 200;
    p.out_dir = (fs::path(Tmp("data")) / "listops").string();
    ASSERT_TRUE(tasks::PrepareTask(p).ok());

    RunConfig c;
    c.set_task("listops");
    c.set_model("s4d");
    c.set_tier("test");
    c.set_max_length(64);
    for (const char* o : {"d_model=8", "n_layers=2", "d_state=4", "norm=batch",
                          "bidirectional=true"}) {
      c.add_model_option(o);
    }
    TrainConfig* t = c.mutable_train();
    t->set_batch_size(8);
    t->set_steps(6);
    t->set_optimizer("adamw");
    t->set_lr(0.01);
    t->set_weight_decay(0.01);
    t->set_schedule("constant");
    t->set_eval_every(3);
    t->set_eval_examples(16);
    t->set_seed(3);
    TrainOptions o;
    o.data_dir = Tmp("data");
    o.runs_dir = Tmp("runs");
    o.run_name = "tiny";
    absl::StatusOr<RunResult> r = Train(c, o);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  ExportOptions Options(const std::string& checkpoint = "best") {
    ExportOptions o;
    o.run_dir = (fs::path(Tmp("runs")) / "tiny").string();
    o.checkpoint = checkpoint;
    o.data_dir = Tmp("data");
    return o;
  }
};

TEST_F(ExportTest, EveryParameterAndBufferMatchesTheCheckpoint) {
  for (const std::string which : {"best", "last"}) {
    SCOPED_TRACE(which);
    absl::StatusOr<ExportReport> report = ExportRun(Options(which));
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->path, (fs::path(Options().run_dir) / (which + ".npz")).string());
    absl::StatusOr<std::string> bytes = ReadFile(report->path);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(report->bytes, static_cast<int64_t>(bytes->size()));
    absl::StatusOr<std::map<std::string, std::string>> members = ReadZipMembers(*bytes);
    ASSERT_TRUE(members.ok()) << members.status();

    absl::StatusOr<LoadedRun> run = LoadRun(Options().run_dir, which, Tmp("data"));
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(report->step, run->step);
    std::map<std::string, const Tensor*> expected;
    for (const models::ParamGroup& g : run->setup.groups)
      for (const Var& v : g.params) expected[v.name()] = &v.value();
    const int parameters = static_cast<int>(expected.size());
    for (const auto& [name, t] : run->setup.model->Buffers()) expected[name] = t;
    EXPECT_EQ(static_cast<int>(expected.size()), parameters + 6)
        << "three BatchNorms (two blocks, the final norm), each a running mean and variance";
    ASSERT_EQ(members->size(), expected.size() + 1) << "every array plus __meta__.json";
    EXPECT_EQ(report->arrays, static_cast<int>(expected.size()));
    for (const auto& [name, t] : expected) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(members->count(name + ".npy"));
      absl::StatusOr<ParsedNpy> npy = DecodeNpy(members->at(name + ".npy"));
      ASSERT_TRUE(npy.ok()) << npy.status();
      EXPECT_EQ(npy->descr, "<f4");
      std::vector<int64_t> shape;
      for (int i = 0; i < t->rank(); ++i) shape.push_back(t->dim(i));
      EXPECT_EQ(npy->shape, shape);
      ASSERT_EQ(npy->data.size(), t->nbytes());
      EXPECT_EQ(std::memcmp(npy->data.data(), t->data<float>(), t->nbytes()), 0);
    }
    // The documented names (models/s4/README.md): complex C of the bidirectional kernel is
    // [2 directions, H, N/2, 2 (re, im)].
    ASSERT_TRUE(expected.count("layers.1.ssm.c"));
    EXPECT_EQ(expected.at("layers.1.ssm.c")->shape().ToString(),
              Shape({2, 8, 2, 2}).ToString());
    ASSERT_TRUE(expected.count("layers.0.norm.running_var"));

    const std::string meta = members->at("__meta__.json");
    for (const std::string& want : std::vector<std::string>{
             "\"format\": \"lra-npz-1\"", "\"model\": \"s4d\"", "\"run\": \"tiny\"",
          absl::StrCat("\"checkpoint\": \"", which, "\""),
          absl::StrCat("\"step\": ", run->step), "\"d_model\": \"8\"", "\"dt_min\": \"0.001\"",
          "\"norm\": \"batch\"", "\"num_classes\": 10", "\"max_length\": 64",
          "\"ssm\": {\"lr\": 0.001", "\"train\":{", "\"batch_size\":8",
          "{\"name\": \"layers.0.norm.running_mean\", \"shape\": [8], \"dtype\": \"float32\", "
          "\"kind\": \"buffer\"}",
          "{\"name\": \"layers.1.ssm.c\", \"shape\": [2, 8, 2, 2], \"dtype\": \"float32\", "
          "\"kind\": \"parameter\", \"group\": \"ssm_C\"}"}) {
      EXPECT_TRUE(absl::StrContains(meta, want)) << "no " << want << " in\n" << meta;
    }
  }
}

TEST_F(ExportTest, SameCheckpointSameBytes) {
  ExportOptions a = Options(), b = Options();
  a.out = Tmp("a.npz");
  b.out = Tmp("sub/dir/b.npz");  // missing folders are created
  ASSERT_TRUE(ExportRun(a).ok());
  ASSERT_TRUE(ExportRun(b).ok());
  EXPECT_EQ(*ReadFile(a.out), *ReadFile(b.out));
}

TEST_F(ExportTest, ErrorsAreClearAndWriteNothing) {
  const std::string out = Tmp("never.npz");
  auto run = [&](ExportOptions o) {
    o.out = out;
    absl::StatusOr<ExportReport> r = ExportRun(o);
    EXPECT_FALSE(fs::exists(out)) << "a failed export left " << out;
    return r.status();
  };

  ExportOptions unknown = Options();
  unknown.run_dir = Tmp("runs/no-such-run");
  absl::Status s = run(unknown);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.message(), "is not a run folder")) << s;

  // A run that never reached its first validation has last.ckpt only.
  const std::string partial = Tmp("runs/partial");
  fs::remove_all(partial);
  fs::copy(Options().run_dir, partial, fs::copy_options::recursive);
  fs::remove(fs::path(partial) / "best.ckpt");
  ExportOptions no_best = Options();
  no_best.run_dir = partial;
  s = run(no_best);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.message(), "has no best.ckpt")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "--checkpoint=last")) << s;

  ExportOptions format = Options();
  format.format = "safetensors";
  s = run(format);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "--format must be npz")) << s;

  ExportOptions which = Options("middle");
  s = run(which);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "--checkpoint must be best or last")) << s;

  ExportOptions unwritable = Options();
  unwritable.out = "/proc/lra-export/w.npz";
  s = ExportRun(unwritable).status();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "cannot write the export to '/proc/lra-export/w.npz'"))
      << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "--out")) << s;

  ExportOptions folder = Options();
  folder.out = Tmp("");
  s = ExportRun(folder).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "is a folder")) << s;
}

}  // namespace
}  // namespace lra::harness

// The training loop end to end on a tiny generated dataset with the `bag` baseline model:
// resume equality, best-checkpoint selection, stop requests, divergence, and the errors a user
// meets first (missing dataset, unknown model).
#include "harness/trainer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/checkpoint.h"
#include "core/checkpoint.pb.h"
#include "core/checkpoint_format.h"
#include "core/testing/checkpoint_edit.h"
#include "datasets/dataset.h"
#include "gtest/gtest.h"
#include "harness/report/result_io.h"
#include "harness/run_lock.h"
#include "harness/task_data.h"
#include "tasks/specs.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

std::string TmpDir(const std::string& name) {
  fs::path p = fs::path(std::getenv("TEST_TMPDIR")) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

int g_test_label_counts[10];  // filled by MakeDataset

// A ListOps-shaped dataset whose label is the count of token 5 (mod 10): learnable by a bag of
// tokens, so accuracy moves within a few steps.
std::string MakeDataset(const std::string& data_dir) {
  datasets::Manifest header;
  header.set_task("listops");
  header.mutable_vocab()->set_size(18);
  header.mutable_vocab()->set_pad_id(0);
  header.set_max_length(32);
  header.set_num_classes(10);
  header.mutable_provenance()->set_kind(datasets::Provenance::SYNTHETIC);
  header.mutable_provenance()->set_generator("trainer_test");
  (*header.mutable_provenance()->mutable_options())["request"] = "max_length=32";  // on purpose
  const std::string dir = (fs::path(data_dir) / "listops").string();
  auto writer = datasets::DatasetWriter::Create(dir, header);
  EXPECT_TRUE(writer.ok()) << writer.status();
  uint64_t x = 12345;
  std::fill(std::begin(g_test_label_counts), std::end(g_test_label_counts), 0);
  for (const auto& [split, n] : {std::pair<std::string, int>{"train", 256}, {"val", 64}, {"test", 64}}) {
    for (int i = 0; i < n; ++i) {
      datasets::Example ex;
      ex.set_id(split + "/" + std::to_string(i));
      int len = 8 + static_cast<int>(i % 24), fives = 0;
      for (int j = 0; j < len; ++j) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int tok = 1 + static_cast<int>((x >> 33) % 17);
        fives += tok == 5;
        ex.add_tokens(tok);
      }
      ex.set_length(len);
      ex.set_label(fives % 10);
      if (split == "test") ++g_test_label_counts[fives % 10];
      EXPECT_TRUE((*writer)->Add(split, ex).ok());
    }
  }
  EXPECT_TRUE((*writer)->Finish().ok());
  return data_dir;
}

RunConfig TinyConfig() {
  RunConfig c;
  c.set_task("listops");
  c.set_model("bag");
  c.set_tier("test");
  c.add_model_option("d_model=16");
  TrainConfig* t = c.mutable_train();
  t->set_batch_size(16);
  t->set_steps(40);
  t->set_optimizer("adamw");
  t->set_lr(0.01);
  t->set_weight_decay(0.01);
  t->set_schedule("cosine");
  t->set_warmup_steps(4);
  t->set_eval_every(10);
  t->set_seed(7);
  t->set_log_every(5);
  return c;
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = MakeDataset(TmpDir("data"));
    options_.runs_dir = TmpDir("runs");
  }
  TrainOptions options_;
};

// Everything a checkpoint restores into a fresh setup: parameters, Adam moments and step, and
// the trainer's own fields, flattened for a bitwise comparison.
struct Restored {
  int64_t step = 0;
  std::vector<std::vector<float>> tensors;
  std::map<std::string, std::string> metadata;
};

Restored Restore(const std::string& data_dir, const std::string& path) {
  Restored out;
  absl::StatusOr<TaskData> data = OpenTaskData(data_dir, "listops");
  EXPECT_TRUE(data.ok()) << data.status();
  absl::StatusOr<TrainingSetup> setup = MakeTrainingSetup(TinyConfig(), data->info);
  EXPECT_TRUE(setup.ok()) << setup.status();
  TrainingState state;
  for (const models::ParamGroup& g : setup->groups) {
    state.params.insert(state.params.end(), g.params.begin(), g.params.end());
  }
  state.optimizer = setup->optimizer.get();
  Rng dropout(0);
  state.rngs.emplace_back("dropout", &dropout);
  absl::Status loaded = LoadCheckpoint(path, &state);
  EXPECT_TRUE(loaded.ok()) << loaded;
  out.step = state.step;
  for (const Var& p : state.params) out.tensors.push_back(p.value().ToVector());
  for (const Adam::Moments& m : setup->optimizer->moments()) {
    if (m.m.defined()) out.tensors.push_back(m.m.ToVector());
    if (m.v.defined()) out.tensors.push_back(m.v.ToVector());
  }
  out.metadata = state.metadata;
  return out;
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ExpectSameState(const Restored& a, const Restored& b) {
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    ASSERT_EQ(a.tensors[i].size(), b.tensors[i].size());
    EXPECT_EQ(0, std::memcmp(a.tensors[i].data(), b.tensors[i].data(), 4 * a.tensors[i].size()))
        << "tensor " << i << " differs";
  }
}

TEST_F(TrainerTest, ResumedRunEqualsUninterruptedRunBitwise) {
  RunConfig config = TinyConfig();
  options_.run_name = "straight";
  absl::StatusOr<RunResult> straight = Train(config, options_);
  ASSERT_TRUE(straight.ok()) << straight.status();
  EXPECT_EQ(straight->status(), COMPLETED);
  EXPECT_EQ(straight->steps(), 40);

  options_.run_name = "interrupted";
  options_.stop_after_step = 13;  // between evaluations, so the resume replays data position
  absl::StatusOr<RunResult> first = Train(config, options_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status(), INTERRUPTED);
  EXPECT_EQ(first->steps(), 13);
  options_.stop_after_step = -1;
  options_.resume = true;
  absl::StatusOr<RunResult> resumed = Train(config, options_);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->status(), COMPLETED);
  EXPECT_EQ(resumed->steps(), 40);

  for (const char* which : {"last.ckpt", "best.ckpt"}) {
    SCOPED_TRACE(which);
    ExpectSameState(Restore(options_.data_dir, options_.runs_dir + "/straight/" + which),
                    Restore(options_.data_dir, options_.runs_dir + "/interrupted/" + which));
    EXPECT_EQ(FileBytes(options_.runs_dir + "/straight/" + which),
              FileBytes(options_.runs_dir + "/interrupted/" + which));
  }
  EXPECT_EQ(straight->best().step(), resumed->best().step());
  EXPECT_EQ(straight->best().test_accuracy(), resumed->best().test_accuracy());
  EXPECT_EQ(straight->last().test_accuracy(), resumed->last().test_accuracy());
}

// Checkpoints hold no wall-clock field, so one config, seed and thread count gives the same
// bytes on any machine (the wall time goes to metrics.jsonl and result.json only).
TEST_F(TrainerTest, TwoRunsOfOneConfigWriteIdenticalCheckpoints) {
  for (const char* name : {"first", "second"}) {
    options_.run_name = name;
    absl::StatusOr<RunResult> r = Train(TinyConfig(), options_);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  for (const char* which : {"last.ckpt", "best.ckpt"}) {
    SCOPED_TRACE(which);
    const std::string first = FileBytes(options_.runs_dir + "/first/" + which);
    EXPECT_FALSE(first.empty());
    EXPECT_EQ(first, FileBytes(options_.runs_dir + "/second/" + which));
  }
}

// train.max_minutes is a safety net, not a budget: a run it stops is CUT_SHORT (and still
// evaluated), never COMPLETED, and its budget text does not mention the cap.
// TrainStep is ComputeGradients then ApplyUpdate (the split data-parallel training and gradient
// accumulation build on): parameters equal bitwise after several steps, ComputeGradients alone
// leaves the parameters untouched and fills their gradients, and ApplyUpdate clears them.
TEST_F(TrainerTest, TrainStepIsComputeGradientsThenApplyUpdate) {
  absl::StatusOr<TaskData> data = OpenTaskData(options_.data_dir, "listops");
  ASSERT_TRUE(data.ok()) << data.status();
  RunConfig config = TinyConfig();
  config.mutable_train()->set_grad_clip(0.5);  // so the update path clips
  absl::StatusOr<TrainingSetup> whole = MakeTrainingSetup(config, data->info);
  absl::StatusOr<TrainingSetup> halves = MakeTrainingSetup(config, data->info);
  ASSERT_TRUE(whole.ok() && halves.ok());
  datasets::ReaderOptions ro;
  ro.batch_size = 16;
  absl::StatusOr<std::unique_ptr<datasets::DatasetReader>> reader =
      datasets::DatasetReader::Open(data->dir, "train", ro);
  ASSERT_TRUE(reader.ok()) << reader.status();
  Rng dropout_a(3), dropout_b(3);
  auto values = [](const TrainingSetup& s) {
    std::vector<std::vector<float>> out;
    for (const Var& p : s.optimizer->Parameters()) out.push_back(p.value().ToVector());
    return out;
  };
  for (int64_t step = 0; step < 3; ++step) {
    datasets::Batch batch;
    absl::StatusOr<bool> more = (*reader)->Next(&batch);
    ASSERT_TRUE(more.ok() && *more);
    const StepResult a = TrainStep(*whole, ToModelBatch(batch), batch.labels, step, dropout_a);

    const std::vector<std::vector<float>> before = values(*halves);
    const StepResult b = ComputeGradients(*halves, ToModelBatch(batch), batch.labels, dropout_b);
    EXPECT_EQ(values(*halves), before) << "ComputeGradients changed a parameter";
    EXPECT_EQ(b.lr, 0);
    int with_grad = 0;
    for (const Var& p : halves->optimizer->Parameters()) with_grad += p.has_grad();
    EXPECT_GT(with_grad, 0) << "ComputeGradients left no gradient";
    const double lr = ApplyUpdate(*halves, step);
    for (const Var& p : halves->optimizer->Parameters()) {
      EXPECT_FALSE(p.has_grad()) << p.name() << ": ApplyUpdate left its gradient";
    }

    EXPECT_EQ(a.loss, b.loss);
    EXPECT_EQ(a.correct, b.correct);
    EXPECT_EQ(a.lr, lr);
    EXPECT_EQ(values(*whole), values(*halves)) << "step " << step;
  }
}

TEST_F(TrainerTest, TimeCapMarksTheRunCutShort) {
  RunConfig config = TinyConfig();
  config.mutable_train()->set_max_minutes(1e-9);
  options_.run_name = "capped";
  absl::StatusOr<RunResult> r = Train(config, options_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status(), CUT_SHORT);
  EXPECT_LT(r->steps(), 40);
  EXPECT_NE(r->status_message().find("safety net"), std::string::npos) << r->status_message();
  EXPECT_TRUE(r->last().has_test_accuracy());
  EXPECT_EQ(r->budget().description(), "test: 40 steps x batch 16");
}

TEST_F(TrainerTest, BestCheckpointIsTheBestValidationStep) {
  options_.run_name = "best";
  absl::StatusOr<RunResult> r = Train(TinyConfig(), options_);
  ASSERT_TRUE(r.ok()) << r.status();
  auto metrics = report::ReadMetricsJsonl(options_.runs_dir + "/best/metrics.jsonl");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  double best = -1;
  int best_step = -1;
  for (const MetricsRecord& m : *metrics) {
    if (m.split() == "val" && m.accuracy() > best) {
      best = m.accuracy();
      best_step = m.step();
    }
  }
  EXPECT_EQ(r->best().step(), best_step);
  EXPECT_DOUBLE_EQ(r->best().val_accuracy(), best);
  EXPECT_GT(r->best().val_accuracy(), 0.2) << "the bag model should learn the count of 5s a bit";
  EXPECT_DOUBLE_EQ(r->data().test_majority_accuracy(),
                   *std::max_element(std::begin(g_test_label_counts), std::end(g_test_label_counts)) / 64.0);
  EXPECT_EQ(Restore(options_.data_dir, options_.runs_dir + "/best/best.ckpt").step, best_step);
  absl::StatusOr<EvalResult> eval =
      EvaluateRun(options_.runs_dir + "/best", "best", "test", options_.data_dir);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_DOUBLE_EQ(eval->accuracy, r->best().test_accuracy());
}

// A huge learning rate gives a finite but absurd loss (the lr=1e30 gave 7e29 on S4D; the
// bag model's loss overflows at that rate, so 1e4 here): DIVERGED by the loss ceiling, 100 ln C.
TEST_F(TrainerTest, AbsurdLossStopsAsDiverged) {
  RunConfig config = TinyConfig();
  config.mutable_train()->set_lr(1e4);
  config.mutable_train()->set_schedule("constant");
  options_.run_name = "diverged";
  absl::StatusOr<RunResult> r = Train(config, options_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status(), DIVERGED);
  EXPECT_NE(r->status_message().find("above the ceiling 230.2"), std::string::npos)
      << r->status_message();
  EXPECT_LT(r->steps(), 40);
}

// train.lr=inf with checkpoint_every=1: the first update makes the parameters non-finite. The
// old loop saved them as last.ckpt and called it "the last good checkpoint"; now nothing is
// written and the message says so.
TEST_F(TrainerTest, DivergedBeforeAnyCheckpointWritesNoneAndSaysSo) {
  RunConfig config = TinyConfig();
  config.mutable_train()->set_lr(std::numeric_limits<double>::infinity());
  config.mutable_train()->set_schedule("constant");
  config.mutable_train()->set_checkpoint_every(1);
  options_.run_name = "inf";
  absl::StatusOr<RunResult> r = Train(config, options_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status(), DIVERGED);
  EXPECT_NE(r->status_message().find("no checkpoint was written before it diverged"),
            std::string::npos)
      << r->status_message();
  EXPECT_NE(r->status_message().find("non-finite"), std::string::npos) << r->status_message();
  EXPECT_FALSE(fs::exists(options_.runs_dir + "/inf/last.ckpt"));
  EXPECT_FALSE(fs::exists(options_.runs_dir + "/inf/best.ckpt"));
}


// Every trainer field of a checkpoint is range-checked on resume, naming field, value and range
// (the old reader resumed step=-1000 for 1,020 steps and let epoch=3e9 overflow).
TEST_F(TrainerTest, CheckpointFieldsOutOfRangeAreRefusedOnResume) {
  const RunConfig config = TinyConfig();
  struct Case {
    std::function<void(core::CheckpointProto*)> edit;
    std::string expected;
  };
  auto meta = [](const char* key, const char* value) {
    return [key, value](core::CheckpointProto* p) { (*p->mutable_metadata())[key] = value; };
  };
  const std::vector<Case> cases = {
      {[](core::CheckpointProto* p) { p->set_step(-1000); }, "step = -1000 is outside [0, 2^53]"},
      {[](core::CheckpointProto* p) { p->set_step(1000); }, "'step' = 1000 is outside [0, 40]"},
      {[](core::CheckpointProto* p) { p->set_optimizer_step(12); },
       "'optimizer_step' = 12 is outside [13, 13]"},
      {meta("epoch", "3000000000"), "'epoch' = 3000000000 is outside [0, 13]"},
      {meta("epoch", "3e9"), "'epoch' is '3e9', not an integer"},
      {meta("batch_in_epoch", "-1"), "'batch_in_epoch' = -1 is outside [0, 13]"},
      {meta("best_step", "14"), "'best_step' = 14 is outside [-1, 13]"},
      {meta("train_tokens", "-5"), "'train_tokens' = -5 is outside"},
      {meta("best_val", "1.5"), "'best_val' = 1.5 is outside [-1, 1]"},
      {meta("best_test_loss", "nan"), "'best_test_loss' = nan is outside"},
      {meta("window_correct", "99"), "'window_correct' = 99 is outside [0, 48]"},
      {[](core::CheckpointProto* p) { p->mutable_rngs(0)->set_stream(77); },
       "'rng dropout (seed, stream)' = ("},
  };
  options_.run_name = "edited";
  options_.stop_after_step = 13;
  ASSERT_TRUE(Train(config, options_).ok());
  const std::string last = options_.runs_dir + "/edited/last.ckpt";
  const std::string good = FileBytes(last);
  options_.stop_after_step = -1;
  options_.resume = true;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    std::ofstream(last, std::ios::binary | std::ios::trunc) << good;
    testing::EditCheckpoint(last, c.edit);
    absl::StatusOr<RunResult> r = Train(config, options_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find(last), std::string::npos) << r.status();
  }
}

// `lra eval` on a checkpoint holding a NaN is an error, not "loss -nan" with success.
TEST_F(TrainerTest, EvalRefusesANonFiniteCheckpoint) {
  RunConfig config = TinyConfig();
  config.mutable_train()->set_steps(10);
  options_.run_name = "nan";
  ASSERT_TRUE(Train(config, options_).ok());
  const std::string best = options_.runs_dir + "/nan/best.ckpt";
  testing::EditCheckpoint(best, [](core::CheckpointProto* p) {
    std::string data = p->params(0).data();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(&data[0], &nan, 4);
    p->mutable_params(0)->set_data(data);
  });
  absl::StatusOr<EvalResult> eval =
      EvaluateRun(options_.runs_dir + "/nan", "best", "test", options_.data_dir);
  ASSERT_FALSE(eval.ok()) << "loss " << eval->loss;
  EXPECT_NE(eval.status().message().find("non-finite value (nan)"), std::string::npos)
      << eval.status();
}

// metrics.jsonl of a resumed run equals the uninterrupted run's (wall-clock fields aside) even
// when the checkpoint falls inside a log window (checkpoint_every not a multiple of log_every),
// and so do the checkpoints, byte for byte.
TEST_F(TrainerTest, ResumedRunWritesTheSameMetricsAndCheckpoints) {
  RunConfig config = TinyConfig();
  config.mutable_train()->set_checkpoint_every(7);
  options_.run_name = "straight";
  ASSERT_TRUE(Train(config, options_).ok());
  options_.run_name = "resumed";
  options_.stop_after_step = 13;
  ASSERT_TRUE(Train(config, options_).ok());
  options_.stop_after_step = -1;
  options_.resume = true;
  ASSERT_TRUE(Train(config, options_).ok());
  auto lines = [&](const std::string& run) {
    absl::StatusOr<std::vector<MetricsRecord>> m =
        report::ReadMetricsJsonl(options_.runs_dir + "/" + run + "/metrics.jsonl");
    EXPECT_TRUE(m.ok()) << m.status();
    std::vector<std::string> out;
    for (MetricsRecord r : *m) {
      r.clear_wall_seconds();
      r.clear_tokens_per_second();
      out.push_back(report::MetricsRecordToJsonLine(r));
    }
    return out;
  };
  const std::vector<std::string> straight = lines("straight"), resumed = lines("resumed");
  EXPECT_GE(straight.size(), 12u);
  EXPECT_EQ(straight, resumed);
  for (const char* which : {"last.ckpt", "best.ckpt"}) {
    EXPECT_EQ(FileBytes(options_.runs_dir + "/straight/" + which),
              FileBytes(options_.runs_dir + "/resumed/" + which))
        << which;
  }
}

// A line of metrics.jsonl that cannot be written stops the run with an error naming the file.
TEST_F(TrainerTest, MetricsWriteFailureStopsTheRun) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  fs::create_directories(options_.runs_dir + "/full");
  fs::create_symlink("/dev/full", options_.runs_dir + "/full/metrics.jsonl");
  options_.run_name = "full";
  absl::StatusOr<RunResult> r = Train(TinyConfig(), options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("metrics.jsonl: write failed"), std::string::npos)
      << r.status();
}

// --resume of a run that does not exist creates nothing; a run with no checkpoint yet (it
// failed before its first) starts again from step 0 and ends as an uninterrupted run does.
TEST_F(TrainerTest, ResumeWithoutCheckpointStartsFromZeroAndMissingRunCreatesNothing) {
  RunConfig config = TinyConfig();
  options_.run_name = "nothing";
  options_.resume = true;
  absl::StatusOr<RunResult> r = Train(config, options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_NE(r.status().message().find("Drop --resume"), std::string::npos) << r.status();
  EXPECT_FALSE(fs::exists(options_.runs_dir + "/nothing"));

  options_.resume = false;
  options_.run_name = "straight";
  ASSERT_TRUE(Train(config, options_).ok());
  options_.run_name = "crashed";
  options_.stop_after_step = 3;  // before the first evaluation; then lose the checkpoint
  ASSERT_TRUE(Train(config, options_).ok());
  fs::remove(options_.runs_dir + "/crashed/last.ckpt");
  options_.stop_after_step = -1;
  absl::StatusOr<RunResult> again = Train(config, options_);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("starts again from step 0"), std::string::npos);
  options_.resume = true;
  r = Train(config, options_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status(), COMPLETED);
  EXPECT_EQ(FileBytes(options_.runs_dir + "/straight/last.ckpt"),
            FileBytes(options_.runs_dir + "/crashed/last.ckpt"));
}

// --resume with another config is refused, naming every field that differs.
TEST_F(TrainerTest, ResumeWithADifferentConfigNamesTheFields) {
  RunConfig config = TinyConfig();
  options_.run_name = "changed";
  options_.stop_after_step = 5;
  ASSERT_TRUE(Train(config, options_).ok());
  options_.stop_after_step = -1;
  options_.resume = true;
  config.mutable_train()->set_lr(0.02);
  config.mutable_train()->set_steps(60);
  config.mutable_train()->set_max_minutes(30);  // a safety net: allowed to change
  absl::StatusOr<RunResult> r = Train(config, options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("train.lr: 0.01 -> 0.02"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.steps: 40 -> 60"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("max_minutes"), std::string::npos) << msg;
  config = TinyConfig();
  config.mutable_train()->set_max_minutes(30);
  r = Train(config, options_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status(), COMPLETED);
}

// Two processes on one run folder: the second is refused and told which process holds it.
TEST_F(TrainerTest, SecondProcessOnARunFolderIsRefusedAndToldWhoHoldsIt) {
  const std::string run_dir = options_.runs_dir + "/locked";
  fs::create_directories(run_dir);
  int locked[2], release[2];
  ASSERT_EQ(pipe(locked), 0);
  ASSERT_EQ(pipe(release), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // holds the lock until the parent closes `release`
    close(locked[0]);
    close(release[1]);
    absl::StatusOr<std::unique_ptr<RunLock>> lock = RunLock::Acquire(run_dir, "train");
    char c = lock.ok() ? 'y' : 'n';
    if (write(locked[1], &c, 1) != 1) _exit(2);
    if (read(release[0], &c, 1) < 0) _exit(3);
    _exit(lock.ok() ? 0 : 1);
  }
  close(release[0]);
  close(locked[1]);
  char c = 0;
  ASSERT_EQ(read(locked[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  options_.run_name = "locked";
  absl::StatusOr<RunResult> r = Train(TinyConfig(), options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find(absl::StrCat("pid: ", child, ", host: ")), std::string::npos) << msg;
  EXPECT_NE(msg.find("started: 20"), std::string::npos) << msg;
  EXPECT_NE(msg.find("command: lra train"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(run_dir + "/config.txt"));
  close(release[1]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  r = Train(TinyConfig(), options_);  // released when the holder exits
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST_F(TrainerTest, MissingDatasetSaysWhichPrepareCommandToRun) {
  RunConfig config = TinyConfig();
  config.set_task("pathfinder");
  absl::StatusOr<RunResult> r = Train(config, options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("lra -- prepare --task=pathfinder"), std::string::npos)
      << r.status();
}

TEST_F(TrainerTest, UnknownModelListsTheRegisteredOnes) {
  RunConfig config = TinyConfig();
  config.set_model("no_such_model");
  absl::StatusOr<RunResult> r = Train(config, options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("bag"), std::string::npos) << r.status();
}

TEST_F(TrainerTest, UnknownModelOptionIsAnError) {
  RunConfig config = TinyConfig();
  config.add_model_option("no_such_option=3");
  absl::StatusOr<RunResult> r = Train(config, options_);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no_such_option"), std::string::npos) << r.status();
}

// S4's recipes run trainer.max_epochs epochs under a cosine schedule of
// scheduler.num_training_steps, which may be longer: the lr at the last step is then not 0.
TEST_F(TrainerTest, CosineScheduleRunsOverScheduleStepsWhenSet) {
  absl::StatusOr<TaskData> data = OpenTaskData(options_.data_dir, "listops");
  ASSERT_TRUE(data.ok()) << data.status();
  RunConfig config = TinyConfig();  // 40 steps, warmup 4
  absl::StatusOr<TrainingSetup> plain = MakeTrainingSetup(config, data->info);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->schedule->Factor(40), LrSchedule::S4Cosine(4, 40).Factor(40));
  config.mutable_train()->set_schedule_steps(80);
  absl::StatusOr<TrainingSetup> longer = MakeTrainingSetup(config, data->info);
  ASSERT_TRUE(longer.ok()) << longer.status();
  EXPECT_EQ(longer->schedule->Factor(40), LrSchedule::S4Cosine(4, 80).Factor(40));
  EXPECT_GT(longer->schedule->Factor(40), 0.4);  // halfway through the decay: about 0.5

  config.mutable_train()->set_schedule_steps(20);
  absl::StatusOr<TrainingSetup> shorter = MakeTrainingSetup(config, data->info);
  ASSERT_FALSE(shorter.ok());
  EXPECT_NE(shorter.status().message().find("train.schedule_steps"), std::string::npos);
}

// "lra_cosine" is LRA's cosine_decay (core/optim/schedule.h), distinct from S4's "cosine", and
// like LRA's linear_warmup it needs warmup_steps > 0.
TEST_F(TrainerTest, LraCosineScheduleIsLrasAndNeedsWarmup) {
  absl::StatusOr<TaskData> data = OpenTaskData(options_.data_dir, "listops");
  ASSERT_TRUE(data.ok()) << data.status();
  RunConfig config = TinyConfig();
  config.mutable_train()->set_schedule("lra_cosine");
  absl::StatusOr<TrainingSetup> setup = MakeTrainingSetup(config, data->info);
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_EQ(setup->schedule->kind(), LrSchedule::Kind::kLraCosine);
  EXPECT_DOUBLE_EQ(setup->schedule->Factor(40), LrSchedule::LraCosine(4, 40).Factor(40));
  EXPECT_GT(setup->schedule->Factor(40), 0.0);  // S4's cosine is 0 at the last step
  config.mutable_train()->set_warmup_steps(0);
  setup = MakeTrainingSetup(config, data->info);
  ASSERT_FALSE(setup.ok());
  EXPECT_NE(setup.status().message().find("warmup_steps"), std::string::npos) << setup.status();
}

TEST_F(TrainerTest, ExistingRunIsNotOverwritten) {
  options_.run_name = "twice";
  RunConfig config = TinyConfig();
  config.mutable_train()->set_steps(2);
  ASSERT_TRUE(Train(config, options_).ok());
  absl::StatusOr<RunResult> again = Train(config, options_);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("--resume"), std::string::npos);
}

}  // namespace
}  // namespace lra::harness

#include "harness/memory_check.h"

#include <malloc.h>

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "core/random.h"
#include "gtest/gtest.h"
#include "core/base/status_macros.h"
#include "harness/config.h"
#include "harness/system_info.h"
#include "harness/trainer.h"
#include "models/registry.h"
#include "models/testing/spec_task.h"
#include "tasks/specs.h"

namespace lra::harness {
namespace {

models::TaskInfo ListOps(int length) {
  return models::TaskInfo{"listops", 18, 0, 10, length, false, false, "mean"};
}

RunConfig Config(const std::string& model, int batch, std::vector<std::string> options) {
  RunConfig c;
  c.set_task("listops");
  c.set_model(model);
  c.set_tier("test");
  TrainConfig* t = c.mutable_train();
  t->set_batch_size(batch);
  t->set_steps(10);
  t->set_lr(1e-3);
  t->set_eval_every(10);
  t->set_optimizer("adamw");
  for (const std::string& o : options) c.add_model_option(o);
  return c;
}

// Issue 11 item 6: sizes that used to end in bad_alloc or an out-of-memory abort are refused
// before anything is allocated, with the estimate and the machine's memory in the message.
TEST(MemoryCheck, HugeSizesAreRefusedBeforeAllocating) {
  const int64_t machine = MachineMemoryBytes();
  ASSERT_GT(machine, 0);
  const std::vector<RunConfig> huge = {
      Config("s4d", 32, {"d_model=1000000"}),
      Config("transformer", 32, {"d_model=1000000"}),
      Config("s4d", 2000000000, {}),
      Config("transformer", 2000000000, {}),
      Config("bag", 2000000000, {}),
      Config("s4d", 32, {"n_layers=100000000"}),
      Config("s4", 32, {"n_layers=100000000"}),
      Config("transformer", 32, {"n_layers=100000000"}),
      Config("synthesizer", 2000000000, {}),
      Config("synthesizer", 32, {"n_layers=100000000"}),
  };
  for (const RunConfig& c : huge) {
    const std::string what = c.model() + " " + c.ShortDebugString();
    absl::StatusOr<TrainingSetup> setup = MakeTrainingSetup(c, ListOps(2000));
    ASSERT_FALSE(setup.ok()) << what;
    EXPECT_EQ(setup.status().code(), absl::StatusCode::kResourceExhausted) << what;
    const std::string m(setup.status().message());
    EXPECT_NE(m.find("needs at least"), std::string::npos) << m;
    EXPECT_NE(m.find("more than this machine's"), std::string::npos) << m;
    EXPECT_NE(m.find("train.batch_size"), std::string::npos) << m;
  }
  // The machine's size is what decides: the default config fits 64 GiB and not 1 MiB; a config
  // whose estimate is up to kEstimateSlack times the memory is let through (it may fit).
  EXPECT_TRUE(CheckTrainingMemory(Config("s4d", 32, {}), ListOps(2000), int64_t{64} << 30).ok());
  EXPECT_EQ(CheckTrainingMemory(Config("s4d", 32, {}), ListOps(2000), 1 << 20).code(),
            absl::StatusCode::kResourceExhausted);
  const double estimate = **EstimateTrainingBytes(Config("s4d", 32, {}), ListOps(2000));
  EXPECT_TRUE(CheckTrainingMemory(Config("s4d", 32, {}), ListOps(2000),
                                  static_cast<int64_t>(estimate / 2))
                  .ok());
  EXPECT_FALSE(CheckTrainingMemory(Config("s4d", 32, {}), ListOps(2000),
                                   static_cast<int64_t>(estimate / 3))
                   .ok());
}

// The estimate against the measured peak RSS of a training step, for every registered model on
// every task it has a config for (the registry and the task specs drive it: a new model or task
// is covered without editing this file).
//
// Shapes: the model's smoke config for the task with its sizes raised where the model has the
// option (d_model 64, n_layers 2, heads 4, mlp_dim 128), batch 8 x 512 tokens per document:
// activations of tens of MB, above the process's other allocations, and a step in about 0.1 s.
//
// Bounds (derived from what the check needs, harness/memory_check.h): the estimate is never
// below the measured peak (else a config that does not fit could pass the check and meet the
// OOM killer) and, less the fixed allowance kFixedStepBytes, at most kEstimateSlack times it
// (else a config that fits could be refused). The allowance is left out of the upper bound
// because it stands for state (thread stacks, plans, oneDNN primitives) that a process already
// holds before its first step, which the peak's growth does not see; at these sizes it would
// otherwise dominate the smallest models (the bag, S4 at d_model 64: 3-25 MB measured).

// A task's TaskInfo from its registered spec (default encoding) at `length` tokens per document.
absl::StatusOr<models::TaskInfo> TaskAt(const std::string& name, int length) {
  return models::testing::TaskInfoFromSpec(name, "", length);
}

// The model's smoke config for `task` with larger sizes (those of the options the model has),
// batch `batch`; NotFound when the model has no config for the task.
absl::StatusOr<RunConfig> MeasuredConfig(const models::ModelInfo& m, const std::string& task,
                                         int batch) {
  RunConfig overrides;
  overrides.mutable_train()->set_batch_size(batch);
  LRA_ASSIGN_OR_RETURN(RunConfig c, ResolveRunConfig(task, m.name, "smoke", overrides));
  const std::vector<std::pair<std::string, std::string>> sizes = {
      {"d_model", "64"}, {"n_layers", "2"}, {"heads", "4"}, {"mlp_dim", "128"}};
  for (const auto& [name, value] : sizes)
    for (const models::OptionSpec& o : m.options)
      if (o.name == name) c.add_model_option(name + "=" + value);
  return c;
}

// Peak RSS growth of one training step (model built, forward, backward, AdamW update) of
// `config` on `task`, measured as `lra bench` measures a point: what earlier cases left cached
// is handed back and the kernel's high-water mark restarted first.
double MeasuredStepBytes(const RunConfig& config, const models::TaskInfo& task) {
  BufferPool::Get().Trim();
  malloc_trim(0);
  ResetPeakRss();
  const int64_t before = CurrentRssBytes();
  {
    absl::StatusOr<TrainingSetup> setup = MakeTrainingSetup(config, task);
    EXPECT_TRUE(setup.ok()) << setup.status();
    if (!setup.ok()) return 0;
    const int batch = config.train().batch_size(), length = task.max_length;
    Rng rng(1);
    auto tokens = [&] {
      std::vector<int32_t> t(int64_t{batch} * length);
      for (int32_t& x : t) x = 1 + static_cast<int32_t>(rng.UniformInt(task.vocab_size - 1));
      return t;
    };
    std::vector<int32_t> t1 = tokens(), t2 = tokens(), lengths(batch, length), labels(batch);
    for (int32_t& l : labels) l = static_cast<int32_t>(rng.UniformInt(task.num_classes));
    models::Batch b;
    b.batch_size = batch;
    b.length = length;
    b.tokens = t1.data();
    b.lengths = lengths.data();
    if (task.pair) {
      b.length2 = length;
      b.tokens2 = t2.data();
      b.lengths2 = lengths.data();
    }
    Rng dropout = rng.Stream(RngStream::kDropout);
    TrainStep(*setup, b, labels, 0, dropout);
  }
  return double(PeakRssBytes() - before);
}

TEST(MemoryCheck, EveryModelOnEveryTaskIsWithinAFactorOfTheMeasuredPeak) {
  if (!ResetPeakRss()) GTEST_SKIP() << "this kernel does not allow resetting the peak RSS";
  int cases = 0;
  for (const models::ModelInfo* m : models::AllModels()) {
    if (!m->estimate) continue;  // built without a memory check (models/model.h)
    for (const std::string& t : tasks::ListTasks()) {
      absl::StatusOr<RunConfig> config = MeasuredConfig(*m, t, 8);
      if (absl::IsNotFound(config.status())) continue;
      ASSERT_TRUE(config.ok()) << m->name << " " << t << ": " << config.status();
      absl::StatusOr<models::TaskInfo> task = TaskAt(t, 512);
      ASSERT_TRUE(task.ok()) << task.status();
      absl::StatusOr<std::optional<double>> estimate = EstimateTrainingBytes(*config, *task);
      ASSERT_TRUE(estimate.ok() && estimate->has_value()) << m->name << " " << t;
      const double measured = MeasuredStepBytes(*config, *task);
      std::printf("%s/%s: estimate %.1f MB, measured peak %.1f MB (ratio %.2f)\n",
                  m->name.c_str(), t.c_str(), **estimate / 1e6, measured / 1e6,
                  **estimate / measured);
      EXPECT_GE(**estimate, measured) << m->name << " on " << t;
      EXPECT_LE(**estimate - kFixedStepBytes, kEstimateSlack * measured) << m->name << " on " << t;
      ++cases;
    }
  }
  EXPECT_GT(cases, 0);
}

// The estimate's growth with the length covers the measured growth, per model (Text task,
// batch 4, 512 -> 1024 tokens): the fixed allowance and the parameters cancel, so a tensor the
// estimate misses shows whole. One of B heads L^2 floats per layer is 4 x 4 x 1024^2 x 4 bytes
// = 64 MB at 1024 and 16 MB at 512: its 48 MB of growth per layer exceeds the slack of the
// estimate's linear terms at these sizes (a few MB), so a model whose estimate misses an
// O(L^2) tensor fails here even where the single-point bound above would hide it.
TEST(MemoryCheck, EstimateGrowthWithLengthCoversTheMeasuredGrowth) {
  if (!ResetPeakRss()) GTEST_SKIP() << "this kernel does not allow resetting the peak RSS";
  int cases = 0;
  for (const models::ModelInfo* m : models::AllModels()) {
    if (!m->estimate) continue;
    absl::StatusOr<RunConfig> config = MeasuredConfig(*m, "text", 4);
    if (absl::IsNotFound(config.status())) continue;
    ASSERT_TRUE(config.ok()) << m->name << ": " << config.status();
    double estimate[2], measured[2];
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<models::TaskInfo> task = TaskAt("text", 512 << i);
      ASSERT_TRUE(task.ok()) << task.status();
      estimate[i] = **EstimateTrainingBytes(*config, *task);
      measured[i] = MeasuredStepBytes(*config, *task);
    }
    std::printf("%s: 512 -> 1024 tokens: estimate +%.1f MB, measured +%.1f MB\n",
                m->name.c_str(), (estimate[1] - estimate[0]) / 1e6,
                (measured[1] - measured[0]) / 1e6);
    EXPECT_GE(estimate[1] - estimate[0], measured[1] - measured[0]) << m->name;
    ++cases;
  }
  EXPECT_GT(cases, 0);
}

// Issue 15: the Synthesizer at LRA Table 2's Text paper config, batch 8 x 3K tokens, was killed by
// the OOM killer on a 24 GiB machine; its estimate now covers what it holds (held to the
// measured peak below), so a machine too small for it gets the error instead.
TEST(MemoryCheck, SynthesizerAtTable2SizesIsRefusedOnASmallMachine) {
  RunConfig overrides;
  overrides.mutable_train()->set_batch_size(8);
  absl::StatusOr<RunConfig> c = ResolveRunConfig("text", "synthesizer", "paper", overrides);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<models::TaskInfo> text = TaskAt("text", 3072);
  ASSERT_TRUE(text.ok()) << text.status();
  const models::TaskInfo& task = *text;
  const double estimate = **EstimateTrainingBytes(*c, task);
  const absl::Status small = CheckTrainingMemory(*c, task, int64_t{1} << 30);
  EXPECT_EQ(small.code(), absl::StatusCode::kResourceExhausted) << small;
  EXPECT_NE(small.message().find("synthesizer"), std::string::npos) << small;
  EXPECT_NE(small.message().find("train.batch_size"), std::string::npos) << small;
  EXPECT_TRUE(CheckTrainingMemory(*c, task, static_cast<int64_t>(estimate)).ok());
}

}  // namespace
}  // namespace lra::harness

#include "harness/memory_check.h"

#include <malloc.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/random.h"
#include "gtest/gtest.h"
#include "harness/system_info.h"
#include "harness/trainer.h"

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

// The estimate against the measured peak RSS of two training steps, per model: never below
// the measurement and at most kEstimateSlack times it, so that estimate / kEstimateSlack (what
// the check compares with the machine's memory) never exceeds what a step really needs. Batch 8 x 1024 tokens, d_model 64, 2 layers: activations
// of tens of MB, well above the process's other allocations. Measured ratios: 1.8-2.0 on the
// development VM with 2 threads (printed below).

TEST(MemoryCheck, EstimateIsWithinAFactorOfTheMeasuredPeak) {
  struct Case {
    std::string model;
    int batch;
    std::vector<std::string> options;
  };
  const std::vector<Case> cases = {
      {"transformer", 8, {"d_model=64", "n_layers=2", "heads=4", "mlp_dim=128"}},
      {"s4d", 8, {"d_model=64", "n_layers=2", "d_state=64"}},
      {"s4", 8, {"d_model=64", "n_layers=2", "d_state=64", "bidirectional=true"}},
      // The bag keeps one [B, L, H] tensor: a larger batch and width lift it above the noise.
      {"bag", 32, {"d_model=128", "mlp_dim=128"}},
      {"mamba", 8, {"d_model=64", "n_layers=2", "bidirectional=true"}},
      {"lstm", 8, {"d_model=64", "n_layers=2", "bidirectional=true"}},
      {"gru", 8, {"d_model=64", "n_layers=2", "bidirectional=true"}},
  };
  const int length = 1024;
  for (const Case& c : cases) {
    const int batch = c.batch;
    const RunConfig config = Config(c.model, batch, c.options);
    const models::TaskInfo task = ListOps(length);
    absl::StatusOr<std::optional<double>> estimate = EstimateTrainingBytes(config, task);
    ASSERT_TRUE(estimate.ok()) << estimate.status();
    ASSERT_TRUE(estimate->has_value()) << c.model << " has no memory estimate";
    // As `lra bench` measures a point alone: hand back what earlier cases left cached, then
    // restart the kernel's high-water mark from the current RSS.
    BufferPool::Get().Trim();
    malloc_trim(0);
    if (!ResetPeakRss()) GTEST_SKIP() << "this kernel does not allow resetting the peak RSS";
    const int64_t before = CurrentRssBytes();
    double measured = 0;
    {
      absl::StatusOr<TrainingSetup> setup = MakeTrainingSetup(config, task);
      ASSERT_TRUE(setup.ok()) << setup.status();
      Rng rng(1);
      std::vector<int32_t> tokens(int64_t{batch} * length), lengths(batch, length), labels(batch);
      for (int32_t& t : tokens) t = 1 + static_cast<int32_t>(rng.UniformInt(task.vocab_size - 1));
      for (int32_t& l : labels) l = static_cast<int32_t>(rng.UniformInt(task.num_classes));
      models::Batch b;
      b.batch_size = batch;
      b.length = length;
      b.tokens = tokens.data();
      b.lengths = lengths.data();
      Rng dropout = rng.Stream(RngStream::kDropout);
      for (int step = 0; step < 2; ++step) TrainStep(*setup, b, labels, step, dropout);
      measured = double(PeakRssBytes() - before);
    }
    std::printf("%s: estimate %.1f MB, measured peak %.1f MB (ratio %.2f)\n", c.model.c_str(),
                **estimate / 1e6, measured / 1e6, **estimate / measured);
    EXPECT_GE(**estimate, measured) << c.model;
    EXPECT_LE(**estimate, kEstimateSlack * measured) << c.model;
  }
}

}  // namespace
}  // namespace lra::harness

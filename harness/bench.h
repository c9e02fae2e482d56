// `lra bench`: training speed and memory against sequence length (LRA Table 2 protocol: the
// Text task, batch 32, lengths 1K-4K), plus recurrent-mode inference for models that have one.
//
// Each point builds the model from its Text config at the chosen tier with max_length = L,
// runs one warm-up step and then `steps` timed TrainSteps (the same function `lra train`
// uses) on random byte tokens. Memory is the process's peak RSS during the point (reset
// between points where the kernel allows it).
#ifndef LRA_HARNESS_BENCH_H_
#define LRA_HARNESS_BENCH_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/model.h"

namespace lra::harness {

struct BenchOptions {
  std::vector<std::string> models;  // empty: every registered model that has a Text config
  std::vector<int> lengths = {1024, 2048, 3072, 4096};
  int batch_size = 32;
  int steps = 3;
  std::string tier = "small";
  std::string out_dir;              // bench-*.json files go here
  int recurrent_tokens = 2048;      // tokens stepped per recurrent measurement
  // Polled before each point; once true, RunBench returns CancelledError (the points measured
  // so far stay in out_dir, no table is written). May be empty.
  std::function<bool()> cancelled;
};

// The Text task as a model sees it, with max_length `length` (LRA Table 2 measures on Text).
absl::StatusOr<models::TaskInfo> BenchTextTask(int length);

// Measures, writes one BenchResult file per point into options.out_dir, then the efficiency
// tables and the speed/memory plot into results_dir.
absl::Status RunBench(const BenchOptions& options, const std::string& results_dir);

}  // namespace lra::harness

#endif  // LRA_HARNESS_BENCH_H_

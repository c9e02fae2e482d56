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
  // "<model>.<option>=<value>" or "*.<option>=<value>" (every model), over each model's Text
  // config at the tier, e.g. *.d_model=128 to put models of different tiers at one width.
  std::vector<std::string> model_options;
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

// One --model_options entry (both bench modes): `option` ("name=value") for `model`, a model
// name or "*" for every model.
struct ModelOption {
  std::string model;
  std::string option;
};

// Parses --model_options; an InvalidArgumentError naming the flag when an entry is not
// <model>.<option>=<value> or names a model that is not in `measured`.
absl::StatusOr<std::vector<ModelOption>> ParseModelOptions(const std::vector<std::string>& given,
                                                           const std::vector<std::string>& measured);

// The options of `parsed` that apply to `model`, in the order given.
std::vector<std::string> OptionsFor(const std::vector<ModelOption>& parsed, const std::string& model);

// The Text task as a model sees it, with max_length `length` (LRA Table 2 measures on Text).
absl::StatusOr<models::TaskInfo> BenchTextTask(int length);

// Measures, writes one BenchResult file per point into options.out_dir, then the efficiency
// tables and the speed/memory plot into results_dir.
absl::Status RunBench(const BenchOptions& options, const std::string& results_dir);

}  // namespace lra::harness

#endif  // LRA_HARNESS_BENCH_H_

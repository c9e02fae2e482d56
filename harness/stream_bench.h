// `lra bench --mode=stream`: streaming inference, one token at a time, against context length.
//
// For each model with a streaming mode (models/model.h RecurrentModel) and each stream count S,
// the model is built once from its Text config at the tier, with the options of its streaming
// form (ModelInfo::streaming_options, e.g. the Transformer's causal=true, cls=false, pool=mean)
// and then --model_options over them, and max_length = the longest context + the window. Then
// every stream is fed random Text tokens, one Step (one token for each of the S streams) at a
// time, in one pass through the contexts in ascending order: for a context C the Steps up to
// stream position C - W/2 run untimed (they fill the state, or the Transformer's key/value
// cache, to that point, and warm up), then the W Steps at positions C - W/2 .. C - W/2 + W - 1
// are timed together, so the window is centred on C and the cost per token is the one at
// context C (for the Transformer it grows with the position; for a recurrence it does not).
// Reported per point: seconds per Step (the per-token latency of S streams), tokens/s = S W /
// seconds, the state held per stream (RecurrentModel::StateBytes(C)) and, measured, the growth
// of the process RSS per stream from the start of the window at the shortest context to the
// start of this one (by then every buffer a Step uses exists, so what still grows is the state:
// the Transformer's cache; about 0 for a recurrence). The budget is in tokens (contexts and
// window), never in time.
#ifndef LRA_HARNESS_STREAM_BENCH_H_
#define LRA_HARNESS_STREAM_BENCH_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace lra::harness {

struct StreamBenchOptions {
  // Empty: every registered model that declares a streaming form (ModelInfo::streaming_options).
  std::vector<std::string> models;
  std::vector<int> contexts = {1024, 4096, 16384};
  std::vector<int> streams = {1, 8};
  int window = 256;  // Steps timed per point
  std::string tier = "small";
  // "<model>.<option>=<value>" or "*.<option>=<value>" (every model), over the streaming form.
  std::vector<std::string> model_options;
  std::string out_dir;  // stream-*.json files go here
  // Polled between Steps that are not timed; once true, RunStreamBench returns CancelledError
  // (the points measured so far stay in out_dir, no table is written). May be empty.
  std::function<bool()> cancelled;
};

// The checks RunStreamBench makes before measuring: an InvalidArgumentError naming the flag
// (--lengths, --streams, --stream_window, --model_options, --models) and the fix.
absl::Status ValidateStreamBenchOptions(const StreamBenchOptions& options);

// Measures, writes one StreamResult file per (model, streams, context) into options.out_dir,
// then stream_table.{md,csv,json} and stream.svg (report/stream_table.h) into results_dir.
absl::Status RunStreamBench(const StreamBenchOptions& options, const std::string& results_dir);

}  // namespace lra::harness

#endif  // LRA_HARNESS_STREAM_BENCH_H_

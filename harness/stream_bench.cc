#include "harness/stream_bench.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/base/status_macros.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/tensor.h"
#include "harness/bench.h"
#include "harness/config.h"
#include "harness/report/bench_table.h"
#include "harness/report/result_io.h"
#include "harness/report/stream_table.h"
#include "harness/run_result.pb.h"
#include "harness/system_info.h"
#include "models/registry.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

// Contexts and windows past this many tokens would only exhaust memory (the Transformer's
// positions table and cache): 1M tokens.
constexpr int kMaxContext = 1 << 20;

// The models to measure: the given ones, or every model that declares a streaming form.
std::vector<std::string> SelectedModels(const StreamBenchOptions& options) {
  if (!options.models.empty()) return options.models;
  std::vector<std::string> names;
  for (const models::ModelInfo* m : models::AllModels()) {
    if (!m->streaming_options.empty()) names.push_back(m->name);
  }
  return names;
}

std::vector<int> Sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// One model at one stream count: the points of every context.
absl::Status MeasureModel(const std::string& name, int streams, const StreamBenchOptions& options,
                          const std::vector<int>& contexts,
                          const std::vector<std::string>& applied) {
  const int window = options.window, half = window / 2;
  LRA_ASSIGN_OR_RETURN(models::TaskInfo task, BenchTextTask(contexts.back() - half + window));
  RunConfig overrides;
  for (const std::string& o : applied) overrides.add_model_option(o);
  LRA_ASSIGN_OR_RETURN(RunConfig config, ResolveRunConfig("text", name, options.tier, overrides));
  LRA_ASSIGN_OR_RETURN(auto option_map, ModelOptionMap(config));
  absl::StatusOr<std::unique_ptr<models::Model>> built =
      models::CreateModel(name, task, option_map, config.train().seed());
  if (!built.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model ", name, " with options [",
                                                   absl::StrJoin(applied, ", "),
                                                   "]: ", built.status().message()));
  }
  std::unique_ptr<models::Model> model = *std::move(built);
  models::RecurrentModel* rec = model->Recurrent();
  if (rec == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model ", name, " has no streaming mode with options [", absl::StrJoin(applied, ", "),
        "] over its Text config at tier ", options.tier,
        ": give it the options of its causal form with --model_options=", name,
        ".<option>=<value>, or leave it out of --models"));
  }
  const int64_t parameters = models::CountParameters(*model);
  // The RSS growth of this model alone: hand back what earlier models left cached, so that
  // their freed memory does not hide this one's growth.
  BufferPool::Get().Trim();
  malloc_trim(0);
  LRA_RETURN_IF_ERROR(rec->Reset(streams));
  int64_t rss_first = 0;  // at the start of the window at the shortest context
  Rng rng(1);
  auto random_tokens = [&](std::vector<int32_t>& tokens) {
    // Text bytes: ids 1 .. vocab_size - 1 (0 is the pad id).
    for (int32_t& t : tokens) t = 1 + static_cast<int32_t>(rng.UniformInt(task.vocab_size - 1));
  };
  std::vector<int32_t> tokens(streams), timed(static_cast<size_t>(streams) * window);
  std::vector<float> logits(static_cast<size_t>(streams) * task.num_classes);
  int64_t position = 0;  // tokens stepped per stream since Reset
  for (int context : contexts) {
    std::fprintf(stderr, "stream %s, %d stream%s, context %s: stepping to %d ... ", name.c_str(),
                 streams, streams == 1 ? "" : "s", report::LengthLabel(context).c_str(),
                 context - half);
    for (; position < context - half; ++position) {
      if (position % 256 == 0 && options.cancelled && options.cancelled()) {
        std::fprintf(stderr, "interrupted\n");
        return absl::CancelledError(absl::StrCat(
            "interrupted; the points measured so far are in ", options.out_dir,
            " (no table written): run the bench again"));
      }
      random_tokens(tokens);
      rec->Step(tokens.data(), logits.data());
    }
    const int64_t rss = CurrentRssBytes();
    random_tokens(timed);
    const absl::Time start = absl::Now();
    for (int i = 0; i < window; ++i) rec->Step(&timed[static_cast<size_t>(i) * streams], logits.data());
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    position += window;

    StreamResult r;
    r.set_model(name);
    r.set_task("text");
    r.set_tier(options.tier);
    for (const std::string& o : applied) r.add_model_options(o);
    r.set_context(context);
    r.set_streams(streams);
    r.set_timed_steps(window);
    r.set_seconds_per_step(seconds / window);
    r.set_tokens_per_second(double(streams) * window / seconds);
    r.set_state_bytes_per_stream(rec->StateBytes(context));
    if (context == contexts.front()) rss_first = rss;
    if (rss > 0 && rss_first > 0) {
      r.set_rss_growth_bytes_per_stream(std::max<int64_t>(0, rss - rss_first) / streams);
    }
    r.set_threads(NumThreads());
    r.set_commit(SourceCommit());
    r.set_machine(MachineDescription());
    r.set_parameters(parameters);
    std::fprintf(stderr, "%.0f tokens/s, %.3g ms/token, state %s/stream\n", r.tokens_per_second(),
                 r.seconds_per_step() * 1e3,
                 report::FormatBytes(r.state_bytes_per_stream()).c_str());
    LRA_RETURN_IF_ERROR(report::WriteStreamResult(
        (fs::path(options.out_dir) / report::StreamFileName(r)).string(), r));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateStreamBenchOptions(const StreamBenchOptions& options) {
  if (options.contexts.empty()) return absl::InvalidArgumentError("--lengths: give at least one");
  if (options.streams.empty()) return absl::InvalidArgumentError("--streams: give at least one");
  for (int s : options.streams) {
    if (s < 1 || s > 4096) {
      return absl::InvalidArgumentError(
          absl::StrCat("--streams: ", s, " is out of range; use 1 to 4096"));
    }
  }
  if (options.window < 1 || options.window > kMaxContext) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--stream_window=", options.window, " is out of range; use 1 to ", kMaxContext));
  }
  const std::vector<int> contexts = Sorted(options.contexts);
  const int half = options.window / 2;
  for (int c : contexts) {
    if (c < 1 || c > kMaxContext) {
      return absl::InvalidArgumentError(
          absl::StrCat("--lengths: ", c, " is out of range; use 1 to ", kMaxContext));
    }
  }
  if (contexts.front() < half) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--stream_window=", options.window, ": the window is centred on each length, so it needs ",
        half, " tokens before the shortest length ", contexts.front(),
        "; use --stream_window=", 2 * contexts.front(), " or less"));
  }
  for (size_t i = 1; i < contexts.size(); ++i) {
    if (contexts[i] - contexts[i - 1] < options.window) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--stream_window=", options.window, ": the windows around lengths ", contexts[i - 1],
          " and ", contexts[i], " overlap; use --stream_window=", contexts[i] - contexts[i - 1],
          " or less, or lengths further apart"));
    }
  }
  const std::vector<std::string> names = SelectedModels(options);
  if (names.empty()) {
    return absl::InvalidArgumentError(
        "--models: no registered model declares a streaming form; name the models to measure");
  }
  for (const std::string& name : names) {
    absl::StatusOr<const models::ModelInfo*> info = models::GetModel(name);
    if (!info.ok()) return absl::InvalidArgumentError(absl::StrCat("--models: ", info.status().message()));
  }
  return ParseModelOptions(options.model_options, names).status();
}

absl::Status RunStreamBench(const StreamBenchOptions& options, const std::string& results_dir) {
  LRA_RETURN_IF_ERROR(ValidateStreamBenchOptions(options));
  LRA_ASSIGN_OR_RETURN(std::vector<ModelOption> parsed,
                       ParseModelOptions(options.model_options, SelectedModels(options)));
  const std::vector<int> contexts = Sorted(options.contexts);
  const std::vector<int> streams = Sorted(options.streams);
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  for (const std::string& name : SelectedModels(options)) {
    LRA_ASSIGN_OR_RETURN(const models::ModelInfo* info, models::GetModel(name));
    std::vector<std::string> applied = info->streaming_options;
    for (std::string& o : OptionsFor(parsed, name)) applied.push_back(std::move(o));
    for (int s : streams) {
      const absl::Status st = MeasureModel(name, s, options, contexts, applied);
      if (absl::IsNotFound(st)) {  // no Text config for this model at this tier
        std::fprintf(stderr, "stream %s skipped: %s\n", name.c_str(), std::string(st.message()).c_str());
        break;
      }
      LRA_RETURN_IF_ERROR(st);
    }
  }
  LRA_ASSIGN_OR_RETURN(report::TableFiles files,
                       report::WriteStreamTables(options.out_dir, results_dir, {}));
  for (const std::string& w : files.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  for (const std::string& f : files.written) std::fprintf(stderr, "  %s\n", f.c_str());
  return absl::OkStatus();
}

}  // namespace lra::harness

#include "harness/bench.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
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
#include "core/tape.h"
#include "core/tensor.h"
#include "harness/config.h"
#include "harness/report/bench_table.h"
#include "core/base/file_util.h"
#include "harness/report/plots.h"
#include "harness/report/result_io.h"
#include "harness/system_info.h"
#include "harness/trainer.h"
#include "models/registry.h"
#include "tasks/common/spec.h"
#include "tasks/specs.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

}  // namespace

absl::StatusOr<models::TaskInfo> BenchTextTask(int length) {
  LRA_ASSIGN_OR_RETURN(const tasks::TaskSpec* spec, tasks::GetTaskSpec("text"));
  LRA_ASSIGN_OR_RETURN(const tasks::Encoding* enc, tasks::FindEncoding(*spec, ""));
  models::TaskInfo info;
  info.name = "text";
  info.vocab_size = enc->vocab_size();
  info.pad_id = enc->pad_id();
  info.num_classes = spec->num_classes();
  info.max_length = length;
  info.pooling = spec->default_pooling() == tasks::CLS ? "cls" : "mean";
  return info;
}

namespace {

struct RandomBatch {
  std::vector<int32_t> tokens, lengths, labels;
  models::Batch batch;
};

RandomBatch MakeBatch(const models::TaskInfo& task, int batch_size, int length, Rng& rng) {
  RandomBatch b;
  b.tokens.resize(int64_t{batch_size} * length);
  for (int32_t& t : b.tokens) t = 1 + static_cast<int32_t>(rng.UniformInt(task.vocab_size - 1));
  b.lengths.assign(batch_size, length);
  b.labels.resize(batch_size);
  for (int32_t& l : b.labels) l = static_cast<int32_t>(rng.UniformInt(task.num_classes));
  b.batch.batch_size = batch_size;
  b.batch.length = length;
  b.batch.tokens = b.tokens.data();
  b.batch.lengths = b.lengths.data();
  return b;
}

absl::StatusOr<BenchResult> MeasurePoint(const std::string& model, int length,
                                         const BenchOptions& options,
                                         const std::vector<std::string>& model_options) {
  BenchResult r;
  r.set_model(model);
  r.set_task("text");
  r.set_seq_length(length);
  r.set_batch_size(options.batch_size);
  r.set_threads(NumThreads());
  r.set_commit(SourceCommit());
  r.set_machine(MachineDescription());
  for (const std::string& o : model_options) r.add_model_options(o);
  LRA_ASSIGN_OR_RETURN(models::TaskInfo task, BenchTextTask(length));
  RunConfig overrides;
  for (const std::string& o : model_options) overrides.add_model_option(o);
  overrides.mutable_train()->set_batch_size(options.batch_size);
  overrides.mutable_train()->set_steps(1000);
  LRA_ASSIGN_OR_RETURN(RunConfig config, ResolveRunConfig("text", model, options.tier, overrides));
  // Peak RSS of this point alone: hand back what earlier runs in this process (a suite's
  // training runs, the previous lengths) left cached in the buffer pool and in malloc, then
  // restart the kernel's high-water mark from the current RSS.
  BufferPool::Get().Trim();
  malloc_trim(0);
  ResetPeakRss();
  absl::StatusOr<TrainingSetup> made = MakeTrainingSetup(config, task);
  if (!made.ok() && !model_options.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("model ", model, " with --model_options [",
                                                   absl::StrJoin(model_options, ", "),
                                                   "]: ", made.status().message()));
  }
  LRA_ASSIGN_OR_RETURN(TrainingSetup setup, std::move(made));
  r.set_parameters(setup.parameters);
  Rng rng(1);
  Rng dropout = rng.Stream(RngStream::kDropout);
  RandomBatch batch = MakeBatch(task, options.batch_size, length, rng);
  TrainStep(setup, batch.batch, batch.labels, 0, dropout);  // warm-up: plans, primitives, pool
  const absl::Time start = absl::Now();
  for (int i = 0; i < options.steps; ++i) {
    TrainStep(setup, batch.batch, batch.labels, i + 1, dropout);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  r.set_timed_steps(options.steps);
  r.set_train_steps_per_second(options.steps / seconds);
  r.set_examples_per_second(options.steps * options.batch_size / seconds);
  r.set_tokens_per_second(double(options.steps) * options.batch_size * length / seconds);
  r.set_peak_memory_bytes(PeakRssBytes());

  if (models::RecurrentModel* rec = setup.model->Recurrent(); rec != nullptr) {
    LRA_RETURN_IF_ERROR(rec->Reset(1));
    std::vector<float> logits(task.num_classes);
    const int n = options.recurrent_tokens;
    const absl::Time rs = absl::Now();
    for (int i = 0; i < n; ++i) rec->Step(&batch.tokens[i % length], logits.data());
    r.set_recurrent_tokens_per_second(n / absl::ToDoubleSeconds(absl::Now() - rs));
  }
  return r;
}

}  // namespace

absl::StatusOr<std::vector<ModelOption>> ParseModelOptions(const std::vector<std::string>& given,
                                                           const std::vector<std::string>& measured) {
  std::vector<ModelOption> out;
  for (const std::string& s : given) {
    const size_t dot = s.find('.'), eq = s.find('=');
    if (dot == std::string::npos || dot == 0 || eq == std::string::npos || eq < dot + 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--model_options: '", s,
          "' is not <model>.<option>=<value> (or *.<option>=<value> for every model), e.g. "
          "transformer.d_model=128"));
    }
    ModelOption o{s.substr(0, dot), s.substr(dot + 1)};
    if (o.model != "*" && std::find(measured.begin(), measured.end(), o.model) == measured.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--model_options: '", s, "' names model '", o.model, "', which is not measured (",
          absl::StrJoin(measured, ", "), "); use one of those or *"));
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<std::string> OptionsFor(const std::vector<ModelOption>& parsed, const std::string& model) {
  std::vector<std::string> out;
  for (const ModelOption& o : parsed) {
    if (o.model == "*" || o.model == model) out.push_back(o.option);
  }
  return out;
}

absl::Status RunBench(const BenchOptions& options, const std::string& results_dir) {
  std::vector<std::string> names = options.models;
  if (names.empty()) {
    for (const models::ModelInfo* m : models::AllModels()) names.push_back(m->name);
  }
  for (const std::string& name : names) LRA_RETURN_IF_ERROR(models::GetModel(name).status());
  LRA_ASSIGN_OR_RETURN(std::vector<ModelOption> parsed, ParseModelOptions(options.model_options, names));
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  for (const std::string& model : names) {
    for (int length : options.lengths) {
      if (options.cancelled && options.cancelled()) {
        return absl::CancelledError(absl::StrCat(
            "interrupted; the points measured so far are in ", options.out_dir,
            " (no table written): run the bench again"));
      }
      std::fprintf(stderr, "bench %s L=%d batch %d ... ", model.c_str(), length, options.batch_size);
      absl::StatusOr<BenchResult> r = MeasurePoint(model, length, options, OptionsFor(parsed, model));
      if (!r.ok()) {
        if (absl::IsNotFound(r.status())) {  // no Text config for this model at this tier
          std::fprintf(stderr, "skipped: %s\n", std::string(r.status().message()).c_str());
          break;
        }
        return r.status();
      }
      std::fprintf(stderr, "%.2f steps/s, %.0f tokens/s, peak RSS %.2f GB%s\n",
                   r->train_steps_per_second(), r->tokens_per_second(),
                   r->peak_memory_bytes() / 1e9,
                   r->has_recurrent_tokens_per_second()
                       ? absl::StrCat(", recurrent ", static_cast<int64_t>(r->recurrent_tokens_per_second()), " tokens/s").c_str()
                       : "");
      LRA_RETURN_IF_ERROR(report::WriteBenchResult(
          (fs::path(options.out_dir) / report::BenchFileName(*r)).string(), *r));
    }
  }
  LRA_ASSIGN_OR_RETURN(report::TableFiles files,
                       report::WriteBenchTables(options.out_dir, results_dir, {}));
  for (const std::string& f : files.written) std::fprintf(stderr, "  %s\n", f.c_str());
  return absl::OkStatus();
}

}  // namespace lra::harness

#include "harness/trainer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/base/status_macros.h"
#include "core/base/textproto.h"
#include "core/checkpoint.h"
#include "core/ops/loss.h"
#include "core/ops/matmul.h"
#include "core/optim/adam.h"
#include "core/optim/schedule.h"
#include "core/random.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "datasets/dataset.h"
#include "google/protobuf/util/message_differencer.h"
#include "harness/config.h"
#include "harness/memory_check.h"
#include "harness/progress.h"
#include "harness/run_lock.h"
#include "core/base/file_util.h"
#include "harness/report/result_io.h"
#include "harness/system_info.h"
#include "harness/task_data.h"
#include "models/registry.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

constexpr char kLastCheckpoint[] = "last.ckpt";
constexpr char kBestCheckpoint[] = "best.ckpt";

// A training setup plus the dataset it reads.
struct Setup : TrainingSetup {
  TaskData data;
};

// Steps between "train" metrics lines (train.log_every; 0 means 50).
int64_t LogEvery(const TrainConfig& t) { return t.log_every() > 0 ? t.log_every() : 50; }

// Examples in the dataset's train split (0 when the manifest lists none).
int64_t TrainExamples(const TaskData& data) {
  for (const datasets::Split& sp : data.manifest.splits()) {
    if (sp.name() == "train") return sp.num_examples();
  }
  return 0;
}

// The share of `split` in its most common class (0 for an empty split): one pass over the
// split's records at the start of a run.
absl::StatusOr<double> MajorityClassAccuracy(const std::string& dir, const std::string& split) {
  datasets::ReaderOptions ro;
  ro.batch_size = 256;
  LRA_ASSIGN_OR_RETURN(std::unique_ptr<datasets::DatasetReader> reader,
                       datasets::DatasetReader::Open(dir, split, ro));
  std::map<int32_t, int64_t> counts;
  int64_t total = 0;
  datasets::Batch batch;
  while (true) {
    LRA_ASSIGN_OR_RETURN(const bool more, reader->Next(&batch));
    if (!more) break;
    for (int32_t label : batch.labels) ++counts[label], ++total;
  }
  int64_t most = 0;
  for (const auto& [label, n] : counts) most = std::max(most, n);
  return total > 0 ? double(most) / total : 0.0;
}

// Trainer state beyond parameters and optimizer moments; saved in every checkpoint so a resumed
// run continues exactly where it stopped.
struct LoopState {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t batch_in_epoch = 0;  // batches of `epoch` already consumed
  int64_t best_step = -1;
  double best_val = -1;
  double best_test = -1;
  double best_val_loss = 0, best_test_loss = 0;
  int64_t train_tokens = 0;
  // The train metrics window since the last train line: a resume in the middle of a window
  // continues it, so metrics.jsonl equals an uninterrupted run's whatever checkpoint_every is.
  double window_loss = 0;  // sum of loss x examples
  int64_t window_correct = 0, window_examples = 0, window_tokens = 0;
  // Micro-batches per step (TrainOptions, "Data parallelism"); recorded so that a resume with
  // another count, which would change the numbers, is refused. Absent in older checkpoints: 1.
  int64_t micro_batches = 1;
};

// A run is DIVERGED when a loss (train step or validation) passes this many times ln(C), the
// cross-entropy of a uniform prediction over C classes, which is what an untrained classifier's
// first steps give. 100 ln(C) means a mean probability of C^-100 on the true class (for C = 2,
// e^-69): logits that far apart come from a blown-up update (lr=1e30 gives ~7e29), never from
// learning or ordinary overfitting, whose validation loss stays within a few times ln(C). A
// function of the task alone, so a resumed run applies the same ceiling.
constexpr double kLossCeilingFactor = 100;

double LossCeiling(const models::TaskInfo& task) {
  return kLossCeilingFactor * std::log(std::max(task.num_classes, 2));
}

// The first parameter or Adam moment holding a NaN or Inf ("parameter 'w'", "Adam moment
// 'w/v'"), or "" when all are finite. One read of the state per step: a small cost next to the
// step's forward and backward passes.
std::string FirstNonFinite(const TrainingSetup& s) {
  auto finite = [](const Tensor& t) {
    if (!t.defined()) return true;
    const float* x = t.dtype() == DType::kF32 ? t.data<float>()
                                              : reinterpret_cast<const float*>(t.data<c64>());
    const int64_t n = static_cast<int64_t>(t.nbytes() / sizeof(float));
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(x[i])) return false;
    }
    return true;
  };
  const std::vector<Var> params = s.optimizer->Parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    if (!finite(params[i].value())) return absl::StrCat("parameter '", params[i].name(), "'");
    const Adam::Moments& m = s.optimizer->moments()[i];
    if (!finite(m.m)) return absl::StrCat("Adam moment '", params[i].name(), "/m'");
    if (!finite(m.v)) return absl::StrCat("Adam moment '", params[i].name(), "/v'");
  }
  return "";
}

absl::StatusOr<Setup> BuildSetup(const RunConfig& config, const std::string& data_dir) {
  LRA_RETURN_IF_ERROR(ValidateRunConfig(config));
  Setup s;
  LRA_ASSIGN_OR_RETURN(s.data, OpenTaskData(data_dir, config.task(), config.dataset(),
                                            config.encoding()));
  // A config may train on shorter sequences than the dataset holds (the small tier does, to fit
  // CPU budgets); batches are then cut to config.max_length (see TruncateBatch).
  if (config.max_length() > 0 && config.max_length() < s.data.info.max_length) {
    s.data.info.max_length = config.max_length();
  }
  LRA_ASSIGN_OR_RETURN(static_cast<TrainingSetup&>(s), MakeTrainingSetup(config, s.data.info));
  return s;
}

// Keeps the first `max_length` tokens of every row (both documents of a pair), in place.
void TruncateBatch(int max_length, datasets::Batch* batch) {
  auto cut = [&](std::vector<int32_t>& tokens, std::vector<int32_t>& lengths, int* length) {
    if (*length <= max_length) return;
    for (int b = 0; b < batch->batch_size; ++b) {
      std::copy_n(tokens.begin() + int64_t{b} * *length, max_length,
                  tokens.begin() + int64_t{b} * max_length);
      lengths[b] = std::min(lengths[b], max_length);
    }
    tokens.resize(int64_t{batch->batch_size} * max_length);
    *length = max_length;
  };
  cut(batch->tokens, batch->lengths, &batch->length);
  if (!batch->tokens2.empty()) cut(batch->tokens2, batch->lengths2, &batch->length2);
}

// How a run's batches are split (TrainOptions, "Data parallelism"): P = processes x grad_accum
// micro-batches, of which this process runs `per_rank`, starting at micro-batch `first()`.
struct MicroBatches {
  dist::Group* group = &dist::Group::Solo();
  int per_rank = 1;
  int parts() const { return group->size() * per_rank; }
  int first() const { return group->rank() * per_rank; }
};

// Evaluates on `split` without gradients: all of it, or with `max_examples` > 0 on a fixed
// seeded sample of that size (the same sample at every evaluation and in every run; not the
// first examples in file order, which a converter may have grouped by label). Each process
// evaluates its micro-batches of every batch; the loss sums of the micro-batches are added in
// micro-batch order, so the metrics depend on P alone and every process gets them.
absl::StatusOr<EvalResult> Evaluate(Setup& s, const std::string& split, int64_t max_examples,
                                    const MicroBatches& mb = MicroBatches()) {
  datasets::ReaderOptions ro;
  ro.batch_size = s.config.train().batch_size();
  if (max_examples > 0) {
    ro.shuffle = true;
    ro.seed = 0x5A3B1E;  // fixed: the sample must not depend on the run's seed
    ro.epoch = 0;
  }
  ro.parts = mb.parts();
  ro.first_part = mb.first();
  ro.num_parts = mb.per_rank;
  LRA_ASSIGN_OR_RETURN(auto reader, datasets::DatasetReader::Open(s.data.dir, split, ro));
  NoGrad no_grad;
  Rng unused(0);
  std::vector<double> loss_sums(mb.per_rank, 0.0);  // per micro-batch, over all batches
  int64_t correct = 0;
  int64_t examples = 0;  // rows of whole batches: the same in every process
  std::vector<datasets::Batch> parts;
  while (max_examples == 0 || examples < max_examples) {
    LRA_ASSIGN_OR_RETURN(bool more, reader->NextParts(&parts));
    if (!more) break;
    const int drawn = parts[0].global_batch_size;
    const int64_t kept =
        max_examples > 0 ? std::min<int64_t>(drawn, max_examples - examples) : drawn;
    for (int a = 0; a < mb.per_rank; ++a) {
      datasets::Batch& batch = parts[a];
      // Keep exactly max_examples: shrink the part in place (rows are contiguous).
      const int begin = datasets::PartStart(drawn, mb.parts(), mb.first() + a);
      const int keep = static_cast<int>(std::clamp<int64_t>(kept - begin, 0, batch.batch_size));
      if (keep == 0) continue;
      TruncateBatch(s.data.info.max_length, &batch);
      batch.batch_size = keep;
      batch.labels.resize(keep);
      Var logits = s.model->Forward(ToModelBatch(batch), /*training=*/false, unused);
      Var loss = CrossEntropy(logits, batch.labels);
      loss_sums[a] += double(loss.value().item()) * keep;
      correct += CountCorrect(logits.value(), batch.labels);
    }
    examples += kept;
  }
  if (examples == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("split '", split, "' of ", s.data.dir, " has no examples"));
  }
  LRA_RETURN_IF_ERROR(mb.group->SumInOrder(absl::MakeSpan(loss_sums), mb.per_rank));
  LRA_RETURN_IF_ERROR(mb.group->SumInRankOrder(absl::MakeSpan(&correct, 1)));
  EvalResult stats;
  stats.examples = examples;
  stats.loss = loss_sums[0] / examples;
  stats.accuracy = double(correct) / examples;
  return stats;
}

// --- Checkpoints --------------------------------------------------------------------------------

// What a run's checkpoint holds besides the loop state: parameters, optimizer moments, model
// buffers and the dropout RNG, borrowed from the setup.
TrainingState CheckpointedState(Setup& s, Rng* dropout) {
  TrainingState state;
  for (const models::ParamGroup& g : s.groups) {
    state.params.insert(state.params.end(), g.params.begin(), g.params.end());
  }
  state.optimizer = s.optimizer.get();
  for (auto& [name, t] : s.model->Buffers()) state.buffers.emplace_back(name, *t);
  state.rngs.emplace_back("dropout", dropout);
  return state;
}

// Parameters, buffers, optimizer moments, the dropout RNG and the loop state, in one file
// (core/checkpoint.h). Doubles are written with 17 significant digits, which round-trips.
absl::Status SaveRunCheckpoint(const std::string& path, Setup& s, const LoopState& st,
                               Rng* dropout) {
  TrainingState state = CheckpointedState(s, dropout);
  state.step = st.step;
  auto& m = state.metadata;
  m["epoch"] = absl::StrCat(st.epoch);
  m["batch_in_epoch"] = absl::StrCat(st.batch_in_epoch);
  m["best_step"] = absl::StrCat(st.best_step);
  m["train_tokens"] = absl::StrCat(st.train_tokens);
  m["best_val"] = absl::StrFormat("%.17g", st.best_val);
  m["best_test"] = absl::StrFormat("%.17g", st.best_test);
  m["best_val_loss"] = absl::StrFormat("%.17g", st.best_val_loss);
  m["best_test_loss"] = absl::StrFormat("%.17g", st.best_test_loss);
  m["window_loss"] = absl::StrFormat("%.17g", st.window_loss);
  m["window_correct"] = absl::StrCat(st.window_correct);
  m["window_examples"] = absl::StrCat(st.window_examples);
  m["window_tokens"] = absl::StrCat(st.window_tokens);
  m["micro_batches"] = absl::StrCat(st.micro_batches);
  return SaveCheckpoint(path, state);
}

// The trainer's fields of a checkpoint, each range-checked against the run's config and dataset
// (a file with a valid CRC can still hold step=-1000 or epoch=3e9). Fields written since
// (window_*) default to 0 when absent, so checkpoints of older runs still load.
class CheckpointFields {
 public:
  CheckpointFields(const std::string& path, const std::map<std::string, std::string>& metadata)
      : path_(path), metadata_(metadata) {}

  // Reads metadata field `key` into `out` (int64_t or double) and checks lo <= out <= hi (a NaN
  // fails). An absent optional field reads as 0.
  template <typename T>
  absl::Status Get(const char* key, T lo, T hi, T* out, bool optional = false) {
    auto it = metadata_.find(key);
    if (it == metadata_.end()) {
      *out = 0;
      if (optional) return absl::OkStatus();
      return absl::DataLossError(absl::StrCat(path_, ": checkpoint lacks trainer field '", key,
                                              "'; it was not written by `lra train`"));
    }
    if (!Parse(it->second, out)) {
      return absl::DataLossError(absl::StrCat(path_, ": checkpoint field '", key, "' is '",
                                              it->second, "', not ",
                                              std::is_integral_v<T> ? "an integer" : "a number",
                                              kFix));
    }
    return InRange(key, *out >= lo && *out <= hi, it->second, absl::StrCat(lo), absl::StrCat(hi));
  }

  // For fields that are not in the metadata map (step, the optimizer's step).
  absl::Status InRange(absl::string_view key, bool ok, absl::string_view value,
                       absl::string_view lo, absl::string_view hi) const {
    if (ok) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(path_, ": checkpoint field '", key, "' = ", value,
                                            " is outside [", lo, ", ", hi, "] for this run",
                                            kFix));
  }

 private:
  static constexpr char kFix[] =
      "; the file is damaged or belongs to another run: use an older checkpoint or start the "
      "run again";
  static bool Parse(const std::string& text, int64_t* out) { return absl::SimpleAtoi(text, out); }
  static bool Parse(const std::string& text, double* out) { return absl::SimpleAtod(text, out); }
  const std::string& path_;
  const std::map<std::string, std::string>& metadata_;
};

absl::Status LoadRunCheckpoint(const std::string& path, Setup& s, LoopState* st, Rng* dropout) {
  TrainingState state = CheckpointedState(s, dropout);
  LRA_RETURN_IF_ERROR(LoadCheckpoint(path, &state));
  const TrainConfig& t = s.config.train();
  CheckpointFields f(path, state.metadata);
  st->step = state.step;
  LRA_RETURN_IF_ERROR(f.InRange("step", st->step >= 0 && st->step <= t.steps(),
                                absl::StrCat(st->step), "0", absl::StrCat(t.steps())));
  // One optimizer update per step: Adam's bias correction depends on its count.
  LRA_RETURN_IF_ERROR(f.InRange("optimizer_step", s.optimizer->step() == st->step,
                                absl::StrCat(s.optimizer->step()), absl::StrCat(st->step),
                                absl::StrCat(st->step)));
  // The dropout generator is the run's: its key comes from train.seed; any counter is a valid
  // position in its stream.
  const Rng::State want = Rng(t.seed()).Stream(RngStream::kDropout).state();
  const Rng::State have = dropout->state();
  LRA_RETURN_IF_ERROR(f.InRange("rng dropout (seed, stream)",
                                have.seed == want.seed && have.stream == want.stream,
                                absl::StrCat("(", have.seed, ", ", have.stream, ")"),
                                absl::StrCat("(", want.seed, ", ", want.stream, ")"),
                                absl::StrCat("(", want.seed, ", ", want.stream, ")")));
  const int64_t train_examples = TrainExamples(s.data);
  const int64_t batch = t.batch_size();
  // Each epoch takes at least one batch, and an epoch holds at most train / batch_size of them.
  LRA_RETURN_IF_ERROR(f.Get<int64_t>("epoch", 0, st->step, &st->epoch));
  LRA_RETURN_IF_ERROR(f.Get<int64_t>("batch_in_epoch", 0,
                                     std::min(st->step, train_examples / batch),
                                     &st->batch_in_epoch));
  LRA_RETURN_IF_ERROR(f.Get<int64_t>("best_step", -1, st->step, &st->best_step));
  // Both documents of a pair, each at most max_length tokens.
  const int64_t max_tokens = st->step * batch * 2 * std::max(s.data.info.max_length, 1);
  LRA_RETURN_IF_ERROR(f.Get<int64_t>("train_tokens", 0, max_tokens, &st->train_tokens));
  // -1 before the first evaluation, else an accuracy.
  LRA_RETURN_IF_ERROR(f.Get<double>("best_val", -1, 1, &st->best_val));
  LRA_RETURN_IF_ERROR(f.Get<double>("best_test", -1, 1, &st->best_test));
  const double inf = std::numeric_limits<double>::max();
  LRA_RETURN_IF_ERROR(f.Get<double>("best_val_loss", 0, inf, &st->best_val_loss));
  LRA_RETURN_IF_ERROR(f.Get<double>("best_test_loss", 0, inf, &st->best_test_loss));
  const int64_t window_max = std::min(st->step, LogEvery(t)) * batch;
  LRA_RETURN_IF_ERROR(f.Get<int64_t>("window_examples", 0, window_max, &st->window_examples,
                                     /*optional=*/true));
  LRA_RETURN_IF_ERROR(f.Get<int64_t>("window_correct", 0, st->window_examples,
                                     &st->window_correct, /*optional=*/true));
  LRA_RETURN_IF_ERROR(f.Get<int64_t>("window_tokens", 0, st->train_tokens, &st->window_tokens,
                                     /*optional=*/true));
  LRA_RETURN_IF_ERROR(f.Get<double>("window_loss", 0, inf, &st->window_loss,
                                    /*optional=*/true));
  st->micro_batches = 1;
  LRA_RETURN_IF_ERROR(f.Get<int64_t>("micro_batches", 1, batch, &st->micro_batches,
                                     /*optional=*/true));
  return absl::OkStatus();
}

// --- Metrics ------------------------------------------------------------------------------------

// Appends metrics lines; on resume, drops lines written after the checkpoint's step so the file
// equals that of an uninterrupted run (up to wall-clock fields).
class MetricsLog {
 public:
  absl::Status Open(const std::string& path, int64_t resume_step) {
    path_ = path;
    if (resume_step < 0) {
      out_.open(path, std::ios::trunc);
      if (!out_) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
      return absl::OkStatus();
    }
    std::vector<std::string> kept;
    {
      absl::StatusOr<std::vector<MetricsRecord>> old = report::ReadMetricsJsonl(path);
      if (old.ok()) {
        for (const MetricsRecord& r : *old) {
          if (r.step() > resume_step) continue;
          kept.push_back(report::MetricsRecordToJsonLine(r));
          prior_seconds_ = std::max(prior_seconds_, r.wall_seconds());
        }
      }
    }
    std::string text;
    for (const std::string& line : kept) absl::StrAppend(&text, line, "\n");
    LRA_RETURN_IF_ERROR(WriteFileAtomically(path, text));
    out_.open(path, std::ios::app);
    if (!out_) return absl::PermissionDeniedError(absl::StrCat("cannot append to ", path));
    return absl::OkStatus();
  }
  // A line that cannot be written (a full disk) stops the run: a run whose metrics are
  // incomplete must not look finished.
  absl::Status Add(const MetricsRecord& r) {
    out_ << report::MetricsRecordToJsonLine(r) << "\n";
    out_.flush();
    if (!out_) {
      return absl::DataLossError(absl::StrCat(path_, ": write failed (", std::strerror(errno),
                                              "); is the disk full? Free space, then --resume"));
    }
    return absl::OkStatus();
  }
  // Wall time of the run before this process, read back from the kept lines on resume. It is
  // kept out of checkpoints so that two runs of one config write byte-identical checkpoints.
  double prior_seconds() const { return prior_seconds_; }

 private:
  double prior_seconds_ = 0;
  std::string path_;
  std::ofstream out_;
};

std::string DefaultRunName(const RunConfig& config) {
  return absl::StrCat(config.task(), "-", config.model(), "-", config.tier(), "-s",
                      config.train().seed());
}

DataProvenance ToDataProvenance(datasets::Provenance::Kind kind) {
  switch (kind) {
    case datasets::Provenance::RELEASE: return RELEASE;
    case datasets::Provenance::GENERATED: return GENERATED;
    case datasets::Provenance::SYNTHETIC: return SYNTHETIC;
    case datasets::Provenance::SYSTEM: return SYSTEM;
    default: return DATA_PROVENANCE_UNSPECIFIED;
  }
}

std::string ProvenanceSource(const datasets::Provenance& p) {
  if (!p.generator().empty()) return absl::StrCat(p.generator(), " seed ", p.seed());
  if (p.source_files_size() > 0) {
    std::string s = p.source_files(0);
    if (p.source_files_size() > 1) absl::StrAppend(&s, " (+", p.source_files_size() - 1, " files)");
    return s;
  }
  return "";
}

// train.schedule -> the core schedule: "constant" (optionally with warmup), "lra_rsqrt" (the
// LRA harness: linear warmup x rsqrt decay), "lra_cosine" (the LRA harness: linear warmup x
// cosine_decay with steps_per_cycle = train.steps, as LRA's image configs set it) or "cosine"
// (the S4 repository: warmup, then cosine over steps - warmup). core/optim/schedule.h cites both.
absl::StatusOr<LrSchedule> MakeSchedule(const TrainConfig& t) {
  const std::string& name = t.schedule();
  if (name == "constant" || name.empty()) return LrSchedule::Constant(t.warmup_steps());
  if (name == "lra_rsqrt") {
    if (t.warmup_steps() <= 0) {
      return absl::InvalidArgumentError("schedule lra_rsqrt needs train.warmup_steps > 0");
    }
    return LrSchedule::LraRsqrt(t.warmup_steps());
  }
  if (name == "lra_cosine") {
    if (t.warmup_steps() <= 0) {
      return absl::InvalidArgumentError(
          "schedule lra_cosine needs train.warmup_steps > 0 (LRA's linear_warmup divides by it)");
    }
    return LrSchedule::LraCosine(t.warmup_steps(), t.steps());
  }
  if (name == "cosine") {
    if (t.schedule_steps() > 0 && t.schedule_steps() < t.steps()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "train.schedule_steps (", t.schedule_steps(), ") is shorter than train.steps (",
          t.steps(), "); set it to at least train.steps, or to 0 to end the schedule at steps"));
    }
    // S4's recipes may schedule past their last step (scheduler.num_training_steps is set apart
    // from trainer.max_epochs), so the schedule's length is its own field.
    return LrSchedule::S4Cosine(t.warmup_steps(),
                                t.schedule_steps() > 0 ? t.schedule_steps() : t.steps());
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown train.schedule '", name, "'; use constant, lra_rsqrt, lra_cosine or cosine"));
}

// Every field where the run's recorded config (config.txt) and `now` differ, one line each
// ("modified: train.lr: 0.01 -> 0.02"). train.max_minutes is a safety net that leaves the result
// alone, so it may change on resume; so may train.grad_accum, as long as processes x grad_accum
// stays what the checkpoint records (Resume checks that).
std::string ConfigDifferences(const RunConfig& recorded, const RunConfig& now) {
  RunConfig a = recorded, b = now;
  for (RunConfig* c : {&a, &b}) {
    c->mutable_train()->clear_max_minutes();
    c->mutable_train()->clear_grad_accum();
  }
  std::string report;
  {
    // The report is complete once the differencer (and its stream) is gone.
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&report);
    differ.Compare(a, b);
  }
  return report;
}

// Makes or checks the run folder and locks it: a new run must not find config.txt there; a
// resumed one must, with the same config. A resumed run that does not exist creates nothing.
absl::StatusOr<std::unique_ptr<RunLock>> OpenRunFolder(const std::string& run_dir,
                                                       const RunConfig& config,
                                                       const TrainOptions& options) {
  std::error_code ec;
  const fs::path config_path = fs::path(run_dir) / "config.txt";
  if (options.resume) {
    if (!fs::is_regular_file(config_path, ec)) {
      return absl::NotFoundError(absl::StrCat(
          "no run to resume: '", run_dir, "' ",
          fs::exists(run_dir, ec) ? "has no config.txt" : "does not exist",
          ". Drop --resume to start it, or check --run_name and --runs_dir"));
    }
  } else {
    fs::create_directories(run_dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", run_dir, ": ", ec.message()));
    }
  }
  LRA_ASSIGN_OR_RETURN(std::unique_ptr<RunLock> lock,
                       RunLock::Acquire(run_dir, options.resume ? "train --resume" : "train"));
  // Checked under the lock: a process that held it may have just written config.txt.
  if (!options.resume && fs::exists(config_path, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "run folder '", run_dir, "' exists. Continue it with --resume (a run without a "
        "checkpoint starts again from step 0), pick another --run_name, or delete the folder."));
  }
  if (options.resume) {
    RunConfig recorded;
    LRA_RETURN_IF_ERROR(ParseTextProtoFile(config_path.string(), &recorded));
    const std::string differences = ConfigDifferences(recorded, config);
    if (!differences.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot resume '", run_dir, "' with a different config (", config_path.string(),
          " -> now):\n  ",
          absl::StrReplaceAll(absl::StripTrailingAsciiWhitespace(differences), {{"\n", "\n  "}}),
          "\nResume with the run's own flags and --set values, or start a new run "
          "(another --run_name)."));
    }
  }
  return lock;
}

}  // namespace

absl::StatusOr<TrainingSetup> MakeTrainingSetup(const RunConfig& config,
                                                const models::TaskInfo& task) {
  TrainingSetup s;
  s.config = config;
  s.task = task;
  // Before the model exists: a config too large for the machine is an error, not bad_alloc.
  LRA_RETURN_IF_ERROR(CheckTrainingMemory(config, task, MachineMemoryBytes()));
  LRA_ASSIGN_OR_RETURN(auto options, ModelOptionMap(config));
  LRA_ASSIGN_OR_RETURN(s.model, models::CreateModel(config.model(), task, options,
                                                    config.train().seed()));
  s.groups = s.model->ParamGroups();
  s.parameters = models::CountParameters(*s.model);
  const TrainConfig& t = config.train();
  AdamOptions adam;
  if (t.has_beta1()) adam.beta1 = static_cast<float>(t.beta1());
  if (t.has_beta2()) adam.beta2 = static_cast<float>(t.beta2());
  if (t.has_eps()) adam.eps = static_cast<float>(t.eps());
  adam.decoupled_weight_decay = t.optimizer() != "adam";
  s.optimizer = std::make_unique<Adam>(
      models::OptimizerGroups(s.groups, t.lr(), t.weight_decay()), adam);
  LRA_ASSIGN_OR_RETURN(LrSchedule schedule, MakeSchedule(t));
  s.schedule = std::make_unique<LrSchedule>(schedule);
  return s;
}

StepResult ComputeGradients(TrainingSetup& s, const models::Batch& batch,
                            const std::vector<int32_t>& labels, Rng& dropout) {
  StepResult r;
  Var logits = s.model->Forward(batch, /*training=*/true, dropout);
  Var loss = CrossEntropy(logits, labels);
  r.loss = loss.value().item();
  if (!std::isfinite(r.loss)) return r;
  r.correct = CountCorrect(logits.value(), labels);
  Backward(loss);
  return r;
}

double ApplyUpdate(TrainingSetup& s, int64_t step) {
  const TrainConfig& t = s.config.train();
  if (t.grad_clip() > 0) ClipGradNorm(s.optimizer->Parameters(), static_cast<float>(t.grad_clip()));
  // The schedule counts updates from 1; `step` is the number of updates made before this one.
  const double factor = s.schedule->Factor(step + 1);
  s.optimizer->Step(static_cast<float>(factor));
  s.optimizer->ZeroGrad();
  return t.lr() * factor;
}

StepResult TrainStep(TrainingSetup& s, const models::Batch& batch,
                     const std::vector<int32_t>& labels, int64_t step, Rng& dropout) {
  StepResult r = ComputeGradients(s, batch, labels, dropout);
  if (!std::isfinite(r.loss)) return r;
  r.lr = ApplyUpdate(s, step);
  return r;
}

std::string RunDir(const RunConfig& config, const TrainOptions& options) {
  return (fs::path(options.runs_dir) /
          (options.run_name.empty() ? DefaultRunName(config) : options.run_name))
      .string();
}

namespace {

// --- The training run, step by step --------------------------------------------------------------
//
// Train reads top to bottom:
//   OpenRun        setup: model, optimizer, dataset, the locked run folder
//   Resume         last.ckpt (if resuming) into parameters, optimizer, RNG and loop state
//   StartRecords   config.txt, metrics.jsonl, the RunResult's description of the run
//   OpenTrainData  the shuffled train reader (OpenEpoch), positioned where the loop state says
//   per step (RunLoop):
//     AgreeToStop      a stop request or the max_minutes safety net, in any process
//     NextBatch        this process's micro-batches of the next batch, starting a new epoch when
//                      one is used up
//     Step             TrainStep (ComputeGradients: forward, loss, backward; ApplyUpdate: clip,
//                      lr, optimizer step), or with several micro-batches MicroBatchStep
//     CheckStep        a non-finite or runaway loss, a non-finite parameter: DIVERGED
//     CountStep        the train metrics window, the progress bar
//     LogTrainWindow   every log_every steps and at each evaluation
//     EvaluateAndKeepBest  every eval_every steps and at the last: validation, and on a new
//                      best the test split and best.ckpt; then last.ckpt
//     SaveLast         also every checkpoint_every steps
//   Finish         last.ckpt, val and test at the last step, result.json

// The state Train's steps share. Built once by OpenRun and never moved.
struct Run {
  Setup s;
  TrainOptions options;
  std::string run_dir, last_path, best_path;
  LoopState st;
  Rng dropout{0};
  std::unique_ptr<RunLock> lock;  // held until Train returns (harness/run_lock.h)
  int64_t resume_step = -1;       // the checkpoint's step when resumed from one
  int64_t checkpoint_step = -1;   // the step of the newest last.ckpt in the folder (-1: none)
  MetricsLog metrics;
  RunResult result;
  datasets::ReaderOptions reader_options;
  std::unique_ptr<datasets::DatasetReader> reader;
  MicroBatches mb;
  std::vector<float> grads;                  // MicroBatchStep: per_rank gradient vectors, reused
  std::vector<std::vector<float>> buffers;   // MicroBatchStep: micro-batch 0's model buffers
  std::unique_ptr<Progress> progress;
  RunStatus status = COMPLETED;
  std::string status_message;
  absl::Time loop_start, window_start;
  double loss_ceiling = 0;

  const TrainConfig& t() const { return s.config.train(); }
  // Process 0 writes the run folder (checkpoints, metrics, result) and prints progress.
  bool root() const { return mb.group->is_root(); }
  // Wall time of the run, earlier processes of a resumed run included.
  double Seconds() const {
    return metrics.prior_seconds() + absl::ToDoubleSeconds(absl::Now() - loop_start);
  }
};

// The run's micro-batches: P = processes x train.grad_accum, each with at least one example.
absl::Status SplitIntoMicroBatches(Run& run) {
  if (run.options.group != nullptr) run.mb.group = run.options.group;
  const TrainConfig& t = run.t();
  run.mb.per_rank = std::max(1, t.grad_accum());
  const int parts = run.mb.parts();
  if (t.grad_accum() < 0 || t.batch_size() < parts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train.batch_size (", t.batch_size(), ") must be at least the micro-batches per step: ",
        run.mb.group->size(), " processes x train.grad_accum (", t.grad_accum(), ") = ", parts,
        ". Raise train.batch_size, or lower train.grad_accum or the process count"));
  }
  run.st.micro_batches = parts;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Run>> OpenRun(const RunConfig& config, const TrainOptions& options) {
  auto run = std::make_unique<Run>();
  LRA_ASSIGN_OR_RETURN(run->s, BuildSetup(config, options.data_dir));
  run->options = options;
  run->run_dir = RunDir(run->s.config, options);
  run->last_path = (fs::path(run->run_dir) / kLastCheckpoint).string();
  run->best_path = (fs::path(run->run_dir) / kBestCheckpoint).string();
  run->dropout = Rng(run->t().seed()).Stream(RngStream::kDropout);
  LRA_RETURN_IF_ERROR(SplitIntoMicroBatches(*run));
  // A second process on this folder is refused. The other processes of this run wait until
  // process 0 has made or checked it.
  if (run->root()) {
    LRA_ASSIGN_OR_RETURN(run->lock, OpenRunFolder(run->run_dir, run->s.config, options));
  }
  LRA_RETURN_IF_ERROR(run->mb.group->Barrier());
  run->loss_ceiling = LossCeiling(run->s.data.info);
  return run;
}

absl::Status Resume(Run& run) {
  if (!run.options.resume) return absl::OkStatus();
  if (!fs::exists(run.last_path)) {
    if (run.root()) {
      std::fprintf(stderr, "%s has no checkpoint yet: starting it from step 0\n",
                   run.run_dir.c_str());
    }
    return absl::OkStatus();
  }
  absl::Status loaded = LoadRunCheckpoint(run.last_path, run.s, &run.st, &run.dropout);
  if (!loaded.ok()) {
    return absl::Status(loaded.code(),
                        absl::StrCat("cannot resume '", run.run_dir, "': ", loaded.message()));
  }
  run.resume_step = run.checkpoint_step = run.st.step;
  const int parts = run.mb.parts();
  if (run.st.micro_batches != parts) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot resume '", run.run_dir, "': it was trained with ", run.st.micro_batches,
        " micro-batches per step and this launch makes ", parts, " (", run.mb.group->size(),
        " processes x train.grad_accum ", run.mb.per_rank, "). Resume with processes x "
        "train.grad_accum = ", run.st.micro_batches, ", e.g. one process with --set "
        "train.grad_accum=", run.st.micro_batches));
  }
  return absl::OkStatus();
}

// What result.json says about the run before it starts: identity, machine, data, budget.
absl::Status DescribeRun(Run& run) {
  const Setup& s = run.s;
  const TrainConfig& t = run.t();
  RunResult& result = run.result;
  result.set_task(s.config.task());
  result.set_model(s.config.model());
  result.set_config(s.config.tier());
  result.set_recipe(s.config.recipe());
  result.set_seed(t.seed());
  result.set_threads(run.options.threads);
  result.set_processes(run.mb.group->size());
  result.set_micro_batches(run.mb.parts());
  result.set_matmul_precision(GetMatmulPrecision() == MatmulPrecision::kBf16 ? "bf16" : "fp32");
  result.set_commit(SourceCommit());
  result.set_machine(MachineDescription());
  result.set_run_name(fs::path(run.run_dir).filename().string());
  result.set_started_at(NowRfc3339());
  result.set_parameters(s.parameters);
  DataInfo* di = result.mutable_data();
  di->set_provenance(ToDataProvenance(s.data.manifest.provenance().kind()));
  di->set_source(ProvenanceSource(s.data.manifest.provenance()));
  di->set_encoding(s.data.manifest.encoding());
  di->set_max_length(s.data.manifest.max_length());
  LRA_ASSIGN_OR_RETURN(const double majority, MajorityClassAccuracy(s.data.dir, "test"));
  di->set_test_majority_accuracy(majority);
  TrainingBudget* budget = result.mutable_budget();
  budget->set_max_steps(t.steps());
  budget->set_max_minutes(t.max_minutes());
  budget->set_batch_size(t.batch_size());
  // The budget is steps; train.max_minutes is only a safety net (CUT_SHORT marks a run it
  // stopped), so it stays out of the description and the table stays machine-independent.
  budget->set_description(
      absl::StrFormat("%s: %d steps x batch %d", s.config.tier(), t.steps(), t.batch_size()));
  return absl::OkStatus();
}

// config.txt, metrics.jsonl (cut back to the checkpoint's step on resume) and the description.
absl::Status StartRecords(Run& run) {
  if (!run.root()) return DescribeRun(run);
  LRA_RETURN_IF_ERROR(WriteFileAtomically(
      (fs::path(run.run_dir) / "config.txt").string(), ToTextProto(run.s.config)));
  LRA_RETURN_IF_ERROR(run.metrics.Open(
      (fs::path(run.run_dir) / report::kMetricsFileName).string(), run.resume_step));
  return DescribeRun(run);
}

// The train reader for `epoch` (the data order is a function of seed and epoch), with its first
// `skip` batches consumed.
absl::Status OpenEpoch(Run& run, int64_t epoch, int64_t skip) {
  run.reader_options.epoch = static_cast<int>(epoch);
  LRA_ASSIGN_OR_RETURN(run.reader,
                       datasets::DatasetReader::Open(run.s.data.dir, "train", run.reader_options));
  std::vector<datasets::Batch> skipped;
  for (int64_t i = 0; i < skip; ++i) {
    LRA_ASSIGN_OR_RETURN(bool more, run.reader->NextParts(&skipped));
    if (!more) return absl::DataLossError("training split is shorter than the checkpoint says");
  }
  return absl::OkStatus();
}

absl::Status OpenTrainData(Run& run) {
  const TrainConfig& t = run.t();
  run.reader_options.batch_size = t.batch_size();
  run.reader_options.shuffle = true;
  run.reader_options.seed = Rng(t.seed()).Stream(RngStream::kData).NextU64();
  run.reader_options.drop_remainder = true;
  run.reader_options.parts = run.mb.parts();
  run.reader_options.first_part = run.mb.first();
  run.reader_options.num_parts = run.mb.per_rank;
  return OpenEpoch(run, run.st.epoch, run.st.batch_in_epoch);
}

absl::Status SaveLast(Run& run) {
  if (run.root()) LRA_RETURN_IF_ERROR(SaveRunCheckpoint(run.last_path, run.s, run.st, &run.dropout));
  run.checkpoint_step = run.st.step;
  return absl::OkStatus();
}

// A new best: the loop state remembers (val, test) at this step, and best.ckpt holds it.
absl::Status KeepBest(Run& run, const EvalResult& val, const EvalResult& test) {
  LoopState& st = run.st;
  st.best_step = st.step;
  st.best_val = val.accuracy;
  st.best_val_loss = val.loss;
  st.best_test = test.accuracy;
  st.best_test_loss = test.loss;
  if (!run.root()) return absl::OkStatus();
  return SaveRunCheckpoint(run.best_path, run.s, st, &run.dropout);
}

void Diverge(Run& run, const std::string& what) {
  run.status = DIVERGED;
  run.status_message = absl::StrCat(
      what, "; ",
      run.checkpoint_step >= 0
          ? absl::StrCat("last.ckpt (step ", run.checkpoint_step, ") is the last good checkpoint")
          : "no checkpoint was written before it diverged",
      ". Lower train.lr or set train.grad_clip.");
}

std::string AboveCeiling(const Run& run) {
  return absl::StrFormat("above the ceiling %g (%g x ln of %d classes)", run.loss_ceiling,
                         kLossCeilingFactor, run.s.data.info.num_classes);
}

// A stop request (INTERRUPTED) or the train.max_minutes safety net (CUT_SHORT).
bool ShouldStop(Run& run) {
  const TrainConfig& t = run.t();
  const int64_t step = run.st.step;
  if ((run.options.stop != nullptr && run.options.stop->load()) ||
      (run.options.stop_after_step >= 0 && step >= run.options.stop_after_step)) {
    run.status = INTERRUPTED;
    run.status_message = absl::StrCat("stopped at step ", step, "; continue with --resume");
    return true;
  }
  if (t.max_minutes() > 0 && run.Seconds() > 60 * t.max_minutes()) {
    run.status = CUT_SHORT;
    run.status_message = absl::StrFormat(
        "cut short by the train.max_minutes safety net (%.3g min) at step %d of %d; the "
        "result depends on this machine's speed. Raise train.max_minutes or lower train.steps.",
        t.max_minutes(), step, t.steps());
    return true;
  }
  return false;
}

// ShouldStop in every process: a stop request or the safety net in any of them stops them all at
// the same step.
absl::StatusOr<bool> AgreeToStop(Run& run) {
  const bool stop = ShouldStop(run);
  if (run.mb.group->size() == 1) return stop;
  int64_t votes[2] = {stop && run.status == INTERRUPTED, stop && run.status == CUT_SHORT};
  LRA_RETURN_IF_ERROR(run.mb.group->SumInRankOrder(absl::MakeSpan(votes, 2)));
  if (votes[0] == 0 && votes[1] == 0) return false;
  const RunStatus agreed = votes[0] > 0 ? INTERRUPTED : CUT_SHORT;
  if (run.status != agreed) {
    run.status = agreed;
    run.status_message = absl::StrCat(agreed == INTERRUPTED ? "stopped" : "cut short",
                                      " by another process at step ", run.st.step,
                                      "; continue with --resume");
  }
  return true;
}

// The next training batch, cut to the config's max_length. train.train_examples caps an epoch: a
// small run then cycles through fresh shuffles of the split instead of waiting for a pass over
// all of it.
absl::Status NextBatch(Run& run, std::vector<datasets::Batch>* parts) {
  const TrainConfig& t = run.t();
  LoopState& st = run.st;
  const bool epoch_full =
      t.train_examples() > 0 && st.batch_in_epoch * t.batch_size() >= t.train_examples();
  bool more = false;
  if (!epoch_full) {
    LRA_ASSIGN_OR_RETURN(more, run.reader->NextParts(parts));
  }
  if (!more) {
    ++st.epoch;
    st.batch_in_epoch = 0;
    LRA_RETURN_IF_ERROR(OpenEpoch(run, st.epoch, 0));
    LRA_ASSIGN_OR_RETURN(more, run.reader->NextParts(parts));
    if (!more) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the training split of ", run.s.data.dir, " has fewer examples than one batch (",
          t.batch_size(), "); lower train.batch_size or prepare more data"));
    }
  }
  ++st.batch_in_epoch;
  for (datasets::Batch& batch : *parts) TruncateBatch(run.s.data.info.max_length, &batch);
  return absl::OkStatus();
}

int64_t Tokens(const datasets::Batch& batch) {
  int64_t tokens = 0;
  for (int i = 0; i < batch.batch_size; ++i) {
    tokens += batch.lengths[i] + (batch.lengths2.empty() ? 0 : batch.lengths2[i]);
  }
  return tokens;
}

// What a step did, summed over all micro-batches of all processes.
struct StepTotals {
  StepResult result;
  int64_t examples = 0;
  int64_t tokens = 0;
};

// Micro-batch `part` of this step draws from its own block of the run's dropout stream: 2^32
// Philox blocks (2^36 bytes of random bits) each, far more than one forward draws, at counter
// (step * P + part) * 2^32, so its mask depends on (seed, step, part) alone.
Rng MicroBatchDropout(const Run& run, int part) {
  const uint64_t block = static_cast<uint64_t>(run.st.step) * run.mb.parts() + part;
  return Rng(Rng::State{run.t().seed(), static_cast<uint64_t>(RngStream::kDropout), block << 32});
}

// Model buffers (BatchNorm running statistics) as floats, in Buffers() order.
void CopyBuffers(models::Model& model, std::vector<std::vector<float>>* out) {
  const auto buffers = model.Buffers();
  out->resize(buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    const Tensor& t = *buffers[i].second;
    (*out)[i].assign(Reals(t), Reals(t) + RealCount(t));
  }
}

void RestoreBuffers(models::Model& model, const std::vector<std::vector<float>>& in) {
  const auto buffers = model.Buffers();
  for (size_t i = 0; i < buffers.size(); ++i) {
    std::copy(in[i].begin(), in[i].end(), Reals(*buffers[i].second));
  }
}

// Every process's model buffers become those micro-batch 0's forward left (process 0 holds them).
absl::Status ShareBuffers(Run& run) {
  if (run.s.model->Buffers().empty()) return absl::OkStatus();
  if (run.mb.group->size() == 1) {
    if (run.mb.per_rank > 1) RestoreBuffers(*run.s.model, run.buffers);
    return absl::OkStatus();
  }
  std::string bytes;
  if (run.root()) {
    for (const std::vector<float>& b : run.buffers) {
      bytes.append(reinterpret_cast<const char*>(b.data()), b.size() * sizeof(float));
    }
  }
  LRA_RETURN_IF_ERROR(run.mb.group->Broadcast(&bytes));
  size_t offset = 0;
  for (auto& [name, t] : run.s.model->Buffers()) {
    const size_t n = static_cast<size_t>(RealCount(*t)) * sizeof(float);
    if (offset + n > bytes.size()) {
      return absl::InternalError(absl::StrCat("model buffer '", name, "' differs between processes"));
    }
    std::memcpy(Reals(*t), bytes.data() + offset, n);
    offset += n;
  }
  return absl::OkStatus();
}

// Forward and backward of this process's micro-batches, each gradient kept apart (scaled by its
// share of the batch's rows, so the sum is the gradient of the batch's mean loss); then the sum
// over all P micro-batches in order, in every process, and one update.
absl::StatusOr<StepTotals> MicroBatchStep(Run& run, std::vector<datasets::Batch>& parts) {
  Setup& s = run.s;
  const MicroBatches& mb = run.mb;
  const std::vector<Var> params = s.optimizer->Parameters();
  int64_t n = 0;
  for (const Var& p : params) n += RealCount(p.value());
  run.grads.resize(static_cast<size_t>(mb.per_rank) * n);
  std::vector<double> stats(3 * mb.per_rank, 0.0);  // per micro-batch: loss x rows, correct, tokens
  std::vector<int64_t> reached(params.size(), 0);   // micro-batches whose gradient reached each
  for (int a = 0; a < mb.per_rank; ++a) {
    const datasets::Batch& batch = parts[a];
    float* slot = run.grads.data() + a * n;
    std::fill(slot, slot + n, 0.0f);
    if (batch.batch_size == 0) continue;  // the epoch's short last batch may leave a part empty
    Rng dropout = MicroBatchDropout(run, mb.first() + a);
    const StepResult r = ComputeGradients(s, ToModelBatch(batch), batch.labels, dropout);
    stats[3 * a] = double(r.loss) * batch.batch_size;
    stats[3 * a + 1] = double(r.correct);
    stats[3 * a + 2] = double(Tokens(batch));
    const float share = float(batch.batch_size) / float(batch.global_batch_size);
    float* out = slot;
    for (size_t i = 0; i < params.size(); ++i) {
      const int64_t count = RealCount(params[i].value());
      if (params[i].has_grad()) {
        const float* g = Reals(params[i].grad());
        for (int64_t j = 0; j < count; ++j) out[j] = g[j] * share;
        ++reached[i];
      }
      out += count;
    }
    s.optimizer->ZeroGrad();
    if (mb.first() + a == 0) CopyBuffers(*s.model, &run.buffers);
  }
  dist::Group& group = *mb.group;
  LRA_RETURN_IF_ERROR(group.SumInOrder(absl::MakeSpan(stats), mb.per_rank));
  LRA_RETURN_IF_ERROR(group.SumInRankOrder(absl::MakeSpan(reached)));
  StepTotals totals;
  totals.examples = parts[0].global_batch_size;
  totals.result.loss = static_cast<float>(stats[0] / totals.examples);
  totals.result.correct = static_cast<int64_t>(stats[1]);
  totals.tokens = static_cast<int64_t>(stats[2]);
  if (!std::isfinite(totals.result.loss)) return totals;  // the same in every process
  LRA_RETURN_IF_ERROR(group.SumInOrder(absl::MakeSpan(run.grads), mb.per_rank));
  const float* sum = run.grads.data();
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t count = RealCount(params[i].value());
    if (reached[i] > 0) {
      bool overwrite = false;
      float* g = Reals(params[i].GradForWrite(&overwrite));
      std::copy(sum, sum + count, g);
    }
    sum += count;
  }
  LRA_RETURN_IF_ERROR(ShareBuffers(run));
  totals.result.lr = ApplyUpdate(s, run.st.step);
  return totals;
}

// One optimizer step on the next batch: TrainStep, or MicroBatchStep when the batch is split.
absl::StatusOr<StepTotals> Step(Run& run, std::vector<datasets::Batch>& parts) {
  if (run.mb.parts() > 1) return MicroBatchStep(run, parts);
  const datasets::Batch& batch = parts[0];
  StepTotals totals;
  totals.result = TrainStep(run.s, ToModelBatch(batch), batch.labels, run.st.step, run.dropout);
  totals.examples = batch.batch_size;
  totals.tokens = Tokens(batch);
  return totals;
}

// False (and DIVERGED) when the step's loss is not finite or above the ceiling, or the update made
// a parameter or Adam moment non-finite. Messages count steps from 1.
bool CheckStep(Run& run, const StepResult& r) {
  const int64_t step = run.st.step + 1;
  if (!std::isfinite(r.loss)) {
    Diverge(run, absl::StrCat("non-finite loss at step ", step));
    return false;
  }
  if (r.loss > run.loss_ceiling) {
    Diverge(run, absl::StrFormat("training loss %g at step %d is %s", r.loss, step,
                                 AboveCeiling(run)));
    return false;
  }
  if (const std::string bad = FirstNonFinite(run.s); !bad.empty()) {
    Diverge(run, absl::StrCat("step ", step, " made ", bad, " non-finite"));
    return false;
  }
  return true;
}

// Counts a taken step into the loop state and the train metrics window; returns the window's
// tokens per second.
double CountStep(Run& run, const StepTotals& step) {
  LoopState& st = run.st;
  const StepResult& r = step.result;
  st.window_correct += r.correct;
  ++st.step;
  st.train_tokens += step.tokens;
  st.window_tokens += step.tokens;
  st.window_loss += r.loss * step.examples;
  st.window_examples += step.examples;
  const double window_seconds = absl::ToDoubleSeconds(absl::Now() - run.window_start);
  const double tps = window_seconds > 0 ? st.window_tokens / window_seconds : 0;
  if (run.root()) run.progress->Update(st.step,
                       {{"loss", st.window_loss / st.window_examples},
                        {"acc", double(st.window_correct) / st.window_examples}},
                       tps);
  return tps;
}

// One "train" metrics line for the window since the last one, which then starts over.
absl::Status LogTrainWindow(Run& run, double lr, double tokens_per_second) {
  LoopState& st = run.st;
  MetricsRecord r;
  r.set_step(st.step);
  r.set_split("train");
  r.set_loss(st.window_loss / st.window_examples);
  r.set_accuracy(double(st.window_correct) / st.window_examples);
  r.set_lr(lr);
  r.set_tokens_per_second(tokens_per_second);
  r.set_wall_seconds(run.Seconds());
  if (run.root()) LRA_RETURN_IF_ERROR(run.metrics.Add(r));
  st.window_loss = 0;
  st.window_correct = st.window_examples = st.window_tokens = 0;
  run.window_start = absl::Now();
  return absl::OkStatus();
}

// Validation; on a new best also test (so "test at best val" needs no reload) and best.ckpt; then
// last.ckpt. Returns false (and DIVERGED, nothing written) when the validation loss runs away.
absl::StatusOr<bool> EvaluateAndKeepBest(Run& run) {
  LoopState& st = run.st;
  const int64_t eval_examples = run.t().eval_examples();
  LRA_ASSIGN_OR_RETURN(EvalResult val, Evaluate(run.s, "val", eval_examples, run.mb));
  if (!std::isfinite(val.loss) || val.loss > run.loss_ceiling) {
    Diverge(run, absl::StrFormat("validation loss %g at step %d is %s", val.loss, st.step,
                                 std::isfinite(val.loss) ? AboveCeiling(run) : "not finite"));
    return false;
  }
  MetricsRecord r;
  r.set_step(st.step);
  r.set_split("val");
  r.set_loss(val.loss);
  r.set_accuracy(val.accuracy);
  r.set_wall_seconds(run.Seconds());
  if (run.root()) LRA_RETURN_IF_ERROR(run.metrics.Add(r));
  std::string note;
  if (val.accuracy > st.best_val) {
    LRA_ASSIGN_OR_RETURN(EvalResult test, Evaluate(run.s, "test", eval_examples, run.mb));
    MetricsRecord tr = r;
    tr.set_split("test");
    tr.set_loss(test.loss);
    tr.set_accuracy(test.accuracy);
    if (run.root()) LRA_RETURN_IF_ERROR(run.metrics.Add(tr));
    LRA_RETURN_IF_ERROR(KeepBest(run, val, test));
    note = absl::StrFormat(" (best; test %.2f%%)", 100 * test.accuracy);
  }
  if (run.root()) run.progress->Message(absl::StrFormat("step %d: val acc %.2f%% loss %.4f%s", st.step,
                                        100 * val.accuracy, val.loss, note));
  LRA_RETURN_IF_ERROR(SaveLast(run));
  return true;
}

// The training loop: until train.steps, a stop, or divergence (run.status says which).
absl::Status RunLoop(Run& run) {
  const TrainConfig& t = run.t();
  LoopState& st = run.st;
  if (run.root()) {
    run.progress = std::make_unique<Progress>(
        absl::StrCat(run.s.config.task(), " ", run.s.config.model(), " ", run.s.config.tier()),
        t.steps(), run.options.terminal, LogEvery(t));
  }
  run.loop_start = run.window_start = absl::Now();
  std::vector<datasets::Batch> parts;
  while (st.step < t.steps()) {
    LRA_ASSIGN_OR_RETURN(const bool stop, AgreeToStop(run));
    if (stop) break;
    LRA_RETURN_IF_ERROR(NextBatch(run, &parts));
    LRA_ASSIGN_OR_RETURN(const StepTotals step, Step(run, parts));
    if (!CheckStep(run, step.result)) break;
    const double tokens_per_second = CountStep(run, step);

    const bool log_now = st.step % LogEvery(t) == 0;
    const bool eval_now = st.step % t.eval_every() == 0 || st.step == t.steps();
    if (log_now || eval_now) {
      LRA_RETURN_IF_ERROR(LogTrainWindow(run, step.result.lr, tokens_per_second));
    }
    if (eval_now) {
      LRA_ASSIGN_OR_RETURN(const bool healthy, EvaluateAndKeepBest(run));
      if (!healthy) break;
    } else if (t.checkpoint_every() > 0 && st.step % t.checkpoint_every() == 0) {
      LRA_RETURN_IF_ERROR(SaveLast(run));
    }
  }
  if (run.root()) run.progress->Finish();
  if (run.status == INTERRUPTED) LRA_RETURN_IF_ERROR(SaveLast(run));
  return absl::OkStatus();
}

// After the loop: the totals; for a run that reached its end (or the time limit) last.ckpt and
// validation and test at the last step (what the original LRA code reports), which may also be a
// new best; the best point; result.json.
absl::StatusOr<RunResult> Finish(Run& run) {
  const TrainConfig& t = run.t();
  LoopState& st = run.st;
  RunResult& result = run.result;
  result.set_steps(static_cast<int32_t>(st.step));
  const int64_t train_examples = TrainExamples(run.s.data);
  result.mutable_data()->set_train_examples(static_cast<int32_t>(train_examples));
  if (train_examples > 0) result.set_epochs(double(st.step) * t.batch_size() / train_examples);
  result.set_wall_seconds(run.Seconds());
  result.set_tokens_per_second(run.Seconds() > 0 ? st.train_tokens / run.Seconds() : 0);

  if (run.status == COMPLETED || run.status == CUT_SHORT) {
    LRA_RETURN_IF_ERROR(SaveLast(run));  // the last checkpoint matches the final parameters
    LRA_ASSIGN_OR_RETURN(EvalResult val, Evaluate(run.s, "val", t.eval_examples(), run.mb));
    LRA_ASSIGN_OR_RETURN(EvalResult test, Evaluate(run.s, "test", t.eval_examples(), run.mb));
    EvalPoint* last = result.mutable_last();
    last->set_step(static_cast<int32_t>(st.step));
    last->set_val_accuracy(val.accuracy);
    last->set_test_accuracy(test.accuracy);
    last->set_val_loss(val.loss);
    last->set_test_loss(test.loss);
    if (val.accuracy > st.best_val) LRA_RETURN_IF_ERROR(KeepBest(run, val, test));
  }
  if (st.best_step >= 0) {
    EvalPoint* best = result.mutable_best();
    best->set_step(static_cast<int32_t>(st.best_step));
    best->set_val_accuracy(st.best_val);
    best->set_test_accuracy(st.best_test);
    best->set_val_loss(st.best_val_loss);
    best->set_test_loss(st.best_test_loss);
  }
  result.set_status(run.status);
  result.set_status_message(run.status_message);
  result.set_peak_memory_bytes(PeakRssBytes());
  const int64_t steps_here = st.step - std::max<int64_t>(run.resume_step, 0);
  if (run.mb.group->size() > 1 && steps_here > 0) {
    const dist::Traffic& traffic = run.mb.group->traffic();
    result.set_communication_seconds_per_step(traffic.seconds / steps_here);
    result.set_bytes_sent_per_step(double(traffic.bytes_sent) / steps_here);
  }
  if (!run.root()) return result;
  LRA_RETURN_IF_ERROR(report::WriteRunResult(
      (fs::path(run.run_dir) / report::kResultFileName).string(), result));
  return result;
}

}  // namespace

absl::StatusOr<RunResult> Train(const RunConfig& config, const TrainOptions& options) {
  LRA_ASSIGN_OR_RETURN(std::unique_ptr<Run> run, OpenRun(config, options));
  LRA_RETURN_IF_ERROR(Resume(*run));
  LRA_RETURN_IF_ERROR(StartRecords(*run));
  LRA_RETURN_IF_ERROR(OpenTrainData(*run));
  LRA_RETURN_IF_ERROR(RunLoop(*run));
  return Finish(*run);
}

namespace {

// The run's setup with checkpoint `which` loaded (LoadRun's contract).
absl::StatusOr<Setup> LoadRunSetup(const std::string& run_dir, const std::string& which,
                                   const std::string& data_dir, LoopState* st,
                                   std::string* checkpoint_path) {
  if (which != "best" && which != "last") {
    return absl::InvalidArgumentError(
        absl::StrCat("--checkpoint must be best or last, not '", which, "'"));
  }
  std::error_code ec;
  const fs::path config_path = fs::path(run_dir) / "config.txt";
  if (!fs::is_regular_file(config_path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        "'", run_dir, "' is not a run folder (it has no config.txt); pass a folder that "
        "`lra train` wrote, or a run name under --runs_dir"));
  }
  *checkpoint_path = (fs::path(run_dir) / (which + ".ckpt")).string();
  if (!fs::is_regular_file(*checkpoint_path, ec)) {
    std::vector<std::string> have;
    for (const char* name : {kBestCheckpoint, kLastCheckpoint}) {
      if (fs::is_regular_file(fs::path(run_dir) / name, ec)) have.push_back(name);
    }
    return absl::NotFoundError(absl::StrCat(
        "run '", run_dir, "' has no ", which, ".ckpt (",
        have.empty() ? "no checkpoint at all: the run stopped before its first one"
                     : absl::StrCat("it has ", have[0], "; use --checkpoint=",
                                    have[0].substr(0, have[0].find('.'))),
        ")"));
  }
  RunConfig config;
  LRA_RETURN_IF_ERROR(ParseTextProtoFile(config_path.string(), &config));
  LRA_ASSIGN_OR_RETURN(Setup s, BuildSetup(config, data_dir));
  Rng dropout(0);
  LRA_RETURN_IF_ERROR(LoadRunCheckpoint(*checkpoint_path, s, st, &dropout));
  return s;
}

}  // namespace

absl::StatusOr<LoadedRun> LoadRun(const std::string& run_dir, const std::string& which,
                                  const std::string& data_dir) {
  LoadedRun out;
  LoopState st;
  LRA_ASSIGN_OR_RETURN(Setup s, LoadRunSetup(run_dir, which, data_dir, &st, &out.checkpoint_path));
  out.setup = std::move(static_cast<TrainingSetup&>(s));
  out.step = st.step;
  return out;
}

absl::StatusOr<EvalResult> EvaluateRun(const std::string& run_dir, const std::string& which,
                                       const std::string& split, const std::string& data_dir) {
  LoopState st;
  std::string checkpoint_path;
  LRA_ASSIGN_OR_RETURN(Setup s, LoadRunSetup(run_dir, which, data_dir, &st, &checkpoint_path));
  LRA_ASSIGN_OR_RETURN(EvalResult stats, Evaluate(s, split, 0));
  if (!std::isfinite(stats.loss)) {
    return absl::DataLossError(absl::StrCat(
        checkpoint_path, ": the model overflows on split '", split, "' (loss ", stats.loss,
        "); the checkpoint is unusable: use --checkpoint=", which == "best" ? "last" : "best",
        " or train again"));
  }
  return stats;
}

}  // namespace lra::harness

#include "harness/commands.h"

#include <glob.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/base/status_macros.h"
#include "core/base/textproto.h"
#include "core/dist/group.h"
#include "core/ops/matmul.h"
#include "core/parallel.h"
#include "harness/bench.h"
#include "harness/stream_bench.h"
#include "harness/config.h"
#include "harness/export.h"
#include "harness/flags.h"
#include "harness/paths.h"
#include "harness/plan.h"
#include "harness/progress.h"
#include "harness/report/accuracy_table.h"
#include "harness/report/bench_table.h"
#include "harness/report/plots.h"
#include "harness/report/result_io.h"
#include "harness/suite.h"
#include "harness/task_data.h"
#include "harness/trainer.h"
#include "models/registry.h"
#include "tasks/registry.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

std::string DataDir() {
  std::string d = absl::GetFlag(FLAGS_data_dir);
  return d.empty() ? DefaultDataDir() : d;
}
std::string RunsDir() {
  std::string d = absl::GetFlag(FLAGS_runs_dir);
  return d.empty() ? DefaultRunsDir() : d;
}
std::string ResultsDir() {
  std::string d = absl::GetFlag(FLAGS_results_dir);
  return d.empty() ? DefaultResultsDir() : d;
}

absl::Status RequireFlag(const std::string& value, absl::string_view flag, absl::string_view example) {
  if (!value.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required, e.g. ", example));
}

// --- prepare / tasks / models -------------------------------------------------------------------

tasks::PrepareOptions PrepareFromFlags(const std::string& task) {
  tasks::PrepareOptions o;
  o.task = task;
  o.source = absl::GetFlag(FLAGS_source);
  o.generate = absl::GetFlag(FLAGS_generate);
  o.size = absl::GetFlag(FLAGS_size);
  if (absl::GetFlag(FLAGS_seed) != 0) o.seed = absl::GetFlag(FLAGS_seed);
  o.overwrite = absl::GetFlag(FLAGS_overwrite);
  o.encoding = absl::GetFlag(FLAGS_encoding);
  o.max_length = absl::GetFlag(FLAGS_max_length);
  o.split_convention = absl::GetFlag(FLAGS_split);
  o.difficulty = absl::GetFlag(FLAGS_difficulty);
  o.keep_source = absl::GetFlag(FLAGS_keep_source);
  return o;
}

// The payload that carries a run's exit code (kExitDiverged, ...) in a Status; see ExitCode.
constexpr char kExitCodePayload[] = "lra/exit_code";

absl::Status WithExitCode(absl::Status status, int code) {
  status.SetPayload(kExitCodePayload, absl::Cord(absl::StrCat(code)));
  return status;
}

// A finished run's status as the command's: OK for COMPLETED, an error with the run's exit
// code otherwise (printed by main after the run's summary).
absl::Status RunOutcome(const RunResult& r) {
  switch (r.status()) {
    case INTERRUPTED:
      return WithExitCode(absl::CancelledError(absl::StrCat("run INTERRUPTED: ", r.status_message())),
                          kExitInterrupted);
    case DIVERGED:
      return WithExitCode(absl::AbortedError(absl::StrCat("run DIVERGED: ", r.status_message())),
                          kExitDiverged);
    case CUT_SHORT:
      return WithExitCode(
          absl::DeadlineExceededError(absl::StrCat("run CUT_SHORT: ", r.status_message())),
          kExitCutShort);
    default:
      return absl::OkStatus();
  }
}

std::function<bool()> Cancelled(const std::atomic<bool>* stop) {
  return [stop] { return stop != nullptr && stop->load(); };
}

absl::Status Prepare(tasks::PrepareOptions options, const std::atomic<bool>* stop) {
  options.cancelled = Cancelled(stop);
  LRA_ASSIGN_OR_RETURN(options.out_dir, tasks::DefaultDatasetDir(DataDir(), options));
  std::fprintf(stderr, "preparing %s%s into %s ...\n", options.task.c_str(),
               options.generate ? " (generated)" : "", options.out_dir.c_str());
  // One progress line per stage (generating the original files, converting them to records):
  // Path-X alone takes minutes.
  std::unique_ptr<Progress> progress;
  std::string stage;
  options.progress = [&](absl::string_view now, int64_t done, int64_t total) {
    if (progress == nullptr || stage != now) {
      stage = std::string(now);
      // Off a terminal: about ten lines per stage, or one per 10,000 items when the total is
      // unknown.
      progress = std::make_unique<Progress>(absl::StrCat("  ", options.task, " ", stage), total,
                                            Progress::StderrIsTerminal(),
                                            total > 0 ? std::max<int64_t>(total / 10, 1) : 10000);
    }
    progress->Update(done, {}, 0);
  };
  tasks::PrepareReport report;
  const absl::Status prepared = tasks::PrepareTask(options, &report);
  progress.reset();
  LRA_RETURN_IF_ERROR(prepared);
  if (report.already_present) {
    std::fprintf(stderr, "  already prepared (use --overwrite to redo it)\n");
    return absl::OkStatus();
  }
  std::string counts;
  for (const datasets::Split& s : report.manifest.splits()) {
    absl::StrAppend(&counts, counts.empty() ? "" : ", ", s.name(), " ", s.num_examples());
  }
  std::fprintf(stderr, "  %s; %lld skipped; %.1f s (%.0f examples/s)\n", counts.c_str(),
               static_cast<long long>(report.stats.skipped), report.seconds,
               report.seconds > 0 ? report.stats.examples / report.seconds : 0.0);
  for (const std::string& note : report.stats.notes) std::fprintf(stderr, "  note: %s\n", note.c_str());
  return absl::OkStatus();
}

absl::Status PrepareCommand(const std::atomic<bool>* stop) {
  const std::string task = absl::GetFlag(FLAGS_task);
  LRA_RETURN_IF_ERROR(RequireFlag(task, "task", "--task=listops"));
  return Prepare(PrepareFromFlags(task), stop);
}

absl::Status TasksCommand() {
  absl::StatusOr<std::vector<tasks::DatasetInfo>> found = tasks::DescribeData(DataDir());
  std::vector<tasks::DatasetInfo> none;
  std::printf("%s", tasks::FormatTaskList(found.ok() ? *found : none).c_str());
  return absl::OkStatus();
}

absl::Status ModelsCommand() {
  std::printf("%s", models::DescribeModels().c_str());
  return absl::OkStatus();
}

// Reads every prepared dataset (or --task's) in full and reports each: manifest, spec, sizes,
// SHA-256, CRCs, every example against the manifest, counts. Refreshes each verification cache.
absl::Status VerifyCommand() {
  LRA_ASSIGN_OR_RETURN(std::vector<VerifiedDataset> all,
                       VerifyDatasets(DataDir(), absl::GetFlag(FLAGS_task)));
  int failed = 0;
  for (const VerifiedDataset& v : all) {
    if (v.status.ok()) {
      std::printf("ok      %s: %s, %d shards, %.1f MB in %.1f s\n", v.dir.c_str(), v.task.c_str(),
                  v.report.shards, v.report.bytes / 1e6, v.seconds);
      if (!v.report.cache_error.empty()) {
        std::printf("        (result not cached: %s)\n", v.report.cache_error.c_str());
      }
    } else {
      ++failed;
      std::printf("FAILED  %s: %s\n", v.dir.c_str(), std::string(v.status.message()).c_str());
    }
  }
  std::printf("%zu datasets verified, %d failed\n", all.size(), failed);
  if (failed == 0) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      failed, " of ", all.size(), " datasets failed verification (see above); prepare each again "
      "with `lra prepare --task=<task> ... --overwrite`"));
}

// --- train / eval -------------------------------------------------------------------------------

absl::Status ApplyFlagOverrides(RunConfig* config) {
  for (const std::string& s : absl::GetFlag(FLAGS_set)) LRA_RETURN_IF_ERROR(ApplyOverride(s, config));
  if (absl::GetFlag(FLAGS_seed) != 0) config->mutable_train()->set_seed(absl::GetFlag(FLAGS_seed));
  if (!absl::GetFlag(FLAGS_dataset).empty()) config->set_dataset(absl::GetFlag(FLAGS_dataset));
  return absl::OkStatus();
}

TrainOptions BaseTrainOptions(const std::atomic<bool>* stop) {
  TrainOptions o;
  o.data_dir = DataDir();
  o.runs_dir = RunsDir();
  o.terminal = Progress::StderrIsTerminal();
  o.threads = NumThreads();
  o.stop = stop;
  return o;
}

void PrintResult(const RunResult& r, const std::string& run_dir) {
  std::fprintf(stderr,
               "%s %s %s seed %llu: %s after %d steps, %.0f s; best val %.2f%% (step %d) -> test "
               "%.2f%%; last test %.2f%%\n  %s\n",
               r.task().c_str(), r.model().c_str(), r.config().c_str(),
               static_cast<unsigned long long>(r.seed()), RunStatus_Name(r.status()).c_str(),
               r.steps(), r.wall_seconds(), 100 * r.best().val_accuracy(), r.best().step(),
               100 * r.best().test_accuracy(), 100 * r.last().test_accuracy(), run_dir.c_str());
  if (!r.status_message().empty()) std::fprintf(stderr, "  %s\n", r.status_message().c_str());
}

// A path the user typed: under `bazel run` the process starts in the runfiles tree, so a
// relative path is taken from the folder the command was started in (BUILD_WORKING_DIRECTORY).
std::string UserPath(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || fs::path(path).is_absolute() || cwd == nullptr || *cwd == '\0') return path;
  return (fs::path(cwd) / path).string();
}

// A run that finished before (any status but INTERRUPTED) is kept: *kept is set and its recorded
// result returned. Otherwise the run is trained, continued from its folder when it has one
// (from step 0 when it has no checkpoint yet). What `lra suite` and `lra train --continue` do, so
// a suite, a plan's job, or a resubmitted array element picks up where the last one stopped.
absl::StatusOr<RunResult> ContinueRun(const RunConfig& config, TrainOptions options, bool* kept) {
  const std::string run_dir = RunDir(config, options);
  absl::StatusOr<RunResult> done =
      report::ReadRunResult((fs::path(run_dir) / report::kResultFileName).string());
  *kept = done.ok() && done->status() != INTERRUPTED;
  if (*kept) return *done;
  options.resume = fs::exists(fs::path(run_dir) / "config.txt");
  return Train(config, options);
}

// `lra train` of a resolved config: --resume or --continue, --run_name, --stop_after_step, and
// under mpirun the job's processes.
absl::Status TrainResolved(const RunConfig& config, const std::atomic<bool>* stop) {
  TrainOptions options = BaseTrainOptions(stop);
  options.resume = absl::GetFlag(FLAGS_resume);
  options.run_name = absl::GetFlag(FLAGS_run_name);
  options.stop_after_step = absl::GetFlag(FLAGS_stop_after_step);
  LRA_ASSIGN_OR_RETURN(options.group, dist::Group::World());
  bool kept = false;
  absl::StatusOr<RunResult> trained = absl::GetFlag(FLAGS_continue)
                                          ? ContinueRun(config, options, &kept)
                                          : Train(config, options);
  // An error in one process of several ends them all: the others may be waiting in a collective.
  if (!trained.ok() && options.group->size() > 1) options.group->Abort(trained.status());
  LRA_RETURN_IF_ERROR(trained.status());
  const RunResult& result = *trained;
  const std::string run_dir = RunDir(config, options);
  if (kept) {
    if (options.group->is_root()) std::fprintf(stderr, "%s: done before, kept\n", run_dir.c_str());
    return absl::OkStatus();
  }
  if (!options.group->is_root()) return RunOutcome(result);
  absl::StatusOr<std::string> plot = report::WriteTrainingCurves(run_dir);
  if (!plot.ok()) std::fprintf(stderr, "  (no training-curve plot: %s)\n", std::string(plot.status().message()).c_str());
  PrintResult(result, run_dir);
  return RunOutcome(result);
}

absl::Status TrainCommand(const std::atomic<bool>* stop) {
  RunConfig config;
  const std::string file = absl::GetFlag(FLAGS_config);
  if (!file.empty()) {
    // A whole config (a run's config.txt, a plan's configs/*.textproto): no tier lookup, so
    // this works from any directory and without the source tree.
    if (!absl::GetFlag(FLAGS_task).empty() || !absl::GetFlag(FLAGS_model).empty()) {
      return absl::InvalidArgumentError(
          "--config gives the task and model; drop --task and --model, or drop --config");
    }
    LRA_RETURN_IF_ERROR(ParseTextProtoFile(UserPath(file), &config));
    if (config.task().empty() || config.model().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--config=", file, " names no task or model; use a run's config.txt or a plan's config"));
    }
  } else {
    const std::string task = absl::GetFlag(FLAGS_task), model = absl::GetFlag(FLAGS_model);
    LRA_RETURN_IF_ERROR(RequireFlag(task, "task", "--task=listops"));
    LRA_RETURN_IF_ERROR(RequireFlag(model, "model", "--model=s4d (see `lra models`)"));
    LRA_ASSIGN_OR_RETURN(config, ResolveRunConfig(task, model, absl::GetFlag(FLAGS_tier), {}));
  }
  LRA_RETURN_IF_ERROR(models::GetModel(config.model()).status());
  LRA_RETURN_IF_ERROR(tasks::GetTaskSpec(config.task()).status());
  LRA_RETURN_IF_ERROR(ApplyFlagOverrides(&config));
  return TrainResolved(config, stop);
}


// --run: a run folder, or the name of one under --runs_dir.
absl::StatusOr<std::string> RunFromFlag() {
  const std::string run = absl::GetFlag(FLAGS_run);
  LRA_RETURN_IF_ERROR(RequireFlag(run, "run", "--run=listops-s4d-small-s1"));
  std::error_code ec;
  if (fs::is_directory(UserPath(run), ec)) return UserPath(run);
  const std::string named = (fs::path(RunsDir()) / run).string();
  if (fs::is_directory(named, ec)) return named;
  return absl::NotFoundError(absl::StrCat("--run=", run, ": no such run folder, and no run '", run,
                                          "' under --runs_dir ", RunsDir(),
                                          " (its folders are the run names)"));
}

absl::Status EvalCommand() {
  LRA_ASSIGN_OR_RETURN(const std::string run, RunFromFlag());
  for (const std::string split : {"val", "test"}) {
    LRA_ASSIGN_OR_RETURN(EvalResult r,
                         EvaluateRun(run, absl::GetFlag(FLAGS_checkpoint), split, DataDir()));
    std::printf("%s %s: accuracy %.2f%%, loss %.4f over %lld examples\n",
                absl::GetFlag(FLAGS_checkpoint).c_str(), split.c_str(), 100 * r.accuracy, r.loss,
                static_cast<long long>(r.examples));
  }
  return absl::OkStatus();
}

absl::Status ExportCommand(const std::atomic<bool>* stop) {
  ExportOptions o;
  o.cancelled = Cancelled(stop);
  o.format = absl::GetFlag(FLAGS_format);
  o.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  o.out = UserPath(absl::GetFlag(FLAGS_out));
  o.data_dir = DataDir();
  LRA_ASSIGN_OR_RETURN(o.run_dir, RunFromFlag());
  LRA_ASSIGN_OR_RETURN(ExportReport r, ExportRun(o));
  std::fprintf(stderr, "%s checkpoint (step %lld): %d arrays, %lld float32 values, %lld bytes\n",
               o.checkpoint.c_str(), static_cast<long long>(r.step), r.arrays,
               static_cast<long long>(r.scalars), static_cast<long long>(r.bytes));
  std::printf("%s\n", r.path.c_str());
  return absl::OkStatus();
}

// --- table / bench ------------------------------------------------------------------------------

// Both tables at once: test accuracy at the best-validation checkpoint (lra_table.*) and at
// the last step (lra_table_last.*, what the original LRA code reports).
// --runs_dirs with its patterns expanded (glob(3)), or --runs_dir.
absl::StatusOr<std::vector<std::string>> TableRunsDirs() {
  const std::vector<std::string> given = absl::GetFlag(FLAGS_runs_dirs);
  if (given.empty()) return std::vector<std::string>{RunsDir()};
  std::vector<std::string> dirs;
  for (const std::string& pattern : given) {
    glob_t matches;
    const int rc = glob(UserPath(pattern).c_str(), GLOB_NOCHECK | GLOB_TILDE, nullptr, &matches);
    if (rc == 0) {
      for (size_t i = 0; i < matches.gl_pathc; ++i) dirs.push_back(matches.gl_pathv[i]);
    }
    globfree(&matches);
    if (rc != 0) {
      return absl::InvalidArgumentError(absl::StrCat("--runs_dirs: cannot expand '", pattern, "'"));
    }
  }
  return dirs;
}

absl::Status TableCommand() {
  LRA_ASSIGN_OR_RETURN(const std::vector<std::string> runs_dirs, TableRunsDirs());
  LRA_ASSIGN_OR_RETURN(report::TableFiles files,
                       report::WriteLraTables(runs_dirs, ResultsDir(), {}));
  for (const std::string& w : files.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  std::fprintf(stderr, "accuracy tables from %d runs:\n", files.runs);
  for (const std::string& f : files.written) std::fprintf(stderr, "  %s\n", f.c_str());
  return absl::OkStatus();
}

// A comma-separated list of positive integers from a flag; empty when the flag is.
absl::StatusOr<std::vector<int>> PositiveIntsFromFlag(const std::vector<std::string>& given,
                                                      const char* flag) {
  std::vector<int> values;
  for (const std::string& s : given) {
    int v = 0;
    if (!absl::SimpleAtoi(s, &v) || v <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", s, "' is not a positive integer"));
    }
    values.push_back(v);
  }
  return values;
}

absl::Status StreamBenchCommand(const std::atomic<bool>* stop) {
  StreamBenchOptions options;
  options.cancelled = Cancelled(stop);
  LRA_ASSIGN_OR_RETURN(std::vector<int> lengths,
                       PositiveIntsFromFlag(absl::GetFlag(FLAGS_lengths), "lengths"));
  if (!lengths.empty()) options.contexts = lengths;
  LRA_ASSIGN_OR_RETURN(options.streams,
                       PositiveIntsFromFlag(absl::GetFlag(FLAGS_streams), "streams"));
  options.window = absl::GetFlag(FLAGS_stream_window);
  options.models = absl::GetFlag(FLAGS_models);
  options.model_options = absl::GetFlag(FLAGS_model_options);
  options.tier = absl::GetFlag(FLAGS_tier);
  options.out_dir = (fs::path(ResultsDir()) / "bench").string();
  return RunStreamBench(options, ResultsDir());
}

absl::Status BenchCommand(const std::atomic<bool>* stop) {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "stream") return StreamBenchCommand(stop);
  if (mode != "train") {
    return absl::InvalidArgumentError(
        absl::StrCat("--mode: '", mode, "' is not a bench mode; use train or stream"));
  }
  BenchOptions options;
  options.cancelled = Cancelled(stop);
  LRA_ASSIGN_OR_RETURN(std::vector<int> lengths,
                       PositiveIntsFromFlag(absl::GetFlag(FLAGS_lengths), "lengths"));
  if (!lengths.empty()) options.lengths = lengths;
  options.models = absl::GetFlag(FLAGS_models);
  options.model_options = absl::GetFlag(FLAGS_model_options);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.steps = absl::GetFlag(FLAGS_bench_steps);
  options.tier = absl::GetFlag(FLAGS_tier);
  options.out_dir = (fs::path(ResultsDir()) / "bench").string();
  return RunBench(options, ResultsDir());
}

// --- suite --------------------------------------------------------------------------------------

// The suite's data preparation, for the tasks --only selects; release files a suite marks
// optional are skipped (with a note) where they are absent.
std::vector<tasks::PrepareOptions> SuitePrepares(const Suite& suite,
                                                 const std::function<bool(const std::string&)>& selected) {
  std::vector<tasks::PrepareOptions> out;
  for (const Suite::Prepare& p : suite.prepare()) {
    if (!selected(p.task())) continue;
    tasks::PrepareOptions o;
    o.task = p.task();
    o.generate = p.generate();
    o.size = p.size();
    o.source = p.source();
    o.encoding = p.encoding();
    if (p.optional_source() && !o.source.empty() && !fs::exists(o.source)) {
      std::fprintf(stderr, "skipping %s: no release files at %s\n", o.task.c_str(), o.source.c_str());
      continue;
    }
    out.push_back(o);
  }
  return out;
}

// Every run of the suite (for the tasks --only selects) as a resolved config: one per seed, the
// flags' overrides applied.
absl::StatusOr<std::vector<RunConfig>> SuiteRuns(
    const Suite& suite, const std::function<bool(const std::string&)>& selected) {
  std::vector<RunConfig> out;
  LRA_ASSIGN_OR_RETURN(const std::vector<Suite::Run> runs, ExpandSuiteRuns(suite));
  for (const Suite::Run& r : runs) {
    if (!selected(r.task())) continue;
    std::vector<uint64_t> seeds(r.seeds().begin(), r.seeds().end());
    if (seeds.empty()) seeds.push_back(0);
    for (uint64_t seed : seeds) {
      RunConfig overrides = r.overrides();
      if (seed != 0) overrides.mutable_train()->set_seed(seed);
      LRA_ASSIGN_OR_RETURN(RunConfig config,
                           ResolveRunConfig(r.task(), r.model(), r.tier(), overrides));
      LRA_RETURN_IF_ERROR(ApplyFlagOverrides(&config));
      out.push_back(std::move(config));
    }
  }
  return out;
}

// `lra suite --plan=DIR`: the suite written as commands for a cluster (harness/plan.h).
absl::Status PlanSuite(const Suite& suite, const std::vector<tasks::PrepareOptions>& prepares,
                       const std::vector<RunConfig>& runs) {
  PlanOptions o;
  o.dir = fs::absolute(UserPath(absl::GetFlag(FLAGS_plan))).lexically_normal().string();
  o.suite = suite.name();
  std::error_code ec;
  o.lra = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) return absl::InternalError(absl::StrCat("cannot find this binary: ", ec.message()));
  o.data_dir = fs::absolute(DataDir()).lexically_normal().string();
  o.runs_dir = fs::absolute(RunsDir()).lexically_normal().string();
  o.results_dir = fs::absolute(ResultsDir()).lexically_normal().string();
  o.threads = absl::GetFlag(FLAGS_plan_threads);
  o.processes = absl::GetFlag(FLAGS_plan_processes);
  o.max_parallel = absl::GetFlag(FLAGS_plan_max_parallel);
  if (o.threads < 1 || o.processes < 1 || o.max_parallel < 0) {
    return absl::InvalidArgumentError(
        "--plan_threads and --plan_processes must be >= 1, --plan_max_parallel >= 0");
  }
  LRA_RETURN_IF_ERROR(WritePlan(o, prepares, runs));
  std::fprintf(stderr, "plan of suite %s: %zu runs in %s (see its README.md)\n",
               suite.name().c_str(), runs.size(), o.dir.c_str());
  std::printf("%s\n", o.dir.c_str());
  return absl::OkStatus();
}

absl::Status SuiteCommand(const std::atomic<bool>* stop) {
  LRA_ASSIGN_OR_RETURN(Suite suite, LoadSuite(absl::GetFlag(FLAGS_suite)));
  const std::vector<std::string> only = absl::GetFlag(FLAGS_only);
  const std::function<bool(const std::string&)> selected = [&](const std::string& task) {
    return only.empty() || std::find(only.begin(), only.end(), task) != only.end();
  };
  const std::vector<tasks::PrepareOptions> prepares = SuitePrepares(suite, selected);
  LRA_ASSIGN_OR_RETURN(const std::vector<RunConfig> runs, SuiteRuns(suite, selected));
  if (!absl::GetFlag(FLAGS_plan).empty()) return PlanSuite(suite, prepares, runs);
  const absl::Time start = absl::Now();
  std::fprintf(stderr, "suite %s: %s\n", suite.name().c_str(), suite.description().c_str());
  for (const tasks::PrepareOptions& p : prepares) LRA_RETURN_IF_ERROR(Prepare(p, stop));
  int failures = 0, diverged = 0, cut_short = 0;
  for (const RunConfig& config : runs) {
    if (stop->load()) return absl::CancelledError("interrupted; rerun the suite to continue");
    TrainOptions options = BaseTrainOptions(stop);
    const std::string run_dir = RunDir(config, options);
    bool kept = false;
    absl::StatusOr<RunResult> result = ContinueRun(config, options, &kept);
    if (kept) {
      std::fprintf(stderr, "%s: done before, kept\n", run_dir.c_str());
      continue;
    }
    if (!result.ok()) {
      // A task whose data is not on this machine (CIFAR-10 without its release files) is
      // skipped and leaves a gap in the table; any other error is a failure. Neither stops
      // the other runs.
      const bool skipped = absl::IsNotFound(result.status());
      std::fprintf(stderr, "%s %s/%s: %s\n", skipped ? "skipped" : "FAILED",
                   config.task().c_str(), config.model().c_str(),
                   std::string(result.status().message()).c_str());
      if (!skipped) ++failures;
      continue;
    }
    (void)report::WriteTrainingCurves(run_dir);
    PrintResult(*result, run_dir);
    diverged += result->status() == DIVERGED;
    cut_short += result->status() == CUT_SHORT;
  }
  if (stop->load()) return absl::CancelledError("interrupted; rerun the suite to continue");
  if (!suite.bench_lengths().empty()) {
    BenchOptions options;
    options.lengths.assign(suite.bench_lengths().begin(), suite.bench_lengths().end());
    options.models.assign(suite.bench_models().begin(), suite.bench_models().end());
    options.batch_size = suite.has_bench_batch_size() ? suite.bench_batch_size() : 32;
    options.steps = suite.has_bench_steps() ? suite.bench_steps() : 2;
    options.tier = "small";
    options.out_dir = (fs::path(ResultsDir()) / "bench").string();
    options.cancelled = Cancelled(stop);
    LRA_RETURN_IF_ERROR(RunBench(options, ResultsDir()));
  }
  LRA_RETURN_IF_ERROR(TableCommand());
  std::fprintf(stderr, "suite %s finished in %s%s\n", suite.name().c_str(),
               Progress::FormatDuration(absl::ToDoubleSeconds(absl::Now() - start)).c_str(),
               failures > 0 ? absl::StrCat(" with ", failures, " failed runs").c_str() : "");
  if (failures > 0) return absl::InternalError(absl::StrCat(failures, " runs failed; see above"));
  if (diverged > 0) {
    return WithExitCode(absl::AbortedError(absl::StrCat(diverged, " runs DIVERGED; see above")),
                        kExitDiverged);
  }
  if (cut_short > 0) {
    return WithExitCode(absl::DeadlineExceededError(absl::StrCat(
                            cut_short, " runs were CUT_SHORT by train.max_minutes; see above")),
                        kExitCutShort);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> ResolveThreads(int requested, int cores) {
  const int most = std::max(kMaxThreads, cores);
  if (requested == 0) return std::max(cores, 1);
  if (requested < 0 || requested > most) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--threads=", requested, " is out of range: use 1 to ", most, " (the larger of ",
        kMaxThreads, " and this machine's ", cores,
        " cores), or 0 / leave it unset for all cores"));
  }
  return requested;
}

absl::Status InitProcess() {
  // Checked before any command runs, so a bad value leaves no run folder or dataset behind.
  // Processes of one MPI job on this machine share its cores.
  LRA_ASSIGN_OR_RETURN(
      const int threads,
      ResolveThreads(absl::GetFlag(FLAGS_threads),
                     std::max(1, omp_get_num_procs() / dist::LocalProcessCount())));
  SetNumThreads(threads);
  const std::string precision = absl::GetFlag(FLAGS_matmul_precision);
  if (precision == "fp32") return SetMatmulPrecision(MatmulPrecision::kF32);
  if (precision == "bf16") {
    absl::Status s = SetMatmulPrecision(MatmulPrecision::kBf16);
    if (!s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("--matmul_precision=bf16: ", s.message()));
    }
    return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("--matmul_precision must be fp32 or bf16, not '",
                                                 precision, "'"));
}

int ExitCode(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (auto code = status.GetPayload(kExitCodePayload)) {
    int value = kExitError;
    if (absl::SimpleAtoi(std::string(*code), &value)) return value;
  }
  if (absl::IsCancelled(status)) return kExitInterrupted;
  if (absl::IsInvalidArgument(status) || absl::IsNotFound(status)) return kExitUsage;
  return kExitError;
}

absl::Status RunCommand(const std::string& command, const std::atomic<bool>* stop) {
  if (dist::LaunchedByMpi()) {
    LRA_ASSIGN_OR_RETURN(dist::Group * world, dist::Group::World());
    if (world->size() > 1 && command != "train") {
      return absl::FailedPreconditionError(absl::StrCat(
          "`lra ", command, "` runs in one process; under mpirun only `lra train` splits its "
          "work over processes. Run it without mpirun"));
    }
  }
  if (command == "prepare") return PrepareCommand(stop);
  if (command == "tasks") return TasksCommand();
  if (command == "models") return ModelsCommand();
  if (command == "verify") return VerifyCommand();
  if (command == "train") return TrainCommand(stop);
  if (command == "eval") return EvalCommand();
  if (command == "export") return ExportCommand(stop);
  if (command == "suite") return SuiteCommand(stop);
  if (command == "table") return TableCommand();
  if (command == "bench") return BenchCommand(stop);
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown command '", command,
      "'. Commands: prepare, tasks, models, verify, train, eval, export, suite, table, bench, "
      "help"));
}

}  // namespace lra::harness

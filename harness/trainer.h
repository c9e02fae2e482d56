// The one training loop: every task, every model.
//
//   TrainOptions options{.data_dir = DefaultDataDir(), .runs_dir = DefaultRunsDir()};
//   LRA_ASSIGN_OR_RETURN(RunResult result, Train(config, options));
//
// Per step: a batch from the record reader, Forward, cross-entropy, Backward, gradient clipping,
// the optimizer step at the scheduled learning rate. Every `eval_every` steps: validation; a
// new best writes the best checkpoint and evaluates test there (so "test at best val" needs no
// reload). At the end: validation and test at the last step. The run folder holds
//   config.txt      the resolved RunConfig
//   metrics.jsonl   train / val / test lines (harness/report/README.md)
//   result.json     the RunResult
//   last.ckpt, best.ckpt
//   lock            flock'ed while a process trains the run (harness/run_lock.h): a second
//                   process on the folder is refused, naming the holder's pid, host and start
// `resume` continues from last.ckpt and ends bitwise equal to an uninterrupted run, metrics.jsonl
// included (wall-clock fields aside): the data order is a function of (seed, epoch) and the
// checkpoint holds parameters, optimizer and RNG state, the step, the best-so-far and the open
// train-metrics window. Every trainer field of a checkpoint is range-checked against the config
// on load. `resume` needs the run's config.txt and the same config (train.max_minutes aside; the
// differing fields are named), never creates a folder, and starts a run that has no checkpoint
// yet from step 0. A stop request (SIGINT/SIGTERM) writes last.ckpt and returns status
// INTERRUPTED. A non-finite loss, a step that makes a parameter or Adam moment non-finite, or a
// train or validation loss above 100 ln(num_classes) stops with DIVERGED; no checkpoint is
// written from then on, and the message names the last good one or says there is none. A
// metrics line that cannot be written stops the run with an error.
#ifndef LRA_HARNESS_TRAINER_H_
#define LRA_HARNESS_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "core/dist/group.h"
#include "core/optim/adam.h"
#include "core/optim/schedule.h"
#include "core/random.h"
#include "harness/config.pb.h"
#include "harness/run_result.pb.h"
#include "models/model.h"

namespace lra::harness {

// A model with its optimizer and schedule, built from a resolved config. `lra train` and
// `lra bench` both step through TrainStep, so the benchmark times exactly the training step.
struct TrainingSetup {
  RunConfig config;
  models::TaskInfo task;
  std::unique_ptr<models::Model> model;
  std::vector<models::ParamGroup> groups;
  std::unique_ptr<Adam> optimizer;        // over every group's parameters
  std::unique_ptr<LrSchedule> schedule;
  int64_t parameters = 0;
};

absl::StatusOr<TrainingSetup> MakeTrainingSetup(const RunConfig& config,
                                                const models::TaskInfo& task);

struct StepResult {
  float loss = 0;       // non-finite: the step was not applied
  int64_t correct = 0;  // examples whose argmax logit is the label
  double lr = 0;        // the learning rate used (global lr x schedule factor)
};

// One optimizer step on one batch: ComputeGradients, then (for a finite loss) ApplyUpdate at
// step `step` of the schedule. On a non-finite loss it returns before Backward, leaving
// parameters, gradients and optimizer untouched.
StepResult TrainStep(TrainingSetup& setup, const models::Batch& batch,
                     const std::vector<int32_t>& labels, int64_t step, Rng& dropout);

// The two halves of TrainStep, apart so that gradients of several batches (or processes) can be
// summed before one update. ComputeGradients: Forward, cross-entropy and Backward, which adds the
// batch's gradients to the parameters' (loss and correct are set, lr is not; on a non-finite loss
// it returns before Backward). ApplyUpdate: gradient clipping (train.grad_clip), the optimizer
// step at the scheduled learning rate for update `step` (0-based), and zeroing the gradients;
// returns the learning rate used.
StepResult ComputeGradients(TrainingSetup& setup, const models::Batch& batch,
                            const std::vector<int32_t>& labels, Rng& dropout);
double ApplyUpdate(TrainingSetup& setup, int64_t step);

// Data parallelism. A step's train.batch_size examples are split into P = processes x
// train.grad_accum micro-batches of contiguous rows (datasets::ReaderOptions::parts); process r
// reads and runs micro-batches r * grad_accum ... r * grad_accum + grad_accum - 1. Each
// micro-batch's gradient (of its mean loss, weighted by its share of the batch's rows) is kept
// apart, and the P gradients are added strictly in micro-batch order (dist::Group::SumInOrder)
// before clipping and one optimizer update. What changes the bits is P alone: `mpirun -np 2` with
// grad_accum 1, one process with grad_accum 2, and `mpirun -np 2` resumed as one process with
// grad_accum 2 agree bit for bit (for a fixed thread count per process). Also fixed by P:
//   - dropout: micro-batch p of step s draws from its own block of the run's dropout stream
//     (counter (s * P + p) * 2^32), whichever process runs it;
//   - model buffers (BatchNorm running statistics): after a step they are those micro-batch 0's
//     forward left, as PyTorch's DistributedDataParallel broadcasts rank 0's buffers;
//   - evaluation: every process evaluates its micro-batches of each batch; the loss sums of the P
//     parts are added in order, so every process reports the same metrics.
// P = 1 (the default) is the plain single-batch step. Only process 0 writes to the run folder;
// every process reads last.ckpt on resume, so the run folder must be on storage all processes
// see. A checkpoint records P; resuming with another P is refused.
struct TrainOptions {
  std::string data_dir;
  std::string runs_dir;
  std::string run_name;       // empty: <task>-<model>-<tier>-s<seed>
  bool resume = false;        // continue from <run>/last.ckpt
  bool terminal = false;      // draw a progress bar instead of log lines
  int threads = 0;            // recorded in the result; set process-wide by the caller
  // Checked between steps; when it becomes true the run checkpoints and returns INTERRUPTED.
  const std::atomic<bool>* stop = nullptr;
  // Testing: behave as if a stop was requested after this many steps (-1: never).
  int64_t stop_after_step = -1;
  // The processes training this run together (null: this process alone).
  dist::Group* group = nullptr;
};

absl::StatusOr<RunResult> Train(const RunConfig& config, const TrainOptions& options);

// The folder of a run: <runs_dir>/<run_name or the default name>.
std::string RunDir(const RunConfig& config, const TrainOptions& options);

struct EvalResult {
  int64_t examples = 0;
  double loss = 0;
  double accuracy = 0;
};

// A run's model restored from one of its checkpoints: what `lra eval` and `lra export` read.
// The model is rebuilt from the run's config.txt against its dataset (which gives the task's
// vocabulary and classes), then checkpoint `which` ("best" or "last") is loaded into it: every
// parameter, buffer and optimizer moment, checked by name and shape.
struct LoadedRun {
  TrainingSetup setup;
  std::string checkpoint_path;
  int64_t step = 0;  // optimizer updates behind the checkpoint
};

// Errors: InvalidArgumentError for a `which` other than best/last; NotFoundError when `run_dir`
// is not a run folder or lacks the checkpoint (naming the checkpoints it has) or the run's
// dataset is not prepared; FailedPreconditionError when the checkpoint does not match the model.
absl::StatusOr<LoadedRun> LoadRun(const std::string& run_dir, const std::string& which,
                                  const std::string& data_dir);

// Evaluates the checkpoint `which` ("best" or "last") of a finished run on `split`.
absl::StatusOr<EvalResult> EvaluateRun(const std::string& run_dir, const std::string& which,
                                       const std::string& split, const std::string& data_dir);

}  // namespace lra::harness

#endif  // LRA_HARNESS_TRAINER_H_

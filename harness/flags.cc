#include "harness/flags.h"

#include "absl/flags/flag.h"
#include "absl/flags/marshalling.h"

// --- Where things go ---------------------------------------------------------------------------
ABSL_FLAG(std::string, data_dir, "",
          "Folder of prepared datasets (one sub-folder per dataset). Default: <repo>/data.");
ABSL_FLAG(std::string, runs_dir, "",
          "Folder of training runs (one sub-folder per run). Default: <repo>/results/runs.");
ABSL_FLAG(std::vector<std::string>, runs_dirs, {},
          "table (and the table a suite ends with): build the tables from the runs under these "
          "folders (comma-separated; shell-style patterns such as 'cluster/*/runs' are "
          "expanded), e.g. runs gathered from several machines; default: --runs_dir.");
ABSL_FLAG(std::string, results_dir, "",
          "Where `table`, `bench` and `suite` write tables and plots. Default: <repo>/results.");
ABSL_FLAG(int32_t, threads, 0,
          "Worker threads for every kernel (set once at start-up): 1 to 256 (or to the "
          "machine's cores where it has more), 0 = all cores. Training is bitwise "
          "reproducible for a given seed and thread count.");
ABSL_FLAG(std::string, matmul_precision, "fp32",
          "Precision of Linear/MatMul products: fp32 (default) or bf16, an opt-in mode for CPUs "
          "with AVX512-BF16 or AMX that rounds the inputs of large products to bfloat16 and "
          "accumulates in fp32 (weights, gradients and optimizer stay fp32). Recorded in each "
          "run's result. See core/kernels/onednn/gemm.h.");

// --- prepare -----------------------------------------------------------------------------------
ABSL_FLAG(std::string, task, "",
          "Task: a name `lra tasks` lists (the registered tasks, e.g. listops, pathx). "
          "verify: only this task's datasets (default: every dataset under --data_dir).");
ABSL_FLAG(std::string, source, "",
          "prepare: folder with the task's original files (LRA release, aclImdb, CIFAR-10 "
          "binary, TFDS cache, ...). See `lra tasks` for the formats each task reads.");
ABSL_FLAG(bool, generate, false,
          "prepare: make the data instead of reading it: the ListOps and Pathfinder generators, "
          "or the synthetic Text/Retrieval stand-ins (marked `synthetic` everywhere).");
ABSL_FLAG(int64_t, size, 0, "prepare --generate: examples over all splits; 0 = the task's default.");
ABSL_FLAG(bool, overwrite, false, "prepare: replace an existing dataset (otherwise a no-op).");
ABSL_FLAG(std::string, encoding, "",
          "prepare: tokenization variant, e.g. lra (default), s4_eos (ListOps) or s4_chars "
          "(Text, Retrieval); `lra tasks` lists them.");
ABSL_FLAG(int32_t, max_length, 0,
          "prepare: maximum tokens per document; 0 = the task's default (Text accepts 1000-4096).");
ABSL_FLAG(std::string, split, "",
          "prepare (pathfinder, pathx): split convention, lra (file order 80/10/10, default) or "
          "random (seeded 80/10/10, as S4 and Mega).");
ABSL_FLAG(std::string, difficulty, "",
          "prepare (pathfinder, pathx): easy, intermediate or hard (default).");
ABSL_FLAG(std::string, keep_source, "",
          "prepare --generate: also keep the generated original-format files in this folder.");

// --- train / eval / suite ----------------------------------------------------------------------
ABSL_FLAG(std::string, model, "", "train: model name (`lra models` lists them and their options).");
ABSL_FLAG(std::string, tier, "small",
          "train: config tier: smoke (seconds), small (minutes on 2 cores), paper (the recipe "
          "behind each published row), or an S4/S4D recipe set: v3 (the S4 V3 repository, behind "
          "the published S4 and S4D rows) or v4 (its current configs). Files: "
          "harness/tiers/<tier>.textproto, then the model's <tier>.textproto and "
          "<task>.<tier>.textproto (harness/config.h).");
ABSL_FLAG(std::vector<std::string>, set, {},
          "train/suite: config overrides, comma-separated field=value pairs on RunConfig "
          "(harness/config.proto), e.g. --set=train.lr=0.001,train.steps=200,"
          "model_option=n_layers=2.");
ABSL_FLAG(std::string, dataset, "",
          "train: dataset folder under --data_dir; default: the best prepared dataset of the "
          "task (release files, then system data, generated, synthetic).");
ABSL_FLAG(uint64_t, seed, 0, "train: seed for initialization, dropout and data order; 0 = config.");
ABSL_FLAG(std::string, run_name, "",
          "train: run folder name under --runs_dir; default <task>-<model>-<tier>-s<seed>.");
ABSL_FLAG(bool, resume, false,
          "train: continue the run from its last checkpoint (from step 0 if it has none yet); "
          "finishes bitwise equal to an uninterrupted run. The config must equal the run's "
          "config.txt (train.max_minutes may change); a run that does not exist is an error.");
ABSL_FLAG(std::string, config, "",
          "train: a whole run config (RunConfig text format, e.g. a run's config.txt or a "
          "plan's configs/*.textproto) instead of --task/--model/--tier; --set and --seed "
          "still apply. Needs no source tree.");
ABSL_FLAG(bool, continue, false,
          "train: keep a run that finished before (exit 0), continue one that was interrupted "
          "(as --resume), start one that does not exist: what `lra suite` does per run and what "
          "each command of a plan (--plan) uses, so a job can be resubmitted.");
ABSL_FLAG(int64_t, stop_after_step, -1,
          "train: stop cleanly after this many steps as a Ctrl-C would (last.ckpt, exit 130; "
          "continue with --resume); -1 = never. For testing resume and for splitting a run "
          "into jobs of a fixed number of steps.");
ABSL_FLAG(std::string, run, "",
          "eval/export: run folder (or run name under --runs_dir) to evaluate or export.");
ABSL_FLAG(std::string, checkpoint, "best",
          "eval/export: which checkpoint, best (validation) or last.");
ABSL_FLAG(std::string, suite, "quick",
          "suite: name in harness/suites/ (smoke, quick, paper) or a path to a .textproto file.");
ABSL_FLAG(std::string, plan, "",
          "suite: instead of running it, write a plan into this folder: one self-contained "
          "`lra train --config=... --continue` command per (task, model, seed) in commands.txt, "
          "their configs, prepare.sh (the data preparation, run once), slurm.sbatch (a Slurm "
          "job array over commands.txt, resubmittable) and README.md. See README.md, "
          "\"Running on a cluster\".");
ABSL_FLAG(int32_t, plan_threads, 2, "suite --plan: threads per process of each planned run.");
ABSL_FLAG(int32_t, plan_processes, 1,
          "suite --plan: MPI processes per run (>1: each command is `mpirun -np N lra train`).");
ABSL_FLAG(int32_t, plan_max_parallel, 0,
          "suite --plan: most array elements Slurm runs at once (sbatch --array=...%M); 0 = no "
          "limit.");
ABSL_FLAG(std::vector<std::string>, only, {},
          "suite: run only these tasks (comma-separated), e.g. --only=listops,pathfinder.");

// --- export ------------------------------------------------------------------------------------
ABSL_FLAG(std::string, format, "npz",
          "export: file format; npz (NumPy's .npz: one float32 array per parameter and buffer "
          "under its documented name, plus __meta__.json; see README.md \"Weights out\").");
ABSL_FLAG(std::string, out, "",
          "export: the file to write (replaced atomically); default <run folder>/<checkpoint>.npz. "
          "A relative path is taken from the folder `bazel run` was started in.");

// --- table / bench -----------------------------------------------------------------------------
ABSL_FLAG(std::string, mode, "train",
          "bench: train (training speed and memory against sequence length, LRA Table 2 "
          "protocol: bench_table.*) or stream (streaming inference one token at a time against "
          "context length, for the models with a streaming mode: stream_table.*; "
          "harness/README.md \"Streaming inference\").");
ABSL_FLAG(std::vector<std::string>, models, {},
          "bench: models to measure (comma-separated); default: every registered model "
          "(--mode=stream: every model with a streaming form).");
ABSL_FLAG(std::vector<std::string>, lengths, {},
          "bench: sequence lengths (--mode=train, default 1024,2048,3072,4096: LRA Table 2's 1K-4K; "
          "add 8192,16384 if you like) or context lengths (--mode=stream, default "
          "1024,4096,16384: the timed window is centred on each).");
ABSL_FLAG(int32_t, batch_size, 32, "bench --mode=train: batch size (LRA Table 2 protocol: 32).");
ABSL_FLAG(int32_t, bench_steps, 3,
          "bench --mode=train: timed training steps per point, after one warm-up.");
ABSL_FLAG(std::vector<std::string>, streams, std::vector<std::string>({"1", "8"}),
          "bench --mode=stream: numbers of independent streams stepped together (the batch), "
          "1 to 4096, comma-separated.");
ABSL_FLAG(int32_t, stream_window, 256,
          "bench --mode=stream: Steps timed per point, centred on each context length (the Steps "
          "before it run untimed); at most 2 x the shortest length and the gap between lengths.");
ABSL_FLAG(std::vector<std::string>, model_options, {},
          "bench: options over each model's Text config (--mode=stream: over its streaming "
          "form), <model>.<option>=<value> or *.<option>=<value> for every model, "
          "comma-separated, e.g. *.d_model=128,*.n_layers=4 to compare models at one size.");

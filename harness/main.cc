// lra: the Long Range Arena harness. `lra help` lists the commands, `lra --help` every flag.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "harness/commands.h"

namespace {

constexpr char kUsage[] = R"(lra: the Long Range Arena harness.

Usage: bazel run //:lra -- <command> [--flags]

Commands:
  prepare  Turn a task's data into record shards:
             lra prepare --task=listops --generate [--size=N]
             lra prepare --task=text --source=/path/to/aclImdb
  tasks    List the tasks, their formats and the prepared datasets.
  models   List the registered models with their options and defaults.
  verify   Read every prepared dataset in full and report each (manifest, SHA-256 of every
           shard, every record against the manifest); exits non-zero when one is damaged:
             lra verify [--data_dir=DIR] [--task=listops]
           train, eval, suite and export verify their dataset too, reading only the shards that
           changed since their last verification (cached in <dataset>/verified.txt).
  train    Train one model on one task:
             lra train --task=listops --model=s4d [--tier=small] [--set=train.lr=0.003]
  eval     Evaluate a finished run: lra eval --run=<run folder> [--checkpoint=best|last]
  export   Write a run's weights for NumPy, PyTorch or JAX (one array per parameter, documented
           names, the model's options and config in __meta__.json):
             lra export --run=<run> [--checkpoint=best|last] [--format=npz] [--out=PATH]
  suite    Prepare data and run a whole suite, then write the tables:
             lra suite --suite=quick     (smoke, quick, paper)
  table    Write the LRA accuracy table (Markdown, CSV, HTML) from the runs.
  bench    Measure training speed and memory against sequence length (LRA Table 2 protocol):
             lra bench [--models=s4d,transformer] [--lengths=1024,2048,3072,4096]
           or streaming inference, one token at a time, against context length (models with a
           streaming mode; per-token latency, tokens/s and the state held per stream):
             lra bench --mode=stream [--lengths=1024,4096,16384] [--streams=1,8]
  help     This message.

Ctrl-C (or SIGTERM) stops any command cleanly: a run writes last.ckpt (continue with the same
command and --resume), prepare removes its temporary files. A second Ctrl-C stops at once.

Exit codes:
  0    success (every run COMPLETED)
  1    an error (the message says what and how to fix it; a run folder in use by another
       process is one)
  2    a bad flag or value, or a task, model or run that is not there
  3    a run DIVERGED (non-finite loss, parameter or moment, or a loss above 100 x ln(classes))
  4    a run was CUT_SHORT by its train.max_minutes safety net (evaluated, but its result
       depends on the machine's speed)
  130  interrupted by Ctrl-C or SIGTERM (a run checkpointed: continue with --resume)
A suite exits 1 if any run failed, else 3 if any diverged, else 4 if any was cut short.

Every flag with its help text and default: lra --help)";

std::atomic<bool> g_stop{false};

// A first signal asks the running command to stop cleanly (lra::harness::RunCommand polls
// g_stop); a second one ends the process at once. Only async-signal-safe calls here.
void OnSignal(int) {
  if (g_stop.exchange(true)) _exit(lra::harness::kExitInterrupted);
  static constexpr char kMessage[] =
      "\nlra: stopping cleanly (press Ctrl-C again to stop at once)\n";
  (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  // `--help` documents the flags of harness/flags.cc, where every lra flag lives (Abseil's
  // default would look for flags in a file named like the binary and find none).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::StrContains(path, "harness/flags.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.normalize_filename = [](absl::string_view path) { return std::string(path); };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() >= 2 ? args[1] : "help";
  if (args.size() > 2) {
    std::fprintf(stderr, "lra: unexpected argument '%s'. Flags take the form --name=value.\n",
                 args[2]);
    return 2;
  }
  if (command == "help") {
    std::printf("%s\n", kUsage);
    return 0;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  absl::Status status = lra::harness::InitProcess();
  if (status.ok()) status = lra::harness::RunCommand(command, &g_stop);
  if (!status.ok()) {
    std::fprintf(stderr, "lra %s: %s\n", command.c_str(), std::string(status.message()).c_str());
  }
  return lra::harness::ExitCode(status);
}

#include "harness/plan.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/file_util.h"
#include "core/base/status_macros.h"
#include "core/base/textproto.h"
#include "harness/trainer.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

std::string PrepareCommand(const PlanOptions& o, const tasks::PrepareOptions& p) {
  std::vector<std::string> words = {ShellQuote(o.lra), "prepare",
                                    ShellQuote("--data_dir=" + o.data_dir),
                                    ShellQuote("--task=" + p.task)};
  if (p.generate) words.push_back("--generate");
  if (p.size > 0) words.push_back(absl::StrCat("--size=", p.size));
  if (!p.source.empty()) words.push_back(ShellQuote("--source=" + p.source));
  if (!p.encoding.empty()) words.push_back(ShellQuote("--encoding=" + p.encoding));
  std::string line = absl::StrJoin(words, " ");
  // A suite's optional release files: skipped where they are absent, as `lra suite` does.
  if (!p.source.empty()) {
    line = absl::StrCat("if [ -e ", ShellQuote(p.source), " ]; then ", line, "; fi");
  }
  return line;
}

std::string TrainCommand(const PlanOptions& o, const std::string& config_path) {
  std::vector<std::string> words;
  if (o.processes > 1) words = {"mpirun", "-np", absl::StrCat(o.processes)};
  for (const std::string& w :
       {ShellQuote(o.lra), std::string("train"), ShellQuote("--config=" + config_path),
        std::string("--continue"), absl::StrCat("--threads=", o.threads),
        ShellQuote("--data_dir=" + o.data_dir), ShellQuote("--runs_dir=" + o.runs_dir)}) {
    words.push_back(w);
  }
  return absl::StrJoin(words, " ");
}

std::string SlurmScript(const PlanOptions& o, int commands) {
  const std::string limit = o.max_parallel > 0 ? absl::StrCat("%", o.max_parallel) : "";
  return absl::StrCat(
      "#!/bin/bash\n"
      "# Slurm job array over commands.txt (written by `lra suite --plan`): element i runs line\n"
      "# i + 1. Submit after prepare.sh has run: sbatch ", ShellQuote(o.dir + "/slurm.sbatch"),
      "\n# Resubmit it to finish what is left: a finished run does nothing, an interrupted one\n"
      "# resumes from its last checkpoint.\n"
      "#SBATCH --job-name=lra-", o.suite, "\n",
      "#SBATCH --array=0-", commands - 1, limit, "\n",
      "#SBATCH --ntasks=", o.processes, "\n",
      "#SBATCH --cpus-per-task=", o.threads, "\n",
      "#SBATCH --output=", o.dir, "/logs/%A_%a.log\n",
      "set -euo pipefail\n",
      "line=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" ", ShellQuote(o.dir + "/commands.txt"), ")\n",
      "echo \"lra plan element $SLURM_ARRAY_TASK_ID: $line\"\n",
      "exec bash -c \"$line\"\n");
}

std::string Readme(const PlanOptions& o, int commands) {
  return absl::StrCat(
      "# Plan of suite `", o.suite, "`: ", commands, " runs\n\n",
      "Written by `lra suite --suite=", o.suite, " --plan=", o.dir, "`. Each line of\n",
      "`commands.txt` trains one run (", o.processes, " process(es) x ", o.threads,
      " threads) from its config in `configs/`;\nit can run on any machine that sees these "
      "paths:\n\n",
      "- binary: `", o.lra, "`\n- data: `", o.data_dir, "`\n- runs: `", o.runs_dir, "`\n\n",
      "1. Prepare the data once: `sh ", o.dir, "/prepare.sh`\n",
      "2. Run the commands, by any of\n",
      "   - Slurm: `sbatch ", o.dir, "/slurm.sbatch` (a job array; resubmit it to finish what\n",
      "     is left)\n",
      "   - GNU parallel: `parallel -j 4 < ", o.dir, "/commands.txt`\n",
      "   - xargs: `xargs -P 4 -I{} sh -c {} < ", o.dir, "/commands.txt`\n",
      "   A command whose run finished does nothing; one whose run was interrupted resumes it.\n",
      "3. Make the tables: `", o.lra, " table --runs_dirs=", o.runs_dir,
      " --results_dir=", o.results_dir, "`\n",
      "   (several folders, or patterns, if the runs were gathered in more than one place).\n");
}

}  // namespace

std::string ShellQuote(const std::string& s) {
  const bool plain = !s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                       "0123456789_-./=:,+%@") == std::string::npos;
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

absl::Status WritePlan(const PlanOptions& options,
                       const std::vector<tasks::PrepareOptions>& prepares,
                       const std::vector<RunConfig>& runs) {
  if (runs.empty()) {
    return absl::InvalidArgumentError("the suite has no runs to plan (check --only)");
  }
  std::error_code ec;
  if (fs::exists(options.dir, ec) && !fs::is_empty(options.dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "--plan=", options.dir, " exists and is not empty; pick another folder or delete it"));
  }
  const std::string tmp = absl::StrCat(options.dir, ".tmp.", getpid());
  LRA_RETURN_IF_ERROR(RemoveTree(tmp));
  LRA_RETURN_IF_ERROR(MakeDirs(tmp + "/configs"));
  LRA_RETURN_IF_ERROR(MakeDirs(tmp + "/logs"));
  absl::Status written = [&]() -> absl::Status {
    std::string prepare = "#!/bin/sh\n# Data preparation for the plan; run once. Idempotent.\nset -e\n";
    for (const tasks::PrepareOptions& p : prepares) {
      absl::StrAppend(&prepare, PrepareCommand(options, p), "\n");
    }
    LRA_RETURN_IF_ERROR(WriteFileAtomically(tmp + "/prepare.sh", prepare));
    std::string commands;
    for (size_t i = 0; i < runs.size(); ++i) {
      TrainOptions named;  // the run's folder name, as lra train will choose it
      const std::string name = RunDir(runs[i], named);
      const std::string file = absl::StrFormat("configs/%03d-%s.textproto", i, name);
      LRA_RETURN_IF_ERROR(WriteFileAtomically(
          tmp + "/" + file,
          absl::StrCat("# Run ", i + 1, " of ", runs.size(), " of suite ", options.suite,
                       " (lra suite --plan): lra train --config=<this file> --continue\n",
                       ToTextProto(runs[i]))));
      absl::StrAppend(&commands, TrainCommand(options, options.dir + "/" + file), "\n");
    }
    LRA_RETURN_IF_ERROR(WriteFileAtomically(tmp + "/commands.txt", commands));
    const int n = static_cast<int>(runs.size());
    LRA_RETURN_IF_ERROR(WriteFileAtomically(tmp + "/slurm.sbatch", SlurmScript(options, n)));
    return WriteFileAtomically(tmp + "/README.md", Readme(options, n));
  }();
  if (written.ok()) {
    fs::remove(options.dir, ec);  // an empty folder given as the target
    fs::rename(tmp, options.dir, ec);
    if (ec) {
      written = absl::InternalError(
          absl::StrCat("cannot move the plan into ", options.dir, ": ", ec.message()));
    }
  }
  if (!written.ok()) (void)RemoveTree(tmp);
  return written;
}

}  // namespace lra::harness

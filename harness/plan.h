// A suite as a plan for a cluster (`lra suite --plan=DIR`): the suite's work as self-contained
// shell commands that any launcher can run, one per (task, model, seed), each resumable.
//
//   DIR/prepare.sh          the data preparation (`lra prepare ...`), to run once before the
//                           runs; idempotent (a prepared dataset is kept)
//   DIR/configs/NNN-<run>.textproto   each run's resolved config
//   DIR/commands.txt        line N: `[mpirun -np P] lra train --config=DIR/configs/... --continue
//                           --threads=T --data_dir=... --runs_dir=...`; a command whose run
//                           finished does nothing, one whose run was interrupted resumes it
//   DIR/slurm.sbatch        a Slurm job array, element i running line i + 1 of commands.txt;
//                           resubmitting it finishes what is left
//   DIR/README.md           how to run it with Slurm, GNU parallel or xargs, and how to make
//                           the table from the gathered runs (`lra table --runs_dirs=...`)
// Paths in the commands are absolute: the binary, the data, runs and results folders.
#ifndef LRA_HARNESS_PLAN_H_
#define LRA_HARNESS_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "harness/config.pb.h"
#include "tasks/registry.h"

namespace lra::harness {

struct PlanOptions {
  std::string dir;          // the plan's folder; must not exist or be empty
  std::string suite;        // the suite's name, for the README and the Slurm job name
  std::string lra;          // the lra binary the commands run (absolute)
  std::string data_dir, runs_dir, results_dir;  // absolute
  int threads = 2;          // per process
  int processes = 1;        // MPI processes per run
  int max_parallel = 0;     // Slurm array elements at once; 0 = no limit
};

// `prepares`: the suite's data preparation; `runs`: its resolved run configs (seed set, flag
// overrides applied), in suite order. Writes into a temporary folder beside options.dir and
// renames it into place, so a failed write leaves nothing behind.
absl::Status WritePlan(const PlanOptions& options,
                       const std::vector<tasks::PrepareOptions>& prepares,
                       const std::vector<RunConfig>& runs);

// `s` quoted for a POSIX shell (single quotes unless it needs none).
std::string ShellQuote(const std::string& s);

}  // namespace lra::harness

#endif  // LRA_HARNESS_PLAN_H_

// Where lra finds its own files (configs, suites, published numbers) and where it writes.
//
// `bazel run` starts the binary inside its runfiles tree but tells it the workspace through
// BUILD_WORKSPACE_DIRECTORY; tests run in the runfiles tree (TEST_SRCDIR). Configs are read from
// the source tree so a user can edit one and rerun without rebuilding.
#ifndef LRA_HARNESS_PATHS_H_
#define LRA_HARNESS_PATHS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra::harness {

// The repository root: $BUILD_WORKSPACE_DIRECTORY, else the runfiles copy of the workspace,
// else the current directory.
std::string RepoRoot();

// `relative` under RepoRoot(); NotFoundError naming both when it does not exist.
absl::StatusOr<std::string> RepoFile(absl::string_view relative);

// Defaults for --data_dir and --runs_dir: <root>/data and <root>/results/runs.
std::string DefaultDataDir();
std::string DefaultRunsDir();
std::string DefaultResultsDir();

}  // namespace lra::harness

#endif  // LRA_HARNESS_PATHS_H_

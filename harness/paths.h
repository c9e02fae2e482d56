// Where lra finds its own files (configs, suites, published numbers) and where it writes.
//
// lra's own files are the tier defaults (harness/tiers), every linked model's configs (the
// folder its registration names) and the suites (harness/suites). They are named by their path
// relative to the repository root and read through ReadRepoFile / ListRepoFolder, by one rule:
//
//   - Inside a source tree (SourceTree() is not empty) they are the tree's files: an edit takes
//     effect on the next run without rebuilding, and the copies in the binary are not consulted
//     (a file removed from the tree is gone).
//   - Outside one they are the copies compiled into the binary when it was built
//     (RegisterEmbeddedFiles, made by lra_embed_files in tools/embed.bzl), so a binary started
//     from any directory, or installed on a machine without the sources (`bazel run //:install`),
//     finds them.
//
// A file the user names by its path (e.g. --suite=/shared/my_suite.textproto) is always read from
// disk; the rule is only for names.
//
// `bazel run` starts the binary inside its runfiles tree but tells it the workspace through
// BUILD_WORKSPACE_DIRECTORY; tests run in the runfiles tree (TEST_SRCDIR).
#ifndef LRA_HARNESS_PATHS_H_
#define LRA_HARNESS_PATHS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra::harness {

// The source tree lra's own files are read from: $BUILD_WORKSPACE_DIRECTORY (`bazel run`), else
// the runfiles copy of the workspace under $TEST_SRCDIR (tests), else the current directory if
// it holds harness/tiers (a binary started in the repository root). Empty when there is none.
std::string SourceTree();

// The repository root: SourceTree(), else the current directory (where --data_dir and
// --runs_dir default to when lra runs outside a source tree).
std::string RepoRoot();

// One file compiled into the binary: its path relative to the repository root, and its text.
struct EmbeddedFile {
  const char* path;
  const char* text;
};

// Adds `count` files to the binary's embedded files (called from static initializers made by
// lra_embed_files); the arrays must outlive the program. A path registered twice keeps its
// first text. Returns true, to initialize a static.
bool RegisterEmbeddedFiles(const EmbeddedFile* files, size_t count);

// The text of one of lra's own files and the name errors should give it: its path on disk, or
// "embedded:<relative>" for an embedded copy.
struct RepoText {
  std::string name;
  std::string text;
};

// Reads `relative` by the rule above. nullopt when there is no such file; an error when the
// file exists but cannot be read.
absl::StatusOr<std::optional<RepoText>> ReadRepoFile(absl::string_view relative);

// The names of the regular files directly in folder `relative`, by the rule above, sorted.
std::vector<std::string> ListRepoFolder(absl::string_view relative);

// Where ReadRepoFile reads from, for error messages: "the source tree <dir>" or "the files
// embedded in this binary (no source tree found: ...)".
std::string RepoFilesOrigin();

// Defaults for --data_dir and --runs_dir: <root>/data and <root>/results/runs.
std::string DefaultDataDir();
std::string DefaultRunsDir();
std::string DefaultResultsDir();

}  // namespace lra::harness

#endif  // LRA_HARNESS_PATHS_H_

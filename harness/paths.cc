#include "harness/paths.h"

#include <cstdlib>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lra::harness {

namespace fs = std::filesystem;

std::string RepoRoot() {
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY"); ws != nullptr && *ws) return ws;
  if (const char* srcdir = std::getenv("TEST_SRCDIR"); srcdir != nullptr && *srcdir) {
    fs::path p = fs::path(srcdir) / "lra";
    if (fs::exists(p)) return p.string();
  }
  return fs::current_path().string();
}

absl::StatusOr<std::string> RepoFile(absl::string_view relative) {
  fs::path p = fs::path(RepoRoot()) / std::string(relative);
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    return absl::NotFoundError(absl::StrCat("no file '", relative, "' under the repository root '",
                                            RepoRoot(),
                                            "'; run lra through `bazel run //:lra -- ...` or "
                                            "from the repository root"));
  }
  return p.string();
}

std::string DefaultDataDir() { return (fs::path(RepoRoot()) / "data").string(); }
std::string DefaultResultsDir() { return (fs::path(RepoRoot()) / "results").string(); }
std::string DefaultRunsDir() { return (fs::path(RepoRoot()) / "results" / "runs").string(); }

}  // namespace lra::harness

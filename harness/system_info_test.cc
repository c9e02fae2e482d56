#include "harness/system_info.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

// A working directory whose name closes a single-quoted shell word and runs a command: the old
// `popen("git -C '<dir>' ...")` ran `touch pwned` in the process's current folder.
TEST(SourceCommit, QuoteInTheRepositoryPathInjectsNothing) {
  const fs::path base = fs::path(std::getenv("TEST_TMPDIR")) / "inject";
  const fs::path hostile = base / "repo';touch pwned;'";
  fs::create_directories(hostile);
  const fs::path old_cwd = fs::current_path();
  fs::current_path(base);
  // RepoRoot() takes BUILD_WORKSPACE_DIRECTORY first, as under `bazel run`.
  ASSERT_EQ(setenv("BUILD_WORKSPACE_DIRECTORY", hostile.c_str(), 1), 0);
  const std::string commit = SourceCommit();
  unsetenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string direct = SourceCommitIn(hostile.string());
  fs::current_path(old_cwd);
  EXPECT_FALSE(fs::exists(base / "pwned")) << "a command was injected through the path";
  EXPECT_FALSE(fs::exists(hostile / "pwned"));
  // Not a git checkout (and git may be missing): "unknown", never a shell error text.
  EXPECT_EQ(commit, "unknown");
  EXPECT_EQ(direct, "unknown");
}

TEST(SourceCommit, DescribesACheckoutWhosePathHasQuotes) {
  if (std::system("git --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no git on this machine";
  const fs::path repo = fs::path(std::getenv("TEST_TMPDIR")) / "it's a \"repo\" $(x)";
  fs::create_directories(repo);
  ASSERT_EQ(chdir(repo.c_str()), 0);
  ASSERT_EQ(std::system("git init -q . && git -c user.name=t -c user.email=t@t commit -q "
                        "--allow-empty -m init"),
            0);
  const std::string commit = SourceCommitIn(repo.string());
  EXPECT_NE(commit, "unknown");
  EXPECT_EQ(commit.size(), 7u) << commit;  // an abbreviated hash, no tag, clean tree
}

}  // namespace
}  // namespace lra::harness

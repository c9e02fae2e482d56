#include "harness/plan.h"

#include <filesystem>
#include <string>

#include "core/base/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

RunConfig Config(const std::string& task, uint64_t seed) {
  RunConfig c;
  c.set_task(task);
  c.set_model("s4d");
  c.set_tier("smoke");
  c.mutable_train()->set_seed(seed);
  c.mutable_train()->set_steps(20);
  return c;
}

PlanOptions Options(const std::string& dir) {
  PlanOptions o;
  o.dir = dir;
  o.suite = "smoke";
  o.lra = "/opt/lra dir/bin/lra";  // a space: every path must be quoted
  o.data_dir = "/shared/data";
  o.runs_dir = "/shared/runs";
  o.results_dir = "/shared/results";
  o.threads = 4;
  o.processes = 2;
  o.max_parallel = 3;
  return o;
}

TEST(PlanTest, WritesOneResumableCommandPerRunAndASlurmArray) {
  const std::string dir = (fs::path(::testing::TempDir()) / "plan").string();
  fs::remove_all(dir);
  tasks::PrepareOptions prepare;
  prepare.task = "listops";
  prepare.generate = true;
  prepare.size = 400;
  ASSERT_TRUE(WritePlan(Options(dir), {prepare}, {Config("listops", 1), Config("text", 2)}).ok());

  absl::StatusOr<std::string> commands = ReadFile(dir + "/commands.txt");
  ASSERT_TRUE(commands.ok()) << commands.status();
  EXPECT_EQ(*commands,
            "mpirun -np 2 '/opt/lra dir/bin/lra' train --config=" + dir +
                "/configs/000-listops-s4d-smoke-s1.textproto --continue --threads=4 "
                "--data_dir=/shared/data --runs_dir=/shared/runs\n"
                "mpirun -np 2 '/opt/lra dir/bin/lra' train --config=" + dir +
                "/configs/001-text-s4d-smoke-s2.textproto --continue --threads=4 "
                "--data_dir=/shared/data --runs_dir=/shared/runs\n");
  absl::StatusOr<std::string> config = ReadFile(dir + "/configs/001-text-s4d-smoke-s2.textproto");
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(*config, HasSubstr("task: \"text\""));
  EXPECT_THAT(*config, HasSubstr("seed: 2"));
  absl::StatusOr<std::string> slurm = ReadFile(dir + "/slurm.sbatch");
  ASSERT_TRUE(slurm.ok());
  EXPECT_THAT(*slurm, HasSubstr("#SBATCH --array=0-1%3\n"));
  EXPECT_THAT(*slurm, HasSubstr("#SBATCH --ntasks=2\n"));
  EXPECT_THAT(*slurm, HasSubstr("#SBATCH --cpus-per-task=4\n"));
  EXPECT_THAT(*slurm, HasSubstr("SLURM_ARRAY_TASK_ID + 1"));
  absl::StatusOr<std::string> prep = ReadFile(dir + "/prepare.sh");
  ASSERT_TRUE(prep.ok());
  EXPECT_THAT(*prep, HasSubstr("'/opt/lra dir/bin/lra' prepare --data_dir=/shared/data "
                               "--task=listops --generate --size=400\n"));
  EXPECT_TRUE(fs::exists(dir + "/README.md"));
  EXPECT_TRUE(fs::is_directory(dir + "/logs"));

  // A plan never overwrites a folder with something in it, and leaves no temporary folder.
  absl::Status again = WritePlan(Options(dir), {}, {Config("listops", 1)});
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  for (const auto& e : fs::directory_iterator(fs::path(dir).parent_path())) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr("plan.tmp.")));
  }
  EXPECT_EQ(WritePlan(Options(dir + "2"), {}, {}).code(), absl::StatusCode::kInvalidArgument);
}

TEST(PlanTest, ShellQuoteSurvivesTheShell) {
  EXPECT_EQ(ShellQuote("--runs_dir=/a/b"), "--runs_dir=/a/b");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("$HOME;rm"), "'$HOME;rm'");
}

}  // namespace
}  // namespace lra::harness

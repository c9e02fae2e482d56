#include "core/base/file_util.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace lra {
namespace {

namespace fs = std::filesystem;

TEST(FileUtil, AtomicWriteCreatesFoldersAndReplaces) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/a/b";
  const std::string path = dir + "/f.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(path, std::string("two\0bytes", 9)).ok());
  absl::StatusOr<std::string> got = ReadFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, std::string("two\0bytes", 9));
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1) << "no temporary file may be left behind";
}

TEST(FileUtil, ErrorsNameThePath) {
  absl::StatusOr<std::string> got = ReadFile("/nonexistent/x");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(got.status().message().find("/nonexistent/x"), std::string::npos);
  absl::Status s = WriteFileAtomically("/proc/no/such/dir/x", "y");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/proc/no/such/dir"), std::string::npos) << s;
}

TEST(FileUtil, ResolveInsideRootRefusesPathsThatLeaveIt) {
  const std::string tmp = std::getenv("TEST_TMPDIR");
  const std::string root = tmp + "/root";
  ASSERT_TRUE(WriteFileAtomically(root + "/imgs/0/a.png", "x").ok());
  ASSERT_TRUE(WriteFileAtomically(tmp + "/outside secret.png", "secret").ok());
  absl::StatusOr<std::string> ok = ResolveInsideRoot(root, "imgs/0/a.png", "meta:1");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, root + "/imgs/0/a.png");
  // A missing file inside the root resolves (the caller reports it missing).
  EXPECT_TRUE(ResolveInsideRoot(root, "imgs/9/none.png", "meta:1").ok());
  for (const char* bad : {"../outside secret.png", "../../../../etc/passwd", "/etc/passwd",
                          "imgs/../../outside secret.png", "..", ""}) {
    absl::StatusOr<std::string> got = ResolveInsideRoot(root, bad, "meta:7");
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(got.status().message().find("meta:7"), std::string::npos) << got.status();
  }
  EXPECT_FALSE(ResolveInsideRoot(root, std::string("a\0b", 3), "m").ok());
  // A symbolic link inside the root that points out of it.
  fs::create_symlink(tmp + "/outside secret.png", root + "/imgs/link.png");
  fs::create_directory_symlink("/etc", root + "/etc");
  absl::StatusOr<std::string> link = ResolveInsideRoot(root, "imgs/link.png", "meta:2");
  EXPECT_EQ(link.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(link.status().message().find("symbolic link"), std::string::npos) << link.status();
  EXPECT_FALSE(ResolveInsideRoot(root, "etc/passwd", "meta:3").ok());
  // A link that stays inside is fine.
  fs::create_symlink(root + "/imgs/0/a.png", root + "/imgs/inside.png");
  EXPECT_TRUE(ResolveInsideRoot(root, "imgs/inside.png", "meta:4").ok());
}

// The folder's entry names, sorted.
std::vector<std::string> Names(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  EXPECT_TRUE(names.ok()) << names.status();
  return names.ok() ? *names : std::vector<std::string>{};
}

TEST(AtomicFile, NothingUnderTheNameUntilCommitAndNoTemporaryAfter) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/atomic";
  ASSERT_TRUE(MakeDirs(dir).ok());
  const std::string path = dir + "/out.tsv";
  for (Durability durability : {Durability::kDurable, Durability::kScratch}) {
    absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Open(path, durability);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ((*file)->temp_path(), path + ".tmp." + std::to_string(::getpid()));
    ASSERT_TRUE((*file)->Write("Source\tTarget\r\n").ok());
    ASSERT_TRUE((*file)->Write("x\t1\r\n").ok());
    EXPECT_FALSE(PathExists(path)) << "published before Commit";
    ASSERT_TRUE((*file)->Commit().ok());
    EXPECT_EQ(*ReadFile(path), "Source\tTarget\r\nx\t1\r\n");
    EXPECT_EQ(Names(dir), std::vector<std::string>{"out.tsv"});
    // Using a committed file is an error naming it, not a crash.
    absl::Status again = (*file)->Write("more");
    EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(again.message().find(path), std::string::npos) << again;
    EXPECT_FALSE((*file)->Commit().ok());
    ASSERT_TRUE(RemoveTree(path).ok());
  }
}

TEST(AtomicFile, AbandonedWriterLeavesNothing) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/abandoned";
  ASSERT_TRUE(MakeDirs(dir).ok());
  {
    absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Open(dir + "/x.png");
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Write("partial").ok());
  }
  EXPECT_TRUE(Names(dir).empty());
}

TEST(AtomicFile, OpenInAMissingFolderNamesTheFileAndTheFix) {
  absl::StatusOr<std::unique_ptr<AtomicFile>> file =
      AtomicFile::Open(std::string(std::getenv("TEST_TMPDIR")) + "/no/such/folder/x");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find("/no/such/folder/x.tmp."), std::string::npos)
      << file.status();
  EXPECT_NE(file.status().message().find("folder exists"), std::string::npos) << file.status();
}

// A write that fails (here: past the process's file size limit, as a full disk would) is an
// error naming the temporary file with the likely fix, and leaves neither the file nor its
// temporary behind. The writers this replaced left the temporary on an fsync/close failure.
TEST(AtomicFile, FailedWriteLeavesNothingAndSuggestsTheFix) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/full";
  ASSERT_TRUE(MakeDirs(dir).ok());
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  sighandler_t old_handler = ::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the signal
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  absl::Status s = WriteFileAtomically(dir + "/big.bin", std::string(1 << 20, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(dir + "/big.bin.tmp."), std::string::npos) << s;
  EXPECT_NE(s.message().find("is the disk full?"), std::string::npos) << s;
  EXPECT_TRUE(Names(dir).empty());
}

TEST(FileUtil, DirnameAndBasename) {
  EXPECT_EQ(Dirname("a/b/c"), "a/b");
  EXPECT_EQ(Dirname("c"), ".");
  EXPECT_EQ(Dirname("/c"), "/");
  EXPECT_EQ(Basename("a/b/c.txt"), "c.txt");
  EXPECT_EQ(Basename("a/b/"), "b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
}

TEST(FileUtil, PathExistsSeesADanglingLink) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/links";
  ASSERT_TRUE(MakeDirs(dir).ok());
  fs::create_symlink(dir + "/missing", dir + "/dangling");
  EXPECT_TRUE(PathExists(dir + "/dangling"));
  EXPECT_FALSE(IsDirectory(dir + "/dangling"));
  EXPECT_FALSE(PathExists(dir + "/missing"));
}

}  // namespace
}  // namespace lra

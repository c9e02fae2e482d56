#include "core/base/file_util.h"

#include <cstdlib>
#include <filesystem>

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

}  // namespace
}  // namespace lra

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

}  // namespace
}  // namespace lra

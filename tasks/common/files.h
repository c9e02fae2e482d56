// Small file helpers for the converters: whole-file reads, line-by-line reads that know their
// line number, atomic writes (for the original-format files that fixtures and synthetic sets
// write), and directory listings. Every error names the path.
#ifndef LRA_TASKS_COMMON_FILES_H_
#define LRA_TASKS_COMMON_FILES_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/base/file_util.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra::tasks {

absl::StatusOr<std::string> ReadFileToString(const std::string& path);
// Atomic whole-file writes: WriteFileAtomically from core/base/file_util.h (included here).

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);
absl::StatusOr<int64_t> FileSize(const std::string& path);
// Creates `path` and its parents; OK if it already exists.
absl::Status MakeDirs(const std::string& path);
// Removes a file or a whole tree; OK if it does not exist.
absl::Status RemoveTree(const std::string& path);
// Entry names (not paths) in `dir`, sorted bytewise, without "." and "..".
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir);
std::string JoinPath(absl::string_view a, absl::string_view b);
// The last component of a path ("a/b/c.txt" -> "c.txt"), ignoring trailing slashes.
std::string Basename(absl::string_view path);

// Reads a text file one line at a time. Lines are returned without their '\n' (a '\r' is kept:
// the LRA readers keep it too). line_number() is 1-based and names the line last returned.
class LineReader {
 public:
  static absl::StatusOr<LineReader> Open(const std::string& path);
  LineReader(LineReader&& other) noexcept;
  LineReader& operator=(LineReader&&) = delete;
  ~LineReader();
  // False at the end of the file. A final line without '\n' is still returned.
  absl::StatusOr<bool> Next(absl::string_view* line);
  int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  LineReader(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  std::FILE* file_ = nullptr;
  std::string path_;
  char* buffer_ = nullptr;
  size_t capacity_ = 0;
  int64_t line_number_ = 0;
};

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_FILES_H_

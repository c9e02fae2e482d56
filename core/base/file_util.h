// The file helpers of lra, one copy for every layer (core, datasets, tasks, harness): whole-file
// reads, atomic writes, line-by-line reads, folder listing and creation, and the check that a
// path read from a data file stays inside its folder. Every error names the path.
//
//   LRA_RETURN_IF_ERROR(WriteFileAtomically(path, bytes));  // readers never see half a file
//   LRA_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
//
//   LRA_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Open(path));
//   LRA_RETURN_IF_ERROR(file->Write("Source\tTarget\r\n"));   // streamed, as often as needed
//   LRA_RETURN_IF_ERROR(file->Commit());                      // fsync, then rename onto path
#ifndef LRA_CORE_BASE_FILE_UTIL_H_
#define LRA_CORE_BASE_FILE_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra {

// The whole file. NotFoundError / PermissionDeniedError naming the path when it cannot be
// opened; DataLossError on a read error.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Whether Commit() makes the data durable before publishing it.
enum class Durability {
  // fsync the temporary file before the rename (and the folder after it): after a power loss
  // `path` holds the old or the new contents, never an empty or torn file. The default.
  kDurable,
  // Rename without fsync: a crashed or killed process still leaves no partial file, but a power
  // loss may. Only for bulk scratch output that is rebuilt rather than recovered (the
  // generators' hundreds of thousands of source files, converted and then deleted), where one
  // journal commit per file would dominate the run time.
  kScratch,
};

// A file that readers see either not at all or whole: the bytes go to `<path>.tmp.<pid>` in the
// same folder, and Commit() flushes, fsyncs (kDurable), closes and renames it onto `path`. A
// writer destroyed without Commit(), or whose Write or Commit failed, removes its temporary
// file. The folder must exist (WriteFileAtomically creates it).
class AtomicFile {
 public:
  static absl::StatusOr<std::unique_ptr<AtomicFile>> Open(
      const std::string& path, Durability durability = Durability::kDurable);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Buffered (stdio); a failure names the temporary file and suggests a full disk.
  absl::Status Write(absl::string_view bytes);
  absl::Status Commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFile(std::string path, std::string temp_path, std::FILE* file, Durability durability);
  // Closes and deletes the temporary file, then returns `error`.
  absl::Status Abandon(absl::Status error);

  std::string path_;
  std::string temp_path_;
  std::FILE* file_;
  Durability durability_;
};

// Writes `contents` to `path` through an AtomicFile, creating missing parent folders.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 Durability durability = Durability::kDurable);

// fsync of a folder, so that a rename or a new entry in it survives a power loss.
absl::Status SyncDir(const std::string& dir);

// Whether anything (a file, a folder, a link, even a dangling one) is at `path`.
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
// Everything before the last '/': "a/b/c" -> "a/b", "c" -> ".", "/c" -> "/".
std::string Dirname(absl::string_view path);

// `relative`, a path read from a data file (a Pathfinder metadata line, a manifest's shard
// name), joined to `root`, or InvalidArgumentError naming `what` (e.g. "metadata/0.npy:3") when
// it would leave `root`: empty, absolute, a NUL byte or a ".." component; and, when the path
// exists, its real path (symlinks followed) must lie inside the real path of `root`, so a link
// to /etc is refused too. The one place lra decides whether a path from data stays inside its
// folder.
absl::StatusOr<std::string> ResolveInsideRoot(const std::string& root, absl::string_view relative,
                                              absl::string_view what);

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

}  // namespace lra

#endif  // LRA_CORE_BASE_FILE_UTIL_H_

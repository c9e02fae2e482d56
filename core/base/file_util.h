// Whole-file reads and atomic writes, used by every writer in lra (checkpoints, results,
// manifests, tables).
//
//   LRA_RETURN_IF_ERROR(WriteFileAtomically(path, bytes));  // readers never see half a file
//   LRA_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
#ifndef LRA_CORE_BASE_FILE_UTIL_H_
#define LRA_CORE_BASE_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra {

// The whole file. NotFoundError naming the path when it cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `contents` to `<path>.tmp.<pid>` in the same folder, flushes and fsyncs it, then renames
// it over `path`, so a reader never sees a half-written file (a crash leaves at most the
// temporary). Creates missing parent folders.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// `relative`, a path read from a data file (a Pathfinder metadata line, a manifest's shard
// name), joined to `root`, or InvalidArgumentError naming `what` (e.g. "metadata/0.npy:3") when
// it would leave `root`: empty, absolute, a NUL byte or a ".." component; and, when the path
// exists, its real path (symlinks followed) must lie inside the real path of `root`, so a link
// to /etc is refused too. The one place lra decides whether a path from data stays inside its
// folder.
absl::StatusOr<std::string> ResolveInsideRoot(const std::string& root, absl::string_view relative,
                                              absl::string_view what);

}  // namespace lra

#endif  // LRA_CORE_BASE_FILE_UTIL_H_

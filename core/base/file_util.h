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

}  // namespace lra

#endif  // LRA_CORE_BASE_FILE_UTIL_H_

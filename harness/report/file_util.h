// Small file helpers for the report writers: whole-file reads and atomic writes.
#ifndef LRA_HARNESS_REPORT_FILE_UTIL_H_
#define LRA_HARNESS_REPORT_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra::report {

// The whole file. NotFoundError naming the path when it cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `contents` to `<path>.tmp.<pid>` in the same folder, flushes it, then renames it over
// `path`, so a reader never sees a half-written file (a crash leaves at most the temporary).
// Creates missing parent folders.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_FILE_UTIL_H_

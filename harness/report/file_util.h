// The report writers use the project's one file helper (core/base/file_util.h).
#ifndef LRA_HARNESS_REPORT_FILE_UTIL_H_
#define LRA_HARNESS_REPORT_FILE_UTIL_H_

#include "core/base/file_util.h"

namespace lra::report {

using ::lra::ReadFile;
using ::lra::WriteFileAtomically;

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_FILE_UTIL_H_

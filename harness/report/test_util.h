// Helpers for the report tests: read back what the writers produce.
#ifndef LRA_HARNESS_REPORT_TEST_UTIL_H_
#define LRA_HARNESS_REPORT_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace lra::report {

// RFC 4180 CSV (quoted fields, doubled quotes) into rows of fields.
std::vector<std::vector<std::string>> ParseCsv(absl::string_view text);

// A minimal XML check for the SVG (and XHTML-like) output: tags balance and nest, attribute
// values are quoted, and every attribute value that starts like a number (after any list
// separators) holds only finite numbers. Skips <?...?>, <!...> and comments. `void_tags` lists
// HTML elements that have no end tag (e.g. "meta").
absl::Status CheckWellFormed(absl::string_view text, const std::vector<std::string>& void_tags = {});

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_TEST_UTIL_H_

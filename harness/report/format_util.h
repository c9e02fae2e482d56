// Small helpers shared by the table writers: CSV fields, HTML and JSON escaping.
#ifndef LRA_HARNESS_REPORT_FORMAT_UTIL_H_
#define LRA_HARNESS_REPORT_FORMAT_UTIL_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace lra::report {

// RFC 4180: quoted (with doubled quotes) when the field holds a comma, quote or line break.
std::string CsvField(absl::string_view field);
// Fields joined by commas, ending in "\n".
std::string CsvLine(const std::vector<std::string>& fields);

// & < > " ' escaped.
std::string HtmlEscape(absl::string_view text);

// A JSON string literal with its quotes.
std::string JsonString(absl::string_view text);
// A JSON number ("null" when not finite), shortest form that round-trips closely (%.10g).
std::string JsonNumber(double value);

// "%.<decimals>f".
std::string Fixed(double value, int decimals);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_FORMAT_UTIL_H_

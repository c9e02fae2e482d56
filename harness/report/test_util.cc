#include "harness/report/test_util.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace lra::report {

std::vector<std::vector<std::string>> ParseCsv(absl::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
      continue;
    }
    any = true;
    if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
    } else if (c == '\n') {
      row.push_back(field);
      field.clear();
      rows.push_back(row);
      row.clear();
      any = false;
    } else {
      field += c;
    }
  }
  if (any) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

namespace {

// Attribute values that are numbers or number lists ("1.5 2", "M 10 20 L 30 40"): every
// number-looking token must parse to a finite double. Words like "nan" and "inf" are caught.
absl::Status CheckNumbers(absl::string_view name, absl::string_view value) {
  for (absl::string_view token : absl::StrSplit(value, absl::ByAnyChar(" ,\t\n"), absl::SkipEmpty())) {
    std::string t = absl::AsciiStrToLower(token);
    if (t == "nan" || t == "-nan" || t == "inf" || t == "-inf" || t == "infinity") {
      return absl::InvalidArgumentError(absl::StrCat("attribute ", name, "=\"", value, "\" holds ", token));
    }
    const char first = t[0];
    if (std::isdigit(static_cast<unsigned char>(first)) || first == '-' || first == '.') {
      double v;
      // Allow unit suffixes like "12px"/"50%" by parsing the numeric prefix.
      char* end = nullptr;
      v = std::strtod(t.c_str(), &end);
      if (end == t.c_str() || !std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat("attribute ", name, "=\"", value,
                                                       "\": '", token, "' is not a finite number"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckWellFormed(absl::string_view text, const std::vector<std::string>& void_tags) {
  std::vector<std::string> stack;
  size_t i = 0;
  int roots = 0;
  while (true) {
    const size_t lt = text.find('<', i);
    if (lt == absl::string_view::npos) break;
    if (text.substr(lt).substr(0, 4) == "<!--") {
      const size_t end = text.find("-->", lt);
      if (end == absl::string_view::npos) return absl::InvalidArgumentError("unclosed comment");
      i = end + 3;
      continue;
    }
    const size_t gt = text.find('>', lt);
    if (gt == absl::string_view::npos) return absl::InvalidArgumentError("unclosed tag");
    absl::string_view tag = text.substr(lt + 1, gt - lt - 1);
    i = gt + 1;
    if (tag.empty()) return absl::InvalidArgumentError("empty tag");
    if (tag[0] == '?' || tag[0] == '!') continue;
    if (tag[0] == '/') {
      const std::string name(absl::StripAsciiWhitespace(tag.substr(1)));
      if (stack.empty() || stack.back() != name) {
        return absl::InvalidArgumentError(absl::StrCat("</", name, "> does not close <",
                                                       stack.empty() ? "" : stack.back(), ">"));
      }
      stack.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    if (self_closing) tag.remove_suffix(1);
    size_t name_end = 0;
    while (name_end < tag.size() && !absl::ascii_isspace(tag[name_end])) ++name_end;
    const std::string name(tag.substr(0, name_end));
    // Attributes: name="value" pairs.
    absl::string_view rest = tag.substr(name_end);
    while (true) {
      rest = absl::StripLeadingAsciiWhitespace(rest);
      if (rest.empty()) break;
      const size_t eq = rest.find('=');
      if (eq == absl::string_view::npos || eq + 1 >= rest.size() ||
          (rest[eq + 1] != '"' && rest[eq + 1] != '\'')) {
        return absl::InvalidArgumentError(absl::StrCat("<", name, ">: unquoted attribute in '", rest, "'"));
      }
      const char quote = rest[eq + 1];
      const size_t close = rest.find(quote, eq + 2);
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("<", name, ">: unterminated attribute"));
      }
      const absl::string_view attr = absl::StripAsciiWhitespace(rest.substr(0, eq));
      const absl::string_view value = rest.substr(eq + 2, close - eq - 2);
      if (attr != "id" && attr != "class" && attr != "font-family" && attr != "xmlns" &&
          attr != "text-anchor" && attr != "dominant-baseline") {
        if (absl::Status s = CheckNumbers(attr, value); !s.ok()) return s;
      }
      rest = rest.substr(close + 1);
    }
    bool is_void = false;
    for (const std::string& v : void_tags) is_void |= v == name;
    if (!self_closing && !is_void) {
      if (stack.empty()) ++roots;
      stack.push_back(name);
    } else if (stack.empty()) {
      ++roots;
    }
  }
  if (!stack.empty()) return absl::InvalidArgumentError(absl::StrCat("<", stack.back(), "> is never closed"));
  if (roots != 1) return absl::InvalidArgumentError(absl::StrCat(roots, " root elements, expected 1"));
  return absl::OkStatus();
}

}  // namespace lra::report

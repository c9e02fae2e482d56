#include "models/options.h"

#include <cmath>
#include <cstdlib>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace lra::models {
namespace {

bool ParseBool(absl::string_view v, bool* out) {
  if (v == "true" || v == "1" || v == "True") return *out = true, true;
  if (v == "false" || v == "0" || v == "False") return *out = false, true;
  return false;
}

}  // namespace

OptionType ResolvedType(const OptionSpec& spec) {
  if (spec.type != OptionType::kAuto) return spec.type;
  const std::string& d = spec.default_value;
  if (d == "true" || d == "false") return OptionType::kBool;
  int64_t i;
  if (absl::SimpleAtoi(d, &i)) return OptionType::kInt;
  double f;
  if (absl::SimpleAtod(d, &f)) return OptionType::kFloat;
  return OptionType::kString;
}

const char* OptionTypeName(OptionType type) {
  switch (type) {
    case OptionType::kBool: return "bool (true/false)";
    case OptionType::kInt: return "int";
    case OptionType::kFloat: return "float";
    case OptionType::kString: return "string";
    case OptionType::kAuto: break;
  }
  return "auto";
}

std::string OptionSpec::RangeText() const {
  if (std::isinf(min) && std::isinf(max)) return "";
  auto num = [](double x) {
    return std::isinf(x) ? std::string(x > 0 ? "inf" : "-inf") : absl::StrCat(x);
  };
  return absl::StrCat(min_open || std::isinf(min) ? "(" : "[", num(min), ", ", num(max),
                      max_open || std::isinf(max) ? ")" : "]");
}

namespace {

// Written so that NaN is outside every range.
bool InRange(const OptionSpec& spec, double v) {
  const bool above = spec.min_open ? v > spec.min : v >= spec.min;
  const bool below = spec.max_open ? v < spec.max : v <= spec.max;
  return above && below;
}

}  // namespace

absl::Status ValidateOption(const OptionSpec& spec, absl::string_view value) {
  const OptionType t = ResolvedType(spec);
  bool ok = true;
  auto out_of_range = [&]() {
    return absl::InvalidArgumentError(absl::StrCat(
        "model option '", spec.name, "' = ", value, " is out of range; allowed: ",
        spec.RangeText().empty() ? "a finite number" : spec.RangeText(), " (default ",
        spec.default_value, ")"));
  };
  switch (t) {
    case OptionType::kBool: {
      bool b;
      ok = ParseBool(value, &b);
      break;
    }
    case OptionType::kInt: {
      int i;
      ok = absl::SimpleAtoi(value, &i);
      if (ok && !InRange(spec, i)) return out_of_range();
      break;
    }
    case OptionType::kFloat: {
      double f;
      ok = absl::SimpleAtod(value, &f);
      if (ok && (!std::isfinite(f) || !InRange(spec, f))) return out_of_range();
      break;
    }
    case OptionType::kString:
    case OptionType::kAuto:
      if (!spec.choices.empty()) {
        ok = false;
        for (const auto& c : spec.choices) ok |= (c == value);
        if (!ok)
          return absl::InvalidArgumentError(
              absl::StrCat("model option '", spec.name, "' = '", value, "' is not one of: ",
                           absl::StrJoin(spec.choices, ", ")));
      }
      break;
  }
  if (!ok)
    return absl::InvalidArgumentError(absl::StrCat("model option '", spec.name, "' = '", value,
                                                   "' is not a valid ", OptionTypeName(t),
                                                   " (default ", spec.default_value, ")"));
  return absl::OkStatus();
}

absl::StatusOr<Options> Options::Make(const std::vector<OptionSpec>& specs,
                                      const std::map<std::string, std::string>& values) {
  Options o;
  for (const OptionSpec& s : specs) {
    // A spec whose own default does not validate is a bug in the model; report it as such.
    absl::Status st = ValidateOption(s, s.default_value);
    if (!st.ok())
      return absl::InternalError(absl::StrCat("bad default in the model's OptionSpec: ",
                                              st.message()));
    o.values_[s.name] = s.default_value;
    o.types_[s.name] = ResolvedType(s);
  }
  for (const auto& [name, value] : values) {
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& s : specs)
      if (s.name == name) spec = &s;
    if (spec == nullptr) {
      std::vector<std::string> names;
      for (const OptionSpec& s : specs) names.push_back(s.name);
      return absl::InvalidArgumentError(
          absl::StrCat("unknown model option '", name, "'; this model's options are: ",
                       names.empty() ? "(none)" : absl::StrJoin(names, ", "),
                       " (run `lra models` for their meaning)"));
    }
    absl::Status st = ValidateOption(*spec, value);
    if (!st.ok()) return st;
    o.values_[name] = value;
  }
  return o;
}

const std::string& Options::Raw(absl::string_view name, OptionType want) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) {
    ABSL_RAW_LOG(FATAL, "Options: '%s' was not declared in the model's OptionSpecs",
                 std::string(name).c_str());
  }
  const OptionType have = types_.at(it->first);
  // An int option may be read as a float (e.g. "lr=1"); nothing else converts.
  if (have != want && !(have == OptionType::kInt && want == OptionType::kFloat)) {
    ABSL_RAW_LOG(FATAL, "Options: '%s' is a %s option, read as %s", it->first.c_str(),
                 OptionTypeName(have), OptionTypeName(want));
  }
  return it->second;
}

int Options::Int(absl::string_view name) const {
  int v = 0;
  ABSL_RAW_CHECK(absl::SimpleAtoi(Raw(name, OptionType::kInt), &v), "validated int");
  return v;
}

double Options::Float(absl::string_view name) const {
  double v = 0;
  ABSL_RAW_CHECK(absl::SimpleAtod(Raw(name, OptionType::kFloat), &v), "validated float");
  return v;
}

bool Options::Bool(absl::string_view name) const {
  bool v = false;
  ABSL_RAW_CHECK(ParseBool(Raw(name, OptionType::kBool), &v), "validated bool");
  return v;
}

std::string Options::String(absl::string_view name) const {
  return Raw(name, OptionType::kString);
}

std::string Options::DebugString() const {
  return absl::StrJoin(values_, " ", absl::PairFormatter("="));
}

}  // namespace lra::models

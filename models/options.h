// Typed, validated model options: the "name=value" strings of a RunConfig's model_option lines,
// checked against what a model declares.
//
//   const std::vector<OptionSpec> kSpecs = {
//       {"d_model", "128", "model width H"},                      // type inferred: int
//       {"dropout", "0.0", "dropout rate", OptionType::kFloat},
//       {"norm", "layer", "layer or batch", OptionType::kString, {"layer", "batch"}},
//   };
//   LRA_ASSIGN_OR_RETURN(Options o, Options::Make(kSpecs, {{"d_model", "64"}}));
//   int h = o.Int("d_model");   // 64
//
// Unknown names are an InvalidArgumentError listing the model's options; a malformed value
// names the option and the expected type. Accessors abort on a name the model did not declare
// or a type mismatch, which is a programming error in the model, not a user error.
#ifndef LRA_MODELS_OPTIONS_H_
#define LRA_MODELS_OPTIONS_H_

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra::models {

enum class OptionType {
  kAuto,    // inferred from default_value: true/false -> bool, integer -> int, number -> float,
            // anything else -> string
  kBool,    // true/false/1/0
  kInt,
  kFloat,
  kString,
};

struct OptionSpec {
  std::string name, default_value, help;
  OptionType type = OptionType::kAuto;
  std::vector<std::string> choices;  // strings only: the allowed values (empty = any)
  // Numbers only: the allowed range, [min, max] with either end open when *_open is set.
  // Float options must also be finite. Set with Min / Max:
  //   OptionSpec{"dropout", "0.0", "dropout rate", OptionType::kFloat}.Min(0).Max(1, true)
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false, max_open = false;

  OptionSpec& Min(double v, bool open = false) {
    min = v;
    min_open = open;
    return *this;
  }
  OptionSpec& Max(double v, bool open = false) {
    max = v;
    max_open = open;
    return *this;
  }
  // "[1, inf)", "[0, 1)"; empty when unbounded.
  std::string RangeText() const;
};

// The type a spec resolves to (kAuto replaced by the inferred type).
OptionType ResolvedType(const OptionSpec& spec);
const char* OptionTypeName(OptionType type);

// Checks one value against a spec; the error names the option and the expected type.
absl::Status ValidateOption(const OptionSpec& spec, absl::string_view value);

class Options {
 public:
  Options() = default;
  // Defaults overlaid with `values`; every value is validated.
  static absl::StatusOr<Options> Make(const std::vector<OptionSpec>& specs,
                                      const std::map<std::string, std::string>& values);

  int Int(absl::string_view name) const;
  double Float(absl::string_view name) const;
  bool Bool(absl::string_view name) const;
  std::string String(absl::string_view name) const;
  bool Has(absl::string_view name) const { return values_.count(std::string(name)) > 0; }
  // Every option with its final value, in name order ("d_model=64 dropout=0 ...").
  std::string DebugString() const;

 private:
  const std::string& Raw(absl::string_view name, OptionType want) const;
  std::map<std::string, std::string> values_;
  std::map<std::string, OptionType> types_;
};

}  // namespace lra::models

#endif  // LRA_MODELS_OPTIONS_H_

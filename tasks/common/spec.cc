#include "tasks/common/spec.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/textproto.h"

namespace lra::tasks {

absl::StatusOr<TaskSpec> ParseTaskSpec(absl::string_view text, absl::string_view name) {
  TaskSpec spec;
  absl::Status parsed = ParseTextProto(text, name, &spec);
  if (!parsed.ok()) return parsed;
  auto bad = [&](absl::string_view what) {
    return absl::InternalError(absl::StrCat(name, ": invalid task spec: ", what));
  };
  if (spec.name().empty()) return bad("no name");
  if (spec.max_length() <= 0) return bad("max_length must be positive");
  if (spec.num_classes() < 2) return bad("num_classes must be at least 2");
  if (spec.encodings_size() == 0) return bad("no encodings");
  if (!FindEncoding(spec, spec.default_encoding()).ok()) return bad("unknown default_encoding");
  for (const Encoding& e : spec.encodings()) {
    if (e.symbols_size() > 0 && e.symbols_size() != e.vocab_size()) {
      return bad(absl::StrCat("encoding ", e.name(), ": symbols do not match vocab_size"));
    }
  }
  if (spec.image_height() * spec.image_width() != 0 &&
      spec.image_height() * spec.image_width() != spec.max_length()) {
    return bad("image_height * image_width must equal max_length");
  }
  return spec;
}

absl::StatusOr<const Encoding*> FindEncoding(const TaskSpec& spec, absl::string_view name) {
  if (name.empty()) name = spec.default_encoding();
  std::vector<std::string> names;
  for (const Encoding& e : spec.encodings()) {
    if (e.name() == name) return &e;
    names.push_back(e.name());
  }
  return absl::NotFoundError(absl::StrCat("task ", spec.name(), " has no encoding '", name,
                                          "'; known: ", absl::StrJoin(names, ", ")));
}

}  // namespace lra::tasks

#include "models/testing/spec_task.h"

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "tasks/specs.h"

namespace lra::models::testing {

absl::StatusOr<TaskInfo> TaskInfoFromSpec(const std::string& task, const std::string& encoding,
                                          int max_length, int data_vocab) {
  LRA_ASSIGN_OR_RETURN(const tasks::TaskSpec* spec, tasks::GetTaskSpec(task));
  const std::string name = encoding.empty() ? spec->default_encoding() : encoding;
  const tasks::Encoding* enc = nullptr;
  for (const tasks::Encoding& e : spec->encodings()) {
    if (e.name() == name) enc = &e;
  }
  if (enc == nullptr) {
    return absl::NotFoundError(absl::StrCat("task '", task, "' has no encoding '", name, "'"));
  }
  TaskInfo info;
  info.name = task;
  info.vocab_size = enc->vocab_size() > 0 ? enc->vocab_size() : data_vocab;
  info.pad_id = enc->pad_id();
  info.num_classes = spec->num_classes();
  info.max_length = max_length > 0 ? max_length : spec->max_length();
  info.pair = spec->pair();
  info.pixels = spec->image_height() > 0;
  info.mask_pad_tokens = enc->mask_pad_tokens();
  info.pooling = spec->default_pooling() == tasks::CLS     ? "cls"
                 : spec->default_pooling() == tasks::FIRST ? "first"
                                                           : "mean";
  return info;
}

}  // namespace lra::models::testing

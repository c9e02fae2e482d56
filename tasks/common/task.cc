#include "tasks/common/task.h"

namespace lra::tasks {

datasets::Vocabulary VocabularyFromEncoding(const Encoding& encoding) {
  datasets::Vocabulary vocab;
  vocab.set_size(encoding.vocab_size());
  vocab.set_pad_id(encoding.pad_id());
  vocab.set_eos_id(encoding.eos_id());
  for (const std::string& s : encoding.symbols()) vocab.add_symbols(s);
  return vocab;
}

}  // namespace lra::tasks

// S4's character-level encoding ("s4_chars" for Text and Retrieval).
//
// S4 reads each text as a Python str and tokenizes it with `list`, i.e. one token per Unicode
// code point (not per byte), keeps the first l_max - 1 of them, builds a torchtext vocabulary
// from the training split's truncated tokens and appends <eos> to every sequence
// (state-spaces/s4 at e757cef, src/dataloaders/lra.py: IMDB.process_dataset lines 106-134,
// AAN.process_dataset lines 626-655; identical in the V3 tree at d589d98).
//
// The vocabulary: the specials <pad>=0, <unk>=1, <eos>=2 (append_bos is False, so no <bos>),
// then every training character seen at least min_freq times, by descending count with ties in
// code-point order (pytorch/text at 02b166e, torchtext/vocab/vocab_factory.py:
// build_vocab_from_iterator sorts by (-count, token), then vocab() keeps count >= min_freq and
// puts the specials first; a one-character Python str compares by code point). Characters
// outside it become <unk> (set_default_index(vocab["<unk>"]), lra.py line 127). The symbols are stored in
// the manifest (Vocabulary.symbols, UTF-8), so val and test are encoded with the training ids.
#ifndef LRA_TASKS_COMMON_CHARS_H_
#define LRA_TASKS_COMMON_CHARS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "datasets/example.pb.h"
#include "google/protobuf/repeated_field.h"
#include "tasks/task_spec.pb.h"

namespace lra::tasks {

// The code points of `text`, strict UTF-8 (Python's bytes.decode("utf-8"): no overlong forms,
// no surrogates, nothing above U+10FFFF). Errors name `where` and the byte offset.
absl::Status DecodeUtf8(absl::string_view text, const std::string& where,
                        std::vector<char32_t>* out);

// Counts the characters of training texts, then builds the vocabulary.
class CharVocabularyBuilder {
 public:
  // `max_length` is the encoding's l_max: only the first max_length - 1 characters of each
  // text are counted, as S4 truncates before building its vocabulary.
  CharVocabularyBuilder(const Encoding& encoding, int max_length)
      : encoding_(encoding), keep_(max_length - 1) {}
  absl::Status Add(absl::string_view text, const std::string& where);
  // Fails when no training character reaches min_freq (an empty training split).
  absl::StatusOr<datasets::Vocabulary> Build() const;

 private:
  const Encoding& encoding_;
  int keep_;
  absl::flat_hash_map<char32_t, int64_t> counts_;
  std::vector<char32_t> scratch_;
};

class CharEncoder;

// builder.Build() into *vocab, and an encoder over it (shared: Plan::run is copied).
absl::StatusOr<std::shared_ptr<CharEncoder>> BuildCharEncoder(const CharVocabularyBuilder& builder,
                                                              const Encoding& encoding,
                                                              datasets::Vocabulary* vocab);

// Text -> ids with a vocabulary from CharVocabularyBuilder (or read back from a manifest).
class CharEncoder {
 public:
  static absl::StatusOr<CharEncoder> Create(const Encoding& encoding,
                                            const datasets::Vocabulary& vocab);
  // The first max_length - 1 characters, then <eos>. Returns the untruncated length including
  // <eos>; characters outside the vocabulary count into *unknown.
  absl::StatusOr<int> Encode(absl::string_view text, int max_length, const std::string& where,
                             google::protobuf::RepeatedField<int32_t>* ids, int64_t* unknown);

 private:
  absl::flat_hash_map<char32_t, int32_t> ids_;
  int32_t unk_id_ = -1;
  int32_t eos_id_ = -1;
  std::vector<char32_t> scratch_;
};

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_CHARS_H_

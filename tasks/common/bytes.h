// LRA's byte-level text encoding (tfds ByteTextEncoder in long-range-arena@cd31e5c,
// lra_benchmarks/text_classification/input_pipeline.py and matching/input_pipeline.py): each
// UTF-8 byte b becomes id b + 1 (id 0 is padding), vocabulary 257, no other tokens.
#ifndef LRA_TASKS_COMMON_BYTES_H_
#define LRA_TASKS_COMMON_BYTES_H_

#include <algorithm>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_field.h"

namespace lra::tasks {

// Encodes `text` truncated to `max_length` ids into `ids`; returns the untruncated length.
inline int EncodeBytes(absl::string_view text, int max_length,
                       google::protobuf::RepeatedField<int32_t>* ids) {
  const int keep = static_cast<int>(std::min<size_t>(text.size(), max_length));
  ids->Resize(keep, 0);
  int32_t* out = ids->mutable_data();
  const auto* in = reinterpret_cast<const uint8_t*>(text.data());
  for (int i = 0; i < keep; ++i) out[i] = static_cast<int32_t>(in[i]) + 1;
  return static_cast<int>(text.size());
}

// Python's bytes.strip(): removes leading and trailing ASCII whitespace (space, \t, \n, \r,
// \v, \f). TFDS's imdb_reviews builder strips every review this way.
inline absl::string_view StripAsciiWhitespaceLikePython(absl::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_BYTES_H_

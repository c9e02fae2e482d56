// Retrieval: byte-level AAN document matching (long-range-arena@cd31e5c,
// lra_benchmarks/matching/input_pipeline.py; tasks/README.md).
//
// Source: tsv_data/new_aan_pairs.{train,eval,test}.tsv, no header, tab-separated without
// quoting: label, id1, id2, text1, text2. The label is parsed as a float and cast to int (LRA
// reads it as float32). Each text is cut to its first 10,000 bytes (`s.numpy()[:10000]`), then
// encoded as bytes + 1 and truncated to max_length (4000). eval -> "val". Encoding "s4_chars":
// S4's characters of the whole text, 3999 + <eos>, vocabulary from the training file.
//
// Synthetic (`--generate`): the same TSV format. Each document carries a topic, 8 slot words,
// slot j placed at a random position inside the j-th eighth of the document; a positive pair
// shares all 8, a negative pair differs in exactly one slot, so matching needs every part of
// both documents. Provenance SYNTHETIC.
#ifndef LRA_TASKS_RETRIEVAL_RETRIEVAL_H_
#define LRA_TASKS_RETRIEVAL_RETRIEVAL_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "tasks/common/chars.h"
#include "tasks/common/task.h"

namespace lra::tasks {

// Turns one document into ids: "lra" (bytes + 1 after the 10,000-byte cut) or "s4_chars" (S4's
// characters with the training vocabulary, common/chars.h). Returns the untruncated length.
class AanEncoder {
 public:
  // `chars` null: the byte encoding.
  AanEncoder(int max_length, int max_source_bytes, std::shared_ptr<CharEncoder> chars)
      : max_length_(max_length), max_source_bytes_(max_source_bytes), chars_(std::move(chars)) {}
  absl::StatusOr<int> Encode(absl::string_view text, const std::string& where,
                             google::protobuf::RepeatedField<int32_t>* ids);
  int64_t unknown() const { return unknown_; }

 private:
  int max_length_;
  int max_source_bytes_;
  std::shared_ptr<CharEncoder> chars_;
  int64_t unknown_ = 0;
};

// Converts one TSV file into `split`. Errors name the file and line; a file without a single
// pair (empty, or cut before its first line ended) is an error too.
absl::Status ConvertAanTsv(const std::string& path, absl::string_view split, AanEncoder* encoder,
                           ExampleSink* sink, RunStats* stats);

// `context.source`: the tsv_data folder (or lra_release/ above it).
absl::StatusOr<Plan> PlanRetrieval(const TaskContext& context);

// Writes new_aan_pairs.{train,eval,test}.tsv (80/10/10 of `size`, balanced labels) into `dir`.
absl::Status GenerateSyntheticRetrieval(const TaskContext& context, int64_t size,
                                        const std::string& dir);

}  // namespace lra::tasks

#endif  // LRA_TASKS_RETRIEVAL_RETRIEVAL_H_

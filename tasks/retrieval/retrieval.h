// Retrieval: byte-level AAN document matching (LRA.md section 1.4).
//
// Source: tsv_data/new_aan_pairs.{train,eval,test}.tsv, no header, tab-separated without
// quoting: label, id1, id2, text1, text2. The label is parsed as a float and cast to int (LRA
// reads it as float32). Each text is cut to its first 10,000 bytes (`s.numpy()[:10000]`), then
// encoded as bytes + 1 and truncated to max_length (4000). eval -> "val".
//
// Synthetic (`--generate`): the same TSV format. Each document carries a topic, 8 slot words,
// slot j placed at a random position inside the j-th eighth of the document; a positive pair
// shares all 8, a negative pair differs in exactly one slot, so matching needs every part of
// both documents. Provenance SYNTHETIC.
#ifndef LRA_TASKS_RETRIEVAL_RETRIEVAL_H_
#define LRA_TASKS_RETRIEVAL_RETRIEVAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "tasks/common/task.h"

namespace lra::tasks {

// Converts one TSV file into `split`. Errors name the file and line.
absl::Status ConvertAanTsv(const std::string& path, absl::string_view split, int max_length,
                           int max_source_bytes, ExampleSink* sink, RunStats* stats);

// `context.source`: the tsv_data folder (or lra_release/ above it).
absl::StatusOr<Plan> PlanRetrieval(const TaskContext& context);

// Writes new_aan_pairs.{train,eval,test}.tsv (80/10/10 of `size`, balanced labels) into `dir`.
absl::Status GenerateSyntheticRetrieval(const TaskContext& context, int64_t size,
                                        const std::string& dir);

}  // namespace lra::tasks

#endif  // LRA_TASKS_RETRIEVAL_RETRIEVAL_H_

// Text: byte-level IMDb (long-range-arena@cd31e5c,
// lra_benchmarks/text_classification/input_pipeline.py, get_imdb_dataset; tasks/README.md).
//
// Sources:
//   aclimdb: the Stanford aclImdb/ folder, {train,test}/{neg,pos}/<id>_<rating>.txt. Each
//            review is stripped of leading/trailing ASCII whitespace, as TFDS's builder does
//            (`f.read().strip()`); label 0 = neg, 1 = pos. Files are taken neg then pos, by id.
//   tfds:    imdb_reviews/plain_text/<version>/imdb_reviews-{train,test}.tfrecord-* (tfds.h).
// Tokens: bytes + 1 (common/bytes.h), truncated to max_length. Splits: train; val = test (LRA
// validates on the test set); test.
//
// Synthetic (`lra prepare --task=text --generate`): an aclImdb-style folder of made-up reviews
// whose label is the majority of positive versus negative cue words scattered uniformly over the
// WHOLE review, with the two counts one apart, so a model must read all of it. Provenance
// SYNTHETIC; it never stands in for IMDb results.
#ifndef LRA_TASKS_TEXT_TEXT_H_
#define LRA_TASKS_TEXT_TEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "tasks/common/task.h"

namespace lra::tasks {

// `context.source`: aclImdb/ or the folder above it; or a TFDS data dir / imdb_reviews folder.
absl::StatusOr<Plan> PlanText(const TaskContext& context);

// Writes `size` synthetic reviews (half train, half test, balanced labels) as aclImdb/ under
// `dir` (so dir/aclImdb/train/pos/... exists afterwards).
absl::Status GenerateSyntheticText(const TaskContext& context, int64_t size,
                                   const std::string& dir);

}  // namespace lra::tasks

#endif  // LRA_TASKS_TEXT_TEXT_H_

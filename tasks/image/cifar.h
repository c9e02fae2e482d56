// Image: CIFAR-10 to sequential grayscale (long-range-arena@cd31e5c,
// lra_benchmarks/image/input_pipeline.py, get_cifar10_datasets; tasks/README.md).
//
// Sources:
//   cifar_binary: cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin, records of 1 label byte
//                 + 1024 R + 1024 G + 1024 B bytes (rows top to bottom). Train/val are the
//                 first 90% / last 10% of the five batches in file order; TFDS shuffled its
//                 copy, so these 5,000 val images are not LRA's 5,000 (same sizes, same kind).
//   tfds:         cifar10/<version>/cifar10-{train,test}.tfrecord-* (see tfds.h); TFDS order,
//                 hence exactly LRA's train[:90%] / train[90%:].
// Each pixel becomes TfRgbToGray(r, g, b); the 1024 values in raster order are the tokens.
#ifndef LRA_TASKS_IMAGE_CIFAR_H_
#define LRA_TASKS_IMAGE_CIFAR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "tasks/common/task.h"

namespace lra::tasks {

// One binary record (3073 bytes) to an example with id `id`.
absl::Status CifarBinaryRecordToExample(const uint8_t* record, const std::string& id,
                                        datasets::Example* example);

// The binary release holds 10,000 images in each of its six batch files, so every file is
// exactly 30,730,000 bytes (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version").
inline constexpr int64_t kCifarRecordsPerBatch = 10000;

// `context.source`: cifar-10-batches-bin/ or the folder above it (binary), or a TFDS data dir /
// cifar10 folder (TFRecords, counts checked against dataset_info.json). A binary batch file of
// any other size than kCifarRecordsPerBatch records fails with the file named.
absl::StatusOr<Plan> PlanImage(const TaskContext& context);

// PlanImage with another number of records per binary batch file; for tests and the conversion
// benchmark, whose fixtures are smaller than the release.
absl::StatusOr<Plan> PlanImageWithBatchSize(const TaskContext& context,
                                            int64_t records_per_batch);

}  // namespace lra::tasks

#endif  // LRA_TASKS_IMAGE_CIFAR_H_

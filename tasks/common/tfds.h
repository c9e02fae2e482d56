// Reading TensorFlow Datasets caches without TensorFlow: a prepared TFDS dataset is a folder
// <data_dir>/<name>/[<config>/]<version>/ holding <name>-<split>.tfrecord-NNNNN-of-MMMMM shards
// of serialized tf.train.Example (tf_example.proto), read in shard order: that order is TFDS's
// example order, which percent slices such as train[:90%] refer to.
#ifndef LRA_TASKS_COMMON_TFDS_H_
#define LRA_TASKS_COMMON_TFDS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tasks/common/tf_example.pb.h"

namespace lra::tasks {

// The folder under `source` (itself, or up to three levels down) that holds
// `<name>-train.tfrecord-*` shards; the last in sorted order when several versions exist.
// Empty string when there is none.
std::string FindTfdsDir(const std::string& source, absl::string_view name);

// The shard paths of one split, in shard order. NotFoundError when there are none.
absl::StatusOr<std::vector<std::string>> TfdsShards(const std::string& dir,
                                                    absl::string_view name,
                                                    absl::string_view split);

// Calls `fn(example, where)` for every record of `shards` in order; `where` is
// "<file> record <i> at byte offset <o>". Corrupt framing (RecordReader) and payloads that are
// not a tf.train.Example fail with the file and offset.
absl::Status ForEachTfExample(
    const std::vector<std::string>& shards,
    const std::function<absl::Status(const tf::Example&, const std::string& where)>& fn);

// Number of records in `shards` (framing checked, payloads not parsed).
absl::StatusOr<int64_t> CountRecords(const std::vector<std::string>& shards);

// Typed feature access; errors name `where` and the feature.
absl::StatusOr<absl::string_view> BytesFeature(const tf::Example& example, const std::string& key,
                                               const std::string& where);
absl::StatusOr<int64_t> Int64Feature(const tf::Example& example, const std::string& key,
                                     const std::string& where);

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_TFDS_H_

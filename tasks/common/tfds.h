// Reading TensorFlow Datasets caches without TensorFlow: a prepared TFDS dataset is a folder
// <data_dir>/<name>/[<config>/]<version>/ holding <name>-<split>.tfrecord-NNNNN-of-MMMMM shards
// of serialized tf.train.Example (tf_example.proto), read in shard order: that order is TFDS's
// example order, which percent slices such as train[:90%] refer to. The folder's
// `dataset_info.json` records how many examples each shard holds; every shard is checked against
// it, so a shard that is empty or cut exactly at a record boundary fails instead of silently
// dropping examples.
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

// One split of a TFDS cache: its shards in order and the example count dataset_info.json
// records for each (shard_lengths empty when the file gives only the split's total).
struct TfdsSplit {
  std::string name;
  std::vector<std::string> shards;
  std::vector<int64_t> shard_lengths;
  int64_t num_examples = 0;  // the split's total per dataset_info.json (> 0)
};

// The shards of one split, in shard order, with the counts from `dir`/dataset_info.json. Fails
// (naming the file and the fix) when there are no shards, dataset_info.json is missing, holds no
// count for the split, or lists another number of shards than the folder has.
absl::StatusOr<TfdsSplit> TfdsShards(const std::string& dir, absl::string_view name,
                                     absl::string_view split);

// Calls `fn(example, where)` for every record of `split` in order; `where` is
// "<file> record <i> at byte offset <o>". Corrupt framing (RecordReader), payloads that are not
// a tf.train.Example, and a shard (or split) holding another number of records than
// dataset_info.json says fail with the file named.
absl::Status ForEachTfExample(
    const TfdsSplit& split,
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

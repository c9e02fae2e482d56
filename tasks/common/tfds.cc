#include "tasks/common/tfds.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "datasets/record_io.h"
#include "tasks/common/files.h"

namespace lra::tasks {
namespace {

bool HasShards(const std::string& dir, absl::string_view name) {
  auto names = ListDir(dir);
  if (!names.ok()) return false;
  const std::string prefix = absl::StrCat(name, "-train.tfrecord");
  for (const std::string& n : *names) {
    if (absl::StartsWith(n, prefix)) return true;
  }
  return false;
}

void Search(const std::string& dir, absl::string_view name, int depth, std::string* best) {
  if (HasShards(dir, name)) {
    if (best->empty() || dir > *best) *best = dir;
    return;
  }
  if (depth == 0) return;
  auto names = ListDir(dir);
  if (!names.ok()) return;
  for (const std::string& n : *names) {
    const std::string child = JoinPath(dir, n);
    if (IsDirectory(child)) Search(child, name, depth - 1, best);
  }
}

}  // namespace

std::string FindTfdsDir(const std::string& source, absl::string_view name) {
  std::string best;
  if (IsDirectory(source)) Search(source, name, 3, &best);
  return best;
}

absl::StatusOr<std::vector<std::string>> TfdsShards(const std::string& dir,
                                                    absl::string_view name,
                                                    absl::string_view split) {
  LRA_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  const std::string prefix = absl::StrCat(name, "-", split, ".tfrecord");
  std::vector<std::string> shards;
  // Shard suffixes are zero-padded (-00000-of-00016), so byte order is shard order.
  for (const std::string& n : names) {
    if (absl::StartsWith(n, prefix)) shards.push_back(JoinPath(dir, n));
  }
  if (shards.empty()) {
    return absl::NotFoundError(absl::StrCat(dir, ": no ", prefix, "-* shards"));
  }
  return shards;
}

absl::Status ForEachTfExample(
    const std::vector<std::string>& shards,
    const std::function<absl::Status(const tf::Example&, const std::string& where)>& fn) {
  tf::Example example;
  std::string payload;
  for (const std::string& path : shards) {
    LRA_ASSIGN_OR_RETURN(std::unique_ptr<datasets::RecordReader> reader,
                         datasets::RecordReader::Open(path));
    for (int64_t i = 0;; ++i) {
      const uint64_t offset = reader->offset();
      LRA_ASSIGN_OR_RETURN(bool more, reader->Next(&payload));
      if (!more) break;
      const std::string where = absl::StrCat(path, " record ", i, " at byte offset ", offset);
      if (!example.ParseFromString(payload)) {
        return absl::DataLossError(absl::StrCat(where, ": not a serialized tf.train.Example"));
      }
      LRA_RETURN_IF_ERROR(fn(example, where));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CountRecords(const std::vector<std::string>& shards) {
  int64_t n = 0;
  absl::string_view view;
  for (const std::string& path : shards) {
    LRA_ASSIGN_OR_RETURN(std::unique_ptr<datasets::RecordReader> reader,
                         datasets::RecordReader::Open(path));
    while (true) {
      LRA_ASSIGN_OR_RETURN(bool more, reader->NextView(&view));
      if (!more) break;
      ++n;
    }
  }
  return n;
}

absl::StatusOr<absl::string_view> BytesFeature(const tf::Example& example, const std::string& key,
                                               const std::string& where) {
  const auto& features = example.features().feature();
  auto it = features.find(key);
  if (it == features.end() || !it->second.has_bytes_list() ||
      it->second.bytes_list().value_size() != 1) {
    return absl::DataLossError(
        absl::StrCat(where, ": expected one bytes value in feature '", key, "'"));
  }
  return absl::string_view(it->second.bytes_list().value(0));
}

absl::StatusOr<int64_t> Int64Feature(const tf::Example& example, const std::string& key,
                                     const std::string& where) {
  const auto& features = example.features().feature();
  auto it = features.find(key);
  if (it == features.end() || !it->second.has_int64_list() ||
      it->second.int64_list().value_size() != 1) {
    return absl::DataLossError(
        absl::StrCat(where, ": expected one int64 value in feature '", key, "'"));
  }
  return it->second.int64_list().value(0);
}

}  // namespace lra::tasks

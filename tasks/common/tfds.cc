#include "tasks/common/tfds.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "google/protobuf/util/json_util.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "datasets/record_io.h"
#include "core/base/file_util.h"
#include "tasks/common/tfds_info.pb.h"

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

absl::StatusOr<TfdsSplit> TfdsShards(const std::string& dir, absl::string_view name,
                                     absl::string_view split) {
  LRA_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  const std::string prefix = absl::StrCat(name, "-", split, ".tfrecord");
  TfdsSplit out;
  out.name = std::string(split);
  // Shard suffixes are zero-padded (-00000-of-00016), so byte order is shard order.
  for (const std::string& n : names) {
    if (absl::StartsWith(n, prefix)) out.shards.push_back(JoinPath(dir, n));
  }
  if (out.shards.empty()) {
    return absl::NotFoundError(absl::StrCat(dir, ": no ", prefix, "-* shards"));
  }
  const std::string info_path = JoinPath(dir, "dataset_info.json");
  const std::string refetch = absl::StrCat(
      "; copy the whole TFDS version folder again (or let tfds.load('", name,
      "') rebuild it)");
  if (!PathExists(info_path)) {
    return absl::NotFoundError(absl::StrCat(
        info_path, " is missing: TFDS writes it beside the shards and it records how many "
        "examples each shard holds, which is how a shortened shard is caught", refetch));
  }
  LRA_ASSIGN_OR_RETURN(std::string json, ReadFile(info_path));
  tfds::DatasetInfo info;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &info, options);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat(info_path, ": not a TFDS dataset_info.json (",
                                            parsed.message().as_string(), ")", refetch));
  }
  const tfds::SplitInfo* found = nullptr;
  for (const tfds::SplitInfo& s : info.splits()) {
    if (s.name() == split) found = &s;
  }
  if (found == nullptr || (found->shard_lengths_size() == 0 &&
                           found->statistics().num_examples() <= 0)) {
    return absl::DataLossError(absl::StrCat(info_path, ": records no example count for split '",
                                            split, "'", refetch));
  }
  if (found->shard_lengths_size() > 0) {
    if (found->shard_lengths_size() != static_cast<int>(out.shards.size())) {
      return absl::DataLossError(absl::StrCat(
          dir, ": ", out.shards.size(), " ", prefix, "-* shards, but dataset_info.json lists ",
          found->shard_lengths_size(), refetch));
    }
    for (int64_t n : found->shard_lengths()) {
      out.shard_lengths.push_back(n);
      out.num_examples += n;
    }
  } else {
    out.num_examples = found->statistics().num_examples();
  }
  if (out.num_examples <= 0) {
    return absl::DataLossError(
        absl::StrCat(info_path, ": split '", split, "' has no examples", refetch));
  }
  return out;
}

absl::Status ForEachTfExample(
    const TfdsSplit& split,
    const std::function<absl::Status(const tf::Example&, const std::string& where)>& fn) {
  tf::Example example;
  std::string payload;
  int64_t total = 0;
  const std::string fix = "; the shard is damaged or cut short: copy the TFDS folder again";
  for (size_t s = 0; s < split.shards.size(); ++s) {
    const std::string& path = split.shards[s];
    LRA_ASSIGN_OR_RETURN(std::unique_ptr<datasets::RecordReader> reader,
                         datasets::RecordReader::Open(path));
    int64_t i = 0;
    for (;; ++i) {
      const uint64_t offset = reader->offset();
      LRA_ASSIGN_OR_RETURN(bool more, reader->Next(&payload));
      if (!more) break;
      const std::string where = absl::StrCat(path, " record ", i, " at byte offset ", offset);
      if (!example.ParseFromString(payload)) {
        return absl::DataLossError(absl::StrCat(where, ": not a serialized tf.train.Example"));
      }
      LRA_RETURN_IF_ERROR(fn(example, where));
    }
    if (!split.shard_lengths.empty() && i != split.shard_lengths[s]) {
      return absl::DataLossError(absl::StrCat(path, ": ", i, " records, but dataset_info.json "
                                              "says this shard holds ", split.shard_lengths[s],
                                              fix));
    }
    total += i;
  }
  if (total != split.num_examples) {
    return absl::DataLossError(absl::StrCat(
        "split '", split.name, "' (", split.shards.front(), " ...): ", total,
        " records, but dataset_info.json says ", split.num_examples, fix));
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

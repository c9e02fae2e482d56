#include "tasks/pathfinder/pathfinder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/base/status_macros.h"
#include "core/base/file_util.h"
#include "tasks/common/png_codec.h"
#include "tasks/common/split.h"

namespace lra::tasks {
namespace {

// At most this many missing files are named in the error; the rest are counted.
constexpr int kMaxNamedMissing = 5;

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> ResolvePathfinderDir(
    const TaskContext& context) {
  const TaskSpec& spec = *context.spec;
  const std::string& source = context.source;
  if (IsDirectory(JoinPath(source, "metadata"))) {
    // A difficulty folder itself: name the difficulty by its folder when it is a known one.
    const std::string base = Basename(source);
    for (const Difficulty& d : spec.difficulties()) {
      if (d.folder() == base) return std::make_pair(source, d.name());
    }
    return std::make_pair(source, base);
  }
  std::vector<std::string> known;
  for (const Difficulty& d : spec.difficulties()) {
    if (d.name() == context.difficulty || d.folder() == context.difficulty) {
      const std::string dir = JoinPath(source, d.folder());
      if (!IsDirectory(JoinPath(dir, "metadata"))) {
        return absl::NotFoundError(absl::StrCat(
            spec.display_name(), ": no ", JoinPath(dir, "metadata"), "; --source must be the ",
            spec.name() == "pathx" ? "pathfinder128" : "pathfinder32",
            " folder of the LRA release (holding ", d.folder(), "/) or a difficulty folder"));
      }
      return std::make_pair(dir, d.name());
    }
    known.push_back(d.name());
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown difficulty '", context.difficulty,
                                                 "'; known: ", absl::StrJoin(known, ", ")));
}

absl::StatusOr<std::vector<PathfinderItem>> ScanPathfinder(const std::string& dir) {
  const std::string meta_dir = JoinPath(dir, "metadata");
  LRA_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(meta_dir));
  // Batch files "<b>.npy" in numeric order, as S4 and the LRA builder read them.
  std::vector<std::pair<int64_t, std::string>> batches;
  for (const std::string& name : names) {
    absl::string_view stem = name;
    if (!absl::ConsumeSuffix(&stem, ".npy")) continue;
    int64_t b;
    if (!absl::SimpleAtoi(stem, &b)) {
      return absl::InvalidArgumentError(absl::StrCat(
          JoinPath(meta_dir, name), ": metadata files must be named <batch number>.npy"));
    }
    batches.emplace_back(b, name);
  }
  std::sort(batches.begin(), batches.end());
  if (batches.empty()) {
    return absl::NotFoundError(absl::StrCat(meta_dir, ": no <batch>.npy metadata files"));
  }
  std::vector<PathfinderItem> items;
  std::vector<std::string> missing;
  int64_t num_missing = 0;
  for (const auto& [b, name] : batches) {
    const std::string path = JoinPath(meta_dir, name);
    LRA_ASSIGN_OR_RETURN(LineReader reader, LineReader::Open(path));
    absl::string_view line;
    while (true) {
      LRA_ASSIGN_OR_RETURN(bool more, reader.Next(&line));
      if (!more) break;
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipWhitespace());
      if (f.empty()) continue;  // blank line (a trailing newline)
      PathfinderItem item;
      if (f.size() < 4 || !absl::SimpleAtoi(f[3], &item.label) ||
          (item.label != 0 && item.label != 1)) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":", reader.line_number(),
            ": expected \"<subdir> <file> <index> <label 0|1> ...\", got \"",
            line.substr(0, 80), "\""));
      }
      item.image = JoinPath(f[0], f[1]);
      // The metadata names the image; it must stay inside the difficulty folder.
      LRA_ASSIGN_OR_RETURN(
          const std::string image_path,
          ResolveInsideRoot(dir, item.image, absl::StrCat(path, ":", reader.line_number())));
      auto size = FileSize(image_path);
      if (!size.ok()) {
        if (static_cast<int>(missing.size()) < kMaxNamedMissing) {
          missing.push_back(absl::StrCat(JoinPath(dir, item.image), " (", path, ":",
                                         reader.line_number(), ")"));
        }
        ++num_missing;
        continue;
      }
      item.empty = *size == 0;
      items.push_back(std::move(item));
    }
  }
  if (num_missing > 0) {
    return absl::NotFoundError(absl::StrCat(
        num_missing, " image(s) named in the metadata do not exist: ",
        absl::StrJoin(missing, ", "), num_missing > kMaxNamedMissing ? ", ..." : "",
        "; the tree is incomplete (re-extract the archive or regenerate)"));
  }
  return items;
}

absl::StatusOr<std::vector<std::string>> AssignPathfinderSplits(
    const std::vector<PathfinderItem>& items, const std::string& convention, uint64_t seed) {
  const int64_t n = items.size();
  std::vector<std::string> split(n);
  if (convention == "lra") {
    const int64_t b1 = TfdsPercentBoundary(n, 80);
    const int64_t b2 = TfdsPercentBoundary(n, 90);
    for (int64_t i = 0; i < n; ++i) {
      if (items[i].empty) continue;
      split[i] = i < b1 ? "train" : i < b2 ? "val" : "test";
    }
    return split;
  }
  if (convention == "random") {
    std::vector<int64_t> kept;
    for (int64_t i = 0; i < n; ++i) {
      if (!items[i].empty) kept.push_back(i);
    }
    const int64_t m = kept.size();
    const int64_t num_val = m / 10;
    const int64_t num_test = m / 10;
    const int64_t num_train = m - num_val - num_test;
    std::vector<int64_t> order = SeededPermutation(m, seed);
    for (int64_t k = 0; k < m; ++k) {
      split[kept[order[k]]] = k < num_train ? "train" : k < num_train + num_val ? "val" : "test";
    }
    return split;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown split convention '", convention, "'; known: lra, random"));
}

absl::StatusOr<Plan> PlanPathfinder(const TaskContext& context) {
  LRA_ASSIGN_OR_RETURN(auto resolved, ResolvePathfinderDir(context));
  const std::string dir = resolved.first;
  LRA_ASSIGN_OR_RETURN(std::vector<PathfinderItem> items, ScanPathfinder(dir));
  LRA_ASSIGN_OR_RETURN(std::vector<std::string> splits,
                       AssignPathfinderSplits(items, context.split_convention, context.seed));
  Plan plan;
  plan.provenance.set_kind(datasets::Provenance::RELEASE);
  plan.provenance.add_source_files(dir);
  auto& options = *plan.provenance.mutable_options();
  options["difficulty"] = resolved.second;
  options["split_convention"] = context.split_convention;
  if (context.split_convention == "random") plan.provenance.set_seed(context.seed);
  int64_t empty = 0;
  for (const auto& item : items) empty += item.empty;
  options["empty_images_skipped"] = absl::StrCat(empty);
  options["metadata_lines"] = absl::StrCat(items.size());
  plan.vocab = VocabularyFromEncoding(*context.encoding);
  const int side = context.spec->image_height();
  plan.run = [dir, side, items = std::move(items), splits = std::move(splits)](
                 ExampleSink* sink, RunStats* stats) -> absl::Status {
    datasets::Example e;
    for (size_t i = 0; i < items.size(); ++i) {
      const PathfinderItem& item = items[i];
      if (item.empty) {
        ++stats->skipped;
        stats->notes.push_back(absl::StrCat("skipped empty image ", JoinPath(dir, item.image)));
        continue;
      }
      const std::string path = JoinPath(dir, item.image);
      LRA_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
      LRA_ASSIGN_OR_RETURN(Image8 image, DecodePng(bytes, path, PngSize{side, side}));
      if (image.width != side || image.height != side || image.channels != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": expected a ", side, "x", side, " grayscale PNG, got ", image.width, "x",
            image.height, " with ", image.channels, " channel(s); wrong resolution folder?"));
      }
      e.Clear();
      e.set_id(item.image);
      e.set_label(item.label);
      e.set_length(side * side);
      e.mutable_tokens()->Reserve(side * side);
      for (uint8_t p : image.pixels) e.add_tokens(p);
      LRA_RETURN_IF_ERROR(sink->Add(splits[i], e));
      ++stats->examples;
    }
    return absl::OkStatus();
  };
  return plan;
}

}  // namespace lra::tasks

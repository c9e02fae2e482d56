#include "harness/task_data.h"

#include <algorithm>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "tasks/common/spec.h"
#include "tasks/registry.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

// Lower is preferred: the real task first, a stand-in last.
int ProvenanceRank(datasets::Provenance::Kind kind) {
  switch (kind) {
    case datasets::Provenance::RELEASE: return 0;
    case datasets::Provenance::SYSTEM: return 1;
    case datasets::Provenance::GENERATED: return 2;
    case datasets::Provenance::SYNTHETIC: return 3;
    default: return 4;
  }
}

// True when datasets prepared with encodings `a` and `b` hold the same tokens.
bool SameTokens(const tasks::Encoding& a, const tasks::Encoding& b) {
  return a.vocab_size() == b.vocab_size() && a.pad_id() == b.pad_id() && a.eos_id() == b.eos_id() &&
         a.unk_id() == b.unk_id() && a.max_length() == b.max_length() &&
         std::equal(a.symbols().begin(), a.symbols().end(), b.symbols().begin(), b.symbols().end());
}

std::string PrepareHint(const tasks::TaskSpec& spec, const std::string& encoding) {
  std::string cmd = absl::StrCat("bazel run //:lra -- prepare --task=", spec.name());
  if (!encoding.empty() && encoding != spec.default_encoding()) {
    absl::StrAppend(&cmd, " --encoding=", encoding);
  }
  if (!spec.generate().empty()) {
    return absl::StrCat(cmd, " --generate   (or --source=<folder with the original files>)");
  }
  if (!spec.default_source().empty()) return cmd;
  return absl::StrCat(cmd, " --source=<folder with the original files>");
}

}  // namespace

absl::StatusOr<TaskData> OpenTaskData(const std::string& data_dir, const std::string& task,
                                      const std::string& dataset, const std::string& encoding) {
  TaskData data;
  LRA_ASSIGN_OR_RETURN(data.spec, tasks::GetTaskSpec(task));
  LRA_ASSIGN_OR_RETURN(const tasks::Encoding* wanted, tasks::FindEncoding(*data.spec, encoding));
  auto compatible = [&](const datasets::Manifest& m) {
    absl::StatusOr<const tasks::Encoding*> have = tasks::FindEncoding(*data.spec, m.encoding());
    return have.ok() && SameTokens(**have, *wanted);
  };
  if (!dataset.empty()) {
    data.dir = (fs::path(data_dir) / dataset).string();
  } else {
    absl::StatusOr<std::vector<tasks::DatasetInfo>> found = tasks::DescribeData(data_dir);
    int best_rank = 1 << 30;
    if (found.ok()) {
      for (const tasks::DatasetInfo& d : *found) {
        if (d.manifest.task() != task || !compatible(d.manifest)) continue;
        int rank = ProvenanceRank(d.manifest.provenance().kind());
        if (rank < best_rank || (rank == best_rank && d.dir < data.dir)) {
          best_rank = rank;
          data.dir = d.dir;
        }
      }
    }
    if (data.dir.empty()) {
      return absl::NotFoundError(absl::StrCat("no prepared data for task '", task, "' in '",
                                              data_dir, "'",
                                              encoding.empty() ? "" : absl::StrCat(" with encoding '", encoding, "'"),
                                              ". Prepare it first:\n  ",
                                              PrepareHint(*data.spec, encoding)));
    }
  }
  absl::StatusOr<datasets::Manifest> manifest = datasets::ReadManifest(data.dir);
  if (!manifest.ok()) {
    return absl::NotFoundError(absl::StrCat("dataset '", data.dir, "' cannot be read (",
                                            manifest.status().message(),
                                            "). Prepare it again:\n  ", PrepareHint(*data.spec, encoding),
                                            " --overwrite"));
  }
  data.manifest = *std::move(manifest);
  if (data.manifest.task() != task) {
    return absl::InvalidArgumentError(absl::StrCat("dataset '", data.dir, "' holds task '",
                                                   data.manifest.task(), "', not '", task, "'"));
  }
  if (!compatible(data.manifest)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset '", data.dir, "' has encoding '", data.manifest.encoding(), "' but the config wants '",
        wanted->name(), "'. Prepare one with:\n  ", PrepareHint(*data.spec, wanted->name())));
  }
  models::TaskInfo& info = data.info;
  info.name = task;
  info.vocab_size = data.manifest.vocab().size();
  info.pad_id = data.manifest.vocab().pad_id();
  info.num_classes = data.manifest.num_classes();
  info.max_length = data.manifest.max_length();
  info.pair = data.manifest.pair();
  info.pixels = data.spec->image_height() > 0;
  info.mask_pad_tokens = wanted->mask_pad_tokens();  // the config's encoding, not the data's
  switch (data.spec->default_pooling()) {
    case tasks::CLS: info.pooling = "cls"; break;
    case tasks::FIRST: info.pooling = "first"; break;
    default: info.pooling = "mean"; break;
  }
  return data;
}

models::Batch ToModelBatch(const datasets::Batch& batch) {
  models::Batch out;
  out.batch_size = batch.batch_size;
  out.length = batch.length;
  out.tokens = batch.tokens.data();
  out.lengths = batch.lengths.data();
  if (!batch.tokens2.empty()) {
    out.length2 = batch.length2;
    out.tokens2 = batch.tokens2.data();
    out.lengths2 = batch.lengths2.data();
  }
  return out;
}

}  // namespace lra::harness

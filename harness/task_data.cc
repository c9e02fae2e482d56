#include "harness/task_data.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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

// Folders are named <task>[-suffixes] by DefaultDatasetDir; a damaged one is matched by name.
bool BelongsToTask(const std::string& dir, const std::string& task) {
  const std::string name = fs::path(dir).filename().string();
  return name == task || absl::StartsWith(name, task + "-");
}

// The max_length that `lra prepare` recorded in the provenance option "request", or -1.
int RequestedMaxLength(const datasets::Manifest& m) {
  auto it = m.provenance().options().find("request");
  if (it == m.provenance().options().end()) return -1;
  for (absl::string_view word : absl::StrSplit(it->second, ' ')) {
    int n = 0;
    if (absl::ConsumePrefix(&word, "max_length=") && absl::SimpleAtoi(word, &n)) return n;
  }
  return -1;
}

}  // namespace

absl::Status CheckManifestAgainstSpec(const std::string& dir, const datasets::Manifest& m,
                                      const tasks::TaskSpec& spec) {
  auto bad = [&](const std::string& what, const std::string& fix) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset '", dir, "' (task ", spec.name(), "): ", what, "; ", fix));
  };
  const std::string again = absl::StrCat("prepare it again:\n  ", PrepareHint(spec, m.encoding()),
                                         " --overwrite");
  if (m.task() != spec.name()) {
    return bad(absl::StrCat("its manifest is for task '", m.task(), "'"), again);
  }
  if (m.num_classes() != spec.num_classes()) {
    return bad(absl::StrCat("its manifest says ", m.num_classes(), " classes, the task has ",
                            spec.num_classes()),
               again);
  }
  if (m.pair() != spec.pair()) {
    return bad(absl::StrCat("its manifest says pair=", m.pair() ? "true" : "false",
                            ", the task is ", spec.pair() ? "a pair task" : "not a pair task"),
               again);
  }
  if (m.vocab().size() <= 0) return bad("its manifest has no vocabulary (vocab.size 0)", again);
  absl::StatusOr<const tasks::Encoding*> encoding = tasks::FindEncoding(spec, m.encoding());
  if (!encoding.ok()) return bad(std::string(encoding.status().message()), again);
  const int expected =
      (*encoding)->max_length() > 0 ? (*encoding)->max_length() : spec.max_length();
  const int have = m.max_length();
  if (have == expected) return absl::OkStatus();
  const bool in_range = spec.min_max_length() > 0 && have >= spec.min_max_length() &&
                        have <= spec.max_max_length();
  if (in_range && RequestedMaxLength(m) == have) return absl::OkStatus();  // on purpose
  return bad(
      absl::StrCat(
          "its manifest says max_length ", have, " but the task's ", (*encoding)->name(),
          " encoding is ", expected, " tokens long",
          have < expected ? ", so it would train on the first " + std::to_string(have) +
                                " tokens of every example without saying so"
                          : "",
          in_range ? absl::StrCat(" (and `lra prepare` did not record max_length=", have, ")")
                   : ""),
      spec.min_max_length() > 0
          ? absl::StrCat("for a dataset of another length on purpose use `lra prepare --task=",
                         spec.name(), " --max_length=N` (N in [", spec.min_max_length(), ", ",
                         spec.max_max_length(), "]); or ", again)
          : again);
}

absl::StatusOr<TaskData> OpenTaskData(const std::string& data_dir, const std::string& task,
                                      const std::string& dataset, const std::string& encoding) {
  TaskData data;
  LRA_ASSIGN_OR_RETURN(data.spec, tasks::GetTaskSpec(task));
  LRA_ASSIGN_OR_RETURN(const tasks::Encoding* wanted, tasks::FindEncoding(*data.spec, encoding));
  auto compatible = [&](const datasets::Manifest& m) {
    absl::StatusOr<const tasks::Encoding*> have = tasks::FindEncoding(*data.spec, m.encoding());
    return have.ok() && SameTokens(**have, *wanted);
  };
  std::vector<tasks::DamagedDataset> damaged;
  if (!dataset.empty()) {
    data.dir = (fs::path(data_dir) / dataset).string();
  } else {
    absl::StatusOr<std::vector<tasks::DatasetInfo>> found =
        tasks::DescribeData(data_dir, &damaged);
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
      // A folder of this task whose manifest is damaged is not "no data": say what is wrong.
      for (const tasks::DamagedDataset& d : damaged) {
        if (!BelongsToTask(d.dir, task)) continue;
        return absl::DataLossError(absl::StrCat(
            "no readable prepared data for task '", task, "': dataset '", d.dir,
            "' has a damaged manifest (", d.error.message(), "). `lra verify --data_dir=",
            data_dir, " --task=", task, "` checks every dataset; prepare it again:\n  ",
            PrepareHint(*data.spec, encoding), " --overwrite"));
      }
      return absl::NotFoundError(absl::StrCat("no prepared data for task '", task, "' in '",
                                              data_dir, "'",
                                              encoding.empty() ? "" : absl::StrCat(" with encoding '", encoding, "'"),
                                              ". Prepare it first:\n  ",
                                              PrepareHint(*data.spec, encoding)));
    }
  }
  absl::StatusOr<datasets::Manifest> manifest = datasets::ReadManifest(data.dir);
  if (!manifest.ok()) {
    const std::string msg = absl::StrCat("dataset '", data.dir, "' cannot be read (",
                                         manifest.status().message(), "). Prepare it again:\n  ",
                                         PrepareHint(*data.spec, encoding), " --overwrite");
    // Not found: a missing folder (a suite skips the task); anything else is damage.
    return absl::IsNotFound(manifest.status()) ? absl::NotFoundError(msg)
                                               : absl::DataLossError(msg);
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
  LRA_RETURN_IF_ERROR(CheckManifestAgainstSpec(data.dir, data.manifest, *data.spec));
  datasets::VerifyReport report;
  const absl::Time start = absl::Now();
  absl::Status verified = datasets::VerifyDatasetCached(data.dir, &report);
  if (!verified.ok()) {
    return absl::DataLossError(absl::StrCat("dataset '", data.dir, "' failed verification: ",
                                            verified.message(), "\nPrepare it again:\n  ",
                                            PrepareHint(*data.spec, data.manifest.encoding()),
                                            " --overwrite"));
  }
  // Only a first (or changed) dataset is read in full; say so when that took a while.
  if (report.bytes_hashed >= (int64_t{64} << 20)) {
    std::fprintf(stderr, "verified %s: %d shards, %.0f MB in %.1f s%s\n", data.dir.c_str(),
                 report.shards_hashed, report.bytes_hashed / 1e6,
                 absl::ToDoubleSeconds(absl::Now() - start),
                 report.cache_error.empty() ? " (remembered until a shard changes)"
                                            : " (cannot remember it: read-only folder?)");
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

absl::StatusOr<std::vector<VerifiedDataset>> VerifyDatasets(const std::string& data_dir,
                                                             const std::string& task) {
  if (!task.empty()) LRA_RETURN_IF_ERROR(tasks::GetTaskSpec(task).status());
  std::vector<tasks::DamagedDataset> damaged;
  LRA_ASSIGN_OR_RETURN(std::vector<tasks::DatasetInfo> found,
                       tasks::DescribeData(data_dir, &damaged));
  std::vector<VerifiedDataset> out;
  for (const tasks::DatasetInfo& d : found) {
    if (!task.empty() && d.manifest.task() != task) continue;
    VerifiedDataset v;
    v.dir = d.dir;
    v.task = d.manifest.task();
    const absl::Time start = absl::Now();
    absl::StatusOr<const tasks::TaskSpec*> spec = tasks::GetTaskSpec(v.task);
    v.status = spec.ok() ? CheckManifestAgainstSpec(v.dir, d.manifest, **spec) : spec.status();
    if (v.status.ok()) v.status = datasets::VerifyDataset(v.dir, &v.report);
    v.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    out.push_back(std::move(v));
  }
  for (const tasks::DamagedDataset& d : damaged) {
    if (!task.empty() && !BelongsToTask(d.dir, task)) continue;
    VerifiedDataset v;
    v.dir = d.dir;
    v.status = d.error;
    out.push_back(std::move(v));
  }
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "no prepared dataset", task.empty() ? "" : absl::StrCat(" of task '", task, "'"),
        " under --data_dir ", data_dir, "; `lra tasks` lists the tasks and `lra prepare` makes one"));
  }
  std::sort(out.begin(), out.end(),
            [](const VerifiedDataset& a, const VerifiedDataset& b) { return a.dir < b.dir; });
  return out;
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

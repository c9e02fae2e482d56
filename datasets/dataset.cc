#include "datasets/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/file_util.h"
#include "core/base/splitmix64.h"
#include "core/base/status_macros.h"
#include "datasets/sha256.h"
#include "google/protobuf/text_format.h"

namespace lra {
namespace datasets {
namespace {

constexpr char kManifestPb[] = "manifest.pb";
constexpr char kManifestTxt[] = "manifest.txt";

std::string Errno() { return std::strerror(errno); }

bool ValidSplitName(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

std::string ShardFileName(absl::string_view split, int index) {
  return absl::StrFormat("%s-%05d.tfrecord", split, index);
}

// ----------------------------------------------------------------------------- DatasetWriter

absl::StatusOr<std::unique_ptr<DatasetWriter>> DatasetWriter::Create(
    const std::string& dir, const Manifest& header, const DatasetWriterOptions& options) {
  if (dir.empty()) return absl::InvalidArgumentError("DatasetWriter: empty dataset folder name");
  if (options.examples_per_shard < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DatasetWriter: examples_per_shard must be >= 1, got ", options.examples_per_shard));
  }
  std::string clean = dir;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  if (PathExists(clean)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "dataset folder ", clean, " already exists; delete it (or pass --overwrite) to rebuild"));
  }
  LRA_RETURN_IF_ERROR(MakeDirs(Dirname(clean)));
  const std::string tmp = absl::StrCat(clean, ".tmp.", ::getpid());
  // A folder of this name is a leftover of an earlier killed writer that had our pid.
  if (PathExists(tmp)) RemoveTree(tmp).IgnoreError();
  if (::mkdir(tmp.c_str(), 0755) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create temporary dataset folder ", tmp, ": ", Errno()));
  }
  Manifest m = header;
  m.clear_splits();
  return std::unique_ptr<DatasetWriter>(new DatasetWriter(clean, tmp, std::move(m), options));
}

DatasetWriter::DatasetWriter(std::string dir, std::string tmp_dir, Manifest header,
                             DatasetWriterOptions options)
    : dir_(std::move(dir)),
      tmp_dir_(std::move(tmp_dir)),
      manifest_(std::move(header)),
      options_(options) {}

DatasetWriter::~DatasetWriter() {
  if (!finished_) {
    for (SplitState& s : splits_) s.writer.reset();  // deletes their .tmp files
    RemoveTree(tmp_dir_).IgnoreError();
  }
}

absl::Status DatasetWriter::Fail(absl::Status s) {
  if (status_.ok()) status_ = s;
  return status_;
}

absl::Status DatasetWriter::CloseShard(SplitState* s) {
  if (s->writer == nullptr) return absl::OkStatus();
  LRA_RETURN_IF_ERROR(s->writer->Close());
  Shard* shard = s->proto.mutable_shards(s->proto.shards_size() - 1);
  shard->set_num_examples(s->in_shard);
  shard->set_num_bytes(static_cast<int64_t>(s->writer->bytes_written()));
  // Hash what is on disk (not what we meant to write), so the manifest vouches for the file.
  LRA_ASSIGN_OR_RETURN(std::string sha, Sha256FileHex(tmp_dir_ + "/" + shard->file()));
  shard->set_sha256(sha);
  s->writer.reset();
  s->in_shard = 0;
  return absl::OkStatus();
}

absl::Status DatasetWriter::Add(absl::string_view split, const Example& example) {
  if (!status_.ok()) return status_;
  if (finished_) return absl::FailedPreconditionError(absl::StrCat(dir_, ": Add after Finish"));
  if (!ValidSplitName(split)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "split name '", split, "' must be 1-64 characters of [a-z0-9_] (e.g. train, val, test)"));
  }
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("example '", example.id(), "' (split ", split,
                                                   ") for dataset ", dir_, ": ", what));
  };
  if (example.label() < 0 ||
      (manifest_.num_classes() > 0 && example.label() >= manifest_.num_classes())) {
    return bad(absl::StrCat("label ", example.label(), " is outside [0, num_classes=",
                            manifest_.num_classes(), ")"));
  }
  if (!manifest_.pair() && example.tokens2_size() > 0) {
    return bad("has tokens2 but the manifest is not a pair task");
  }
  const int max_len = manifest_.max_length();
  if (max_len > 0 && (example.tokens_size() > max_len || example.tokens2_size() > max_len)) {
    return bad(absl::StrCat("has ", example.tokens_size(), "/", example.tokens2_size(),
                            " tokens, more than max_length=", max_len,
                            "; truncate before adding"));
  }
  const int vocab = manifest_.vocab().size();
  for (const auto* seq : {&example.tokens(), &example.tokens2()}) {
    for (int i = 0; i < seq->size(); ++i) {
      const int32_t t = seq->Get(i);
      if (t < 0 || (vocab > 0 && t >= vocab)) {
        return bad(absl::StrCat("token ", t, " at position ", i, " is outside [0, vocab.size=",
                                vocab, ")"));
      }
    }
  }

  SplitState* s = nullptr;
  for (SplitState& st : splits_) {
    if (st.proto.name() == split) s = &st;
  }
  if (s == nullptr) {
    splits_.emplace_back();
    s = &splits_.back();
    s->proto.set_name(std::string(split));
  }
  if (s->writer != nullptr && s->in_shard >= options_.examples_per_shard) {
    if (absl::Status st = CloseShard(s); !st.ok()) return Fail(st);
  }
  if (s->writer == nullptr) {
    const std::string name = ShardFileName(split, s->proto.shards_size());
    auto w = RecordWriter::Open(tmp_dir_ + "/" + name);
    if (!w.ok()) return Fail(w.status());
    s->writer = std::move(*w);
    s->proto.add_shards()->set_file(name);
  }
  scratch_.clear();
  if (!example.SerializeToString(&scratch_)) {
    return Fail(absl::InternalError(absl::StrCat("cannot serialize example ", example.id())));
  }
  if (absl::Status st = s->writer->Write(scratch_); !st.ok()) return Fail(st);
  ++s->in_shard;
  s->proto.set_num_examples(s->proto.num_examples() + 1);
  auto* counts = s->proto.mutable_label_counts();
  while (counts->size() <= example.label()) counts->Add(0);
  counts->Set(example.label(), counts->Get(example.label()) + 1);
  return absl::OkStatus();
}

absl::Status DatasetWriter::Finish() {
  if (!status_.ok()) return status_;
  if (finished_) return absl::OkStatus();
  for (SplitState& s : splits_) {
    if (absl::Status st = CloseShard(&s); !st.ok()) return Fail(st);
    // Every split lists a count for each class, zeros included.
    while (s.proto.label_counts_size() < manifest_.num_classes()) s.proto.add_label_counts(0);
    *manifest_.add_splits() = s.proto;
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(manifest_, &text);
  std::string binary;
  if (!manifest_.SerializeToString(&binary)) {
    return Fail(absl::InternalError("cannot serialize the manifest"));
  }
  // manifest.pb is what marks a dataset complete, so it is the last file written.
  if (absl::Status st = WriteFileAtomically(tmp_dir_ + "/" + kManifestTxt, text); !st.ok()) {
    return Fail(st);
  }
  if (absl::Status st = WriteFileAtomically(tmp_dir_ + "/" + kManifestPb, binary); !st.ok()) {
    return Fail(st);
  }
  if (absl::Status st = SyncDir(tmp_dir_); !st.ok()) return Fail(st);
  if (::rename(tmp_dir_.c_str(), dir_.c_str()) != 0) {
    const int err = errno;
    const std::string msg = absl::StrCat("cannot rename ", tmp_dir_, " to ", dir_, ": ",
                                         std::strerror(err));
    return Fail(err == EEXIST || err == ENOTEMPTY
                    ? absl::AlreadyExistsError(msg + " (created by someone else meanwhile)")
                    : absl::UnavailableError(msg));
  }
  finished_ = true;
  // Durability of the rename itself; the dataset is complete either way.
  return SyncDir(Dirname(dir_));
}

// ----------------------------------------------------------------------------- reading

namespace {

// What to do about a damaged dataset, for every error that finds one.
std::string RebuildAdvice(const std::string& dir, absl::string_view task) {
  const std::string data_dir = Dirname(dir);
  return absl::StrCat("run `lra verify --data_dir=", data_dir,
                      task.empty() ? std::string() : absl::StrCat(" --task=", task),
                      "` to check every shard, then rebuild the dataset (`lra prepare",
                      task.empty() ? std::string() : absl::StrCat(" --task=", task),
                      " ... --overwrite`)");
}

bool IsLowerHex64(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The manifest's own consistency (ReadManifest's contract).
absl::Status CheckManifest(const Manifest& m, const std::string& dir, const std::string& path) {
  auto bad = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what, "; the manifest is damaged: ",
                                            RebuildAdvice(dir, m.task())));
  };
  const Vocabulary& v = m.vocab();
  if (v.size() < 0) return bad(absl::StrCat("vocab.size is ", v.size()));
  if (v.size() > 0 && (v.pad_id() < 0 || v.pad_id() >= v.size())) {
    return bad(absl::StrCat("vocab.pad_id ", v.pad_id(), " is outside the vocabulary [0, ",
                            v.size(), ")"));
  }
  if (v.size() > 0 && (v.eos_id() < -1 || v.eos_id() >= v.size())) {
    return bad(absl::StrCat("vocab.eos_id ", v.eos_id(), " is neither -1 nor in [0, ", v.size(),
                            ")"));
  }
  if (m.max_length() < 0) return bad(absl::StrCat("max_length is ", m.max_length()));
  if (m.num_classes() < 0) return bad(absl::StrCat("num_classes is ", m.num_classes()));
  std::set<std::string> split_names, files;
  for (const Split& s : m.splits()) {
    if (!ValidSplitName(s.name())) {
      return bad(absl::StrCat("split name '", s.name(), "' is not 1-64 characters of [a-z0-9_]"));
    }
    if (!split_names.insert(s.name()).second) {
      return bad(absl::StrCat("split '", s.name(), "' is listed twice"));
    }
    if (s.num_examples() < 0) {
      return bad(absl::StrCat("split ", s.name(), " has num_examples ", s.num_examples()));
    }
    int64_t shard_total = 0;
    for (const Shard& sh : s.shards()) {
      const std::string where = absl::StrCat(path, ": split ", s.name(), ", shard");
      absl::StatusOr<std::string> resolved = ResolveInsideRoot(dir, sh.file(), where);
      if (!resolved.ok() || sh.file().find('/') != std::string::npos || sh.file() == ".") {
        return bad(absl::StrCat("split ", s.name(), " has an invalid shard file name '",
                                sh.file(), "' (a shard is a plain file name inside ", dir,
                                resolved.ok() ? "" : absl::StrCat(": ", resolved.status().message()),
                                ")"));
      }
      if (!files.insert(sh.file()).second) {
        return bad(absl::StrCat("shard file '", sh.file(), "' is listed twice"));
      }
      if (sh.num_examples() < 0 || sh.num_bytes() < 0) {
        return bad(absl::StrCat("shard ", sh.file(), " has num_examples ", sh.num_examples(),
                                " and num_bytes ", sh.num_bytes()));
      }
      if (!IsLowerHex64(sh.sha256())) {
        return bad(absl::StrCat("shard ", sh.file(), " has sha256 '", sh.sha256().substr(0, 80),
                                "', not 64 lowercase hex digits"));
      }
      shard_total += sh.num_examples();
    }
    if (shard_total != s.num_examples()) {
      return bad(absl::StrCat("the shards of split ", s.name(), " hold ", shard_total,
                              " examples but the split says ", s.num_examples()));
    }
    if (m.num_classes() > 0 && s.label_counts_size() > m.num_classes()) {
      return bad(absl::StrCat("split ", s.name(), " counts ", s.label_counts_size(),
                              " labels but num_classes is ", m.num_classes()));
    }
    int64_t label_total = 0;
    for (int64_t c : s.label_counts()) {
      if (c < 0) return bad(absl::StrCat("split ", s.name(), " has a negative label count"));
      label_total += c;
    }
    if (s.label_counts_size() > 0 && label_total != s.num_examples()) {
      return bad(absl::StrCat("the label counts of split ", s.name(), " add up to ", label_total,
                              " but the split holds ", s.num_examples(), " examples"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckExample(const Manifest& m, const Example& ex, absl::string_view where) {
  auto bad = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat(where, " (id '", ex.id().substr(0, 80), "'): ", what,
                                            "; the data does not match its manifest"));
  };
  if (ex.label() < 0 || (m.num_classes() > 0 && ex.label() >= m.num_classes())) {
    return bad(absl::StrCat("label ", ex.label(), " is outside [0, num_classes=", m.num_classes(),
                            ")"));
  }
  if (!m.pair() && ex.tokens2_size() > 0) return bad("has tokens2 but the dataset is not a pair task");
  const int max_len = m.max_length();
  const int vocab = m.vocab().size();
  const char* names[2] = {"token", "tokens2 token"};
  int which = 0;
  for (const auto* seq : {&ex.tokens(), &ex.tokens2()}) {
    if (max_len > 0 && seq->size() > max_len) {
      return bad(absl::StrCat("has ", seq->size(), " ", which == 0 ? "tokens" : "tokens2",
                              ", more than max_length=", max_len));
    }
    for (int k = 0; k < seq->size(); ++k) {
      const int32_t t = seq->Get(k);
      if (t < 0 || (vocab > 0 && t >= vocab)) {
        return bad(absl::StrCat(names[which], " ", k, " is ", t, ", outside the vocabulary [0, ",
                                vocab, ")"));
      }
    }
    ++which;
  }
  return absl::OkStatus();
}

absl::StatusOr<Manifest> ReadManifest(const std::string& dir) {
  const std::string path = dir + "/" + kManifestPb;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(
          "no complete dataset at ", dir, ": ", path,
          " does not exist. A write that was interrupted leaves only a ", dir,
          ".tmp.<pid> folder (safe to delete); run the converter to build the dataset"));
    }
    return absl::PermissionDeniedError(absl::StrCat("cannot open ", path, ": ",
                                                    std::strerror(err)));
  }
  Manifest m;
  const bool ok = m.ParseFromFileDescriptor(fd);
  ::close(fd);
  if (!ok) {
    return absl::DataLossError(absl::StrCat(
        path, " is not a valid lra.datasets.Manifest (damaged?); rebuild the dataset"));
  }
  LRA_RETURN_IF_ERROR(CheckManifest(m, dir, path));
  return m;
}

namespace {

// A shard's identity on disk: what the verification cache is keyed by.
struct FileStamp {
  int64_t size = -1, mtime_ns = 0, ctime_ns = 0;
  uint64_t inode = 0;
  bool operator==(const FileStamp& o) const {
    return size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns && inode == o.inode;
  }
};

bool Stamp(const std::string& path, FileStamp* out) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  out->size = st.st_size;
  out->mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  out->ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
  out->inode = st.st_ino;
  return true;
}

// What a verified shard held: its record count and examples per label.
struct ShardSummary {
  FileStamp stamp;
  int64_t records = 0;
  std::map<int32_t, int64_t> labels;
};

constexpr char kCacheMagic[] = "lra-verified 1";

// The cache: "lra-verified 1", "manifest <sha256 of manifest.pb>", then one line per shard
// "<file> <size> <mtime_ns> <ctime_ns> <inode> <records> <label>:<count>,...". Entries are
// dropped when the manifest differs; a malformed file is ignored as a whole.
std::map<std::string, ShardSummary> ReadVerifyCache(const std::string& dir,
                                                    const std::string& manifest_sha) {
  std::map<std::string, ShardSummary> out;
  absl::StatusOr<std::string> text = ReadFile(absl::StrCat(dir, "/", kVerifyCacheFile));
  if (!text.ok()) return out;
  std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n', absl::SkipEmpty());
  if (lines.size() < 2 || lines[0] != kCacheMagic ||
      lines[1] != absl::StrCat("manifest ", manifest_sha)) {
    return out;
  }
  for (size_t i = 2; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], ' ');
    ShardSummary sum;
    if (f.size() != 7 || !absl::SimpleAtoi(f[1], &sum.stamp.size) ||
        !absl::SimpleAtoi(f[2], &sum.stamp.mtime_ns) ||
        !absl::SimpleAtoi(f[3], &sum.stamp.ctime_ns) || !absl::SimpleAtoi(f[4], &sum.stamp.inode) ||
        !absl::SimpleAtoi(f[5], &sum.records)) {
      return {};
    }
    if (f[6] != "-") {
      for (absl::string_view pair : absl::StrSplit(f[6], ',')) {
        std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, ':');
        int32_t label;
        int64_t count;
        if (!absl::SimpleAtoi(kv.first, &label) || !absl::SimpleAtoi(kv.second, &count)) return {};
        sum.labels[label] = count;
      }
    }
    out[std::string(f[0])] = std::move(sum);
  }
  return out;
}

std::string FormatVerifyCache(const std::string& manifest_sha,
                              const std::map<std::string, ShardSummary>& shards) {
  std::string out = absl::StrCat(kCacheMagic, "\nmanifest ", manifest_sha, "\n");
  for (const auto& [file, sum] : shards) {
    std::vector<std::string> labels;
    for (const auto& [label, count] : sum.labels) labels.push_back(absl::StrCat(label, ":", count));
    absl::StrAppend(&out, file, " ", sum.stamp.size, " ", sum.stamp.mtime_ns, " ",
                    sum.stamp.ctime_ns, " ", sum.stamp.inode, " ", sum.records, " ",
                    labels.empty() ? "-" : absl::StrJoin(labels, ","), "\n");
  }
  return out;
}

// Reads one shard fully: size and SHA-256 against the manifest, every record's CRCs, every
// record an Example that passes CheckExample, the record count.
absl::Status VerifyShard(const std::string& dir, const Manifest& m, const Shard& shard,
                         ShardSummary* sum) {
  const std::string path = dir + "/" + shard.file();
  if (!Stamp(path, &sum->stamp)) {
    return absl::NotFoundError(absl::StrCat("shard ", path, " listed in ", dir,
                                            "/manifest.pb is missing; ",
                                            RebuildAdvice(dir, m.task())));
  }
  if (sum->stamp.size != shard.num_bytes()) {
    return absl::DataLossError(absl::StrCat("shard ", path, " has ", sum->stamp.size,
                                            " bytes but the manifest says ", shard.num_bytes(),
                                            " (truncated or replaced); ",
                                            RebuildAdvice(dir, m.task())));
  }
  LRA_ASSIGN_OR_RETURN(std::string sha, Sha256FileHex(path));
  if (sha != shard.sha256()) {
    return absl::DataLossError(absl::StrCat("shard ", path, " has SHA-256 ", sha,
                                            " but the manifest says ", shard.sha256(),
                                            " (damaged or replaced); ",
                                            RebuildAdvice(dir, m.task())));
  }
  LRA_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> reader, RecordReader::Open(path));
  Example ex;
  absl::string_view payload;
  while (true) {
    const uint64_t offset = reader->offset();
    LRA_ASSIGN_OR_RETURN(bool more, reader->NextView(&payload));
    if (!more) break;
    const std::string where =
        absl::StrCat(path, " record ", sum->records, " (byte offset ", offset, ")");
    if (!ex.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      return absl::DataLossError(absl::StrCat(where, " is not a valid lra.datasets.Example"));
    }
    LRA_RETURN_IF_ERROR(CheckExample(m, ex, where));
    ++sum->labels[ex.label()];
    ++sum->records;
  }
  if (sum->records != shard.num_examples()) {
    return absl::DataLossError(absl::StrCat("shard ", path, " holds ", sum->records,
                                            " records but the manifest says ",
                                            shard.num_examples(), "; ",
                                            RebuildAdvice(dir, m.task())));
  }
  // The stamp again: a shard rewritten while it was read must not enter the cache.
  FileStamp after;
  if (!Stamp(path, &after) || !(after == sum->stamp)) {
    return absl::AbortedError(absl::StrCat("shard ", path, " changed while it was verified"));
  }
  return absl::OkStatus();
}

absl::Status Verify(const std::string& dir, bool use_cache, VerifyReport* report) {
  VerifyReport local;
  VerifyReport& rep = report != nullptr ? *report : local;
  rep = VerifyReport();
  LRA_ASSIGN_OR_RETURN(Manifest m, ReadManifest(dir));
  LRA_ASSIGN_OR_RETURN(std::string manifest_bytes, ReadFile(dir + "/" + kManifestPb));
  const std::string manifest_sha = Sha256Hex(manifest_bytes);
  std::map<std::string, ShardSummary> cached;
  if (use_cache) cached = ReadVerifyCache(dir, manifest_sha);
  std::map<std::string, ShardSummary> verified;
  for (const Split& split : m.splits()) {
    std::map<int32_t, int64_t> labels;
    for (const Shard& shard : split.shards()) {
      ++rep.shards;
      rep.bytes += shard.num_bytes();
      ShardSummary sum;
      auto it = cached.find(shard.file());
      if (it != cached.end() && Stamp(dir + "/" + shard.file(), &sum.stamp) &&
          sum.stamp == it->second.stamp && it->second.stamp.size == shard.num_bytes() &&
          it->second.records == shard.num_examples()) {
        sum = it->second;
      } else {
        sum = ShardSummary();
        LRA_RETURN_IF_ERROR(VerifyShard(dir, m, shard, &sum));
        ++rep.shards_hashed;
        rep.bytes_hashed += shard.num_bytes();
      }
      for (const auto& [label, count] : sum.labels) labels[label] += count;
      verified[shard.file()] = std::move(sum);
    }
    std::map<int32_t, int64_t> want;
    for (int i = 0; i < split.label_counts_size(); ++i) {
      if (split.label_counts(i) != 0) want[i] = split.label_counts(i);
    }
    if (labels != want) {
      auto format = [](const std::map<int32_t, int64_t>& counts) {
        std::vector<std::string> parts;
        for (const auto& [label, count] : counts) parts.push_back(absl::StrCat(label, ":", count));
        return absl::StrJoin(parts, ",");
      };
      return absl::DataLossError(absl::StrCat(
          "split ", split.name(), " of ", dir, ": label counts (label:count) [", format(labels),
          "] differ from the manifest's [", format(want), "]; ", RebuildAdvice(dir, m.task())));
    }
  }
  if (use_cache && rep.shards_hashed == 0 && cached.size() == verified.size()) {
    return absl::OkStatus();  // the cache already says all of this
  }
  absl::Status written = WriteFileAtomically(absl::StrCat(dir, "/", kVerifyCacheFile),
                                             FormatVerifyCache(manifest_sha, verified));
  if (!written.ok()) rep.cache_error = std::string(written.message());
  return absl::OkStatus();
}

}  // namespace

absl::Status VerifyDataset(const std::string& dir, VerifyReport* report) {
  return Verify(dir, /*use_cache=*/false, report);
}

absl::Status VerifyDatasetCached(const std::string& dir, VerifyReport* report) {
  return Verify(dir, /*use_cache=*/true, report);
}

// ----------------------------------------------------------------------------- DatasetReader

absl::StatusOr<std::unique_ptr<DatasetReader>> DatasetReader::Open(const std::string& dir,
                                                                   absl::string_view split,
                                                                   const ReaderOptions& options) {
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be >= 1, got ", options.batch_size));
  }
  if (options.shuffle && options.shuffle_buffer < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("shuffle_buffer must be >= 1 when shuffling, got ", options.shuffle_buffer));
  }
  if (options.parts < 1 || options.num_parts < 1 || options.first_part < 0 ||
      options.first_part + options.num_parts > options.parts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reader parts: need 0 <= first_part (", options.first_part, ") and first_part + num_parts (",
        options.num_parts, ") <= parts (", options.parts, ")"));
  }
  if (options.pad_to < 0 || options.epoch < 0) {
    return absl::InvalidArgumentError(absl::StrCat("pad_to (", options.pad_to, ") and epoch (",
                                                   options.epoch, ") must be >= 0"));
  }
  LRA_ASSIGN_OR_RETURN(Manifest m, ReadManifest(dir));
  int index = -1;
  std::vector<std::string> names;
  for (int i = 0; i < m.splits_size(); ++i) {
    names.push_back(m.splits(i).name());
    if (m.splits(i).name() == split) index = i;
  }
  if (index < 0) {
    return absl::NotFoundError(absl::StrCat("dataset ", dir, " has no split '", split,
                                            "'; it has: ", absl::StrJoin(names, ", ")));
  }
  return std::unique_ptr<DatasetReader>(new DatasetReader(dir, std::move(m), index, options));
}

DatasetReader::DatasetReader(std::string dir, Manifest manifest, int split_index,
                             ReaderOptions options)
    : dir_(std::move(dir)),
      manifest_(std::move(manifest)),
      split_index_(split_index),
      options_(options) {
  const int n = split().shards_size();
  for (int i = 0; i < n; ++i) shard_order_.push_back(i);
  if (options_.shuffle) {
    // One stream per (seed, epoch): mix each through SplitMix64 so nearby seeds and epochs give
    // unrelated streams.
    uint64_t a = options_.seed, b = static_cast<uint64_t>(options_.epoch) ^ 0x5EED5EED5EEDull;
    rng_state_ = SplitMix64(&a) ^ (SplitMix64(&b) * 0x2545F4914F6CDD1Dull);
    for (int i = n - 1; i > 0; --i) {  // Fisher-Yates
      std::swap(shard_order_[i], shard_order_[RandomBelow(static_cast<uint64_t>(i) + 1)]);
    }
    buffer_.reserve(std::min<int64_t>(options_.shuffle_buffer, split().num_examples()));
  }
  examples_.resize(options_.batch_size);
  raw_.resize(options_.batch_size);
  decoded_.resize(options_.batch_size);
}

uint64_t DatasetReader::RandomBelow(uint64_t n) {
  // Rejection sampling: uniform on [0, n) without modulo bias.
  const uint64_t threshold = (0 - n) % n;
  while (true) {
    const uint64_t r = SplitMix64(&rng_state_);
    if (r >= threshold) return r % n;
  }
}

absl::Status DatasetReader::Fail(absl::Status s) {
  if (status_.ok()) status_ = s;
  return status_;
}

absl::StatusOr<bool> DatasetReader::NextRecord(absl::string_view* payload, Position* position) {
  while (true) {
    if (reader_ == nullptr) {
      if (next_shard_ == shard_order_.size()) {
        if (records_total_ != split().num_examples()) {
          return absl::DataLossError(absl::StrCat(
              "split ", split().name(), " of ", dir_, " holds ", records_total_,
              " examples but its manifest says ", split().num_examples(),
              " (inconsistent manifest); ", RebuildAdvice(dir_, manifest_.task())));
        }
        return false;
      }
      current_shard_ = shard_order_[next_shard_++];
      const Shard& sh = split().shards(current_shard_);
      const std::string path = dir_ + "/" + sh.file();
      LRA_ASSIGN_OR_RETURN(reader_, RecordReader::Open(path));
      // A size check per shard is free and catches a file cut at a record boundary, which the
      // record framing alone cannot see.
      absl::StatusOr<int64_t> file_size = FileSize(path);
      const int64_t size = file_size.ok() ? *file_size : -1;
      if (size != sh.num_bytes()) {
        return absl::DataLossError(absl::StrCat(
            "shard ", path, " has ", size, " bytes but the manifest says ", sh.num_bytes(),
            " (truncated or replaced); ", RebuildAdvice(dir_, manifest_.task())));
      }
      records_in_shard_ = 0;
    }
    position->offset = reader_->offset();
    LRA_ASSIGN_OR_RETURN(bool more, reader_->NextView(payload));
    if (more) {
      position->index = records_in_shard_;
      position->shard = current_shard_;
      ++records_in_shard_;
      ++records_total_;
      return true;
    }
    const Shard& sh = split().shards(current_shard_);
    if (records_in_shard_ != sh.num_examples()) {
      return absl::DataLossError(absl::StrCat(
          "shard ", reader_->path(), " holds ", records_in_shard_, " records but the manifest says ",
          sh.num_examples(), "; ", RebuildAdvice(dir_, manifest_.task())));
    }
    reader_.reset();
  }
}

absl::Status DatasetReader::ParseExample(absl::string_view payload, const Position& position,
                                         Example* example) const {
  const std::string where =
      absl::StrCat(dir_, "/", split().shards(position.shard).file(), " record ", position.index,
                   " (byte offset ", position.offset, ")");
  if (!example->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrCat(where, " is not a valid lra.datasets.Example; ",
                                            RebuildAdvice(dir_, manifest_.task())));
  }
  absl::Status checked = CheckExample(manifest_, *example, where);
  if (!checked.ok()) {
    return absl::DataLossError(
        absl::StrCat(checked.message(), "; ", RebuildAdvice(dir_, manifest_.task())));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> DatasetReader::NextExample(Example* example, Pending* raw) {
  absl::string_view payload;
  Position position;
  if (!options_.shuffle) {
    LRA_ASSIGN_OR_RETURN(bool more, NextRecord(&payload, &position));
    if (!more) return false;
    if (raw != nullptr) {
      raw->payload.assign(payload.data(), payload.size());
      raw->position = position;
      return true;
    }
    LRA_RETURN_IF_ERROR(ParseExample(payload, position, example));
    return true;
  }
  // Fill the buffer, then emit a uniformly drawn element and refill its slot.
  while (!source_done_ && buffer_.size() < static_cast<size_t>(options_.shuffle_buffer)) {
    LRA_ASSIGN_OR_RETURN(bool more, NextRecord(&payload, &position));
    if (!more) {
      source_done_ = true;
      break;
    }
    buffer_.push_back(Pending{std::string(payload), position});
  }
  if (buffer_.empty()) return false;
  const size_t j = RandomBelow(buffer_.size());
  Pending& p = buffer_[j];
  if (raw != nullptr) {
    raw->payload = p.payload;
    raw->position = p.position;
  } else {
    LRA_RETURN_IF_ERROR(ParseExample(p.payload, p.position, example));
  }
  bool refilled = false;
  if (!source_done_) {
    LRA_ASSIGN_OR_RETURN(bool more, NextRecord(&payload, &position));
    if (more) {
      p.payload.assign(payload.data(), payload.size());
      p.position = position;
      refilled = true;
    } else {
      source_done_ = true;
    }
  }
  if (!refilled) {
    if (j + 1 != buffer_.size()) p = std::move(buffer_.back());
    buffer_.pop_back();
  }
  return true;
}

absl::StatusOr<int> DatasetReader::DrawBatch(int keep_begin, int keep_end) {
  if (!status_.ok()) return status_;
  if (done_) return 0;
  int count = 0;
  while (count < options_.batch_size) {
    const bool keep = count >= keep_begin && count < keep_end;
    absl::StatusOr<bool> more =
        NextExample(&examples_[count], keep ? nullptr : &raw_[count]);
    if (!more.ok()) return Fail(more.status());
    if (!*more) break;
    decoded_[count] = keep;
    ++count;
  }
  if (count < options_.batch_size) done_ = true;
  if (count == 0 || (done_ && options_.drop_remainder)) return 0;
  return count;
}

absl::StatusOr<bool> DatasetReader::Next(Batch* batch) {
  if (options_.parts != 1) {
    return Fail(absl::FailedPreconditionError("DatasetReader::Next with parts > 1; use NextParts"));
  }
  LRA_ASSIGN_OR_RETURN(const int count, DrawBatch(0, options_.batch_size));
  if (count == 0) return false;
  LRA_RETURN_IF_ERROR(Assemble(0, count, count, batch));
  return true;
}

int PartStart(int count, int parts, int p) {
  return p * (count / parts) + std::min(p, count % parts);
}

absl::StatusOr<bool> DatasetReader::NextParts(std::vector<Batch>* parts) {
  const int k = options_.parts, first = options_.first_part, n = options_.num_parts;
  // Decode our rows of a full batch while drawing; the epoch's shorter last batch splits
  // differently, and Assemble decodes what it then needs.
  const int full = options_.batch_size;
  LRA_ASSIGN_OR_RETURN(const int count,
                       DrawBatch(PartStart(full, k, first), PartStart(full, k, first + n)));
  if (count == 0) return false;
  parts->resize(n);
  for (int i = 0; i < n; ++i) {
    const int p = first + i;
    LRA_RETURN_IF_ERROR(
        Assemble(PartStart(count, k, p), PartStart(count, k, p + 1), count, &(*parts)[i]));
  }
  return true;
}

absl::Status DatasetReader::Assemble(int begin, int end, int drawn, Batch* batch) {
  const int count = end - begin;
  const bool pair = manifest_.pair();
  int len = 0, len2 = 0;
  for (int i = begin; i < end; ++i) {
    if (!decoded_[i]) {
      absl::Status parsed = ParseExample(raw_[i].payload, raw_[i].position, &examples_[i]);
      if (!parsed.ok()) return Fail(parsed);
      decoded_[i] = true;
    }
    const Example& ex = examples_[i];
    const int l = ex.tokens_size(), l2 = ex.tokens2_size();
    if (options_.pad_to > 0 && (l > options_.pad_to || (pair && l2 > options_.pad_to))) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "example '", ex.id(), "' in ", dir_, " (split ", split().name(), ") has ", l, "/", l2,
          " tokens, more than pad_to=", options_.pad_to, "; use pad_to >= max_length (",
          manifest_.max_length(), ") or 0 (the reader never truncates)")));
    }
    len = std::max(len, l);
    len2 = std::max(len2, l2);
  }
  if (options_.pad_to > 0) {
    len = options_.pad_to;
    len2 = pair ? options_.pad_to : 0;
  }
  if (!pair) len2 = 0;

  const int32_t pad = manifest_.vocab().pad_id();
  batch->batch_size = count;
  batch->global_batch_size = drawn;
  batch->length = len;
  batch->length2 = len2;
  batch->tokens.assign(static_cast<size_t>(count) * len, pad);
  batch->lengths.resize(count);
  batch->tokens2.assign(static_cast<size_t>(count) * len2, pad);
  batch->lengths2.resize(pair ? count : 0);
  batch->labels.resize(count);
  batch->ids.resize(count);
  // Tokens and labels were checked against the manifest when each record was parsed.
  for (int i = 0; i < count; ++i) {
    const Example& ex = examples_[begin + i];
    std::copy(ex.tokens().begin(), ex.tokens().end(),
              batch->tokens.begin() + static_cast<size_t>(i) * len);
    batch->lengths[i] = ex.tokens_size();
    if (pair) {
      std::copy(ex.tokens2().begin(), ex.tokens2().end(),
                batch->tokens2.begin() + static_cast<size_t>(i) * len2);
      batch->lengths2[i] = ex.tokens2_size();
    }
    batch->labels[i] = ex.label();
    batch->ids[i] = ex.id();
  }
  return absl::OkStatus();
}

}  // namespace datasets
}  // namespace lra

#include "datasets/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "datasets/sha256.h"
#include "google/protobuf/text_format.h"

namespace lra {
namespace datasets {
namespace {

constexpr char kManifestPb[] = "manifest.pb";
constexpr char kManifestTxt[] = "manifest.txt";

std::string Errno() { return std::strerror(errno); }

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

// mkdir -p for the parent folders of a dataset.
absl::Status MakeDirs(const std::string& path) {
  if (path.empty() || Exists(path)) return absl::OkStatus();
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    LRA_RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create folder ", path, ": ", Errno()));
  }
  return absl::OkStatus();
}

// Deletes a flat folder (the writer's temporary folder holds only files).
void RemoveFlatDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
  ::rmdir(dir.c_str());
}

absl::Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot open ", path, ": ", Errno()));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("fsync of ", path, ": ", Errno()));
  return absl::OkStatus();
}

// Writes `path` atomically: `path`.tmp, fsync, rename.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot create ", tmp, ": ", Errno()));
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      const std::string err = Errno();
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::UnavailableError(absl::StrCat("write to ", tmp, " failed: ", err));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return absl::UnavailableError(absl::StrCat("fsync/close of ", tmp, ": ", Errno()));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("rename ", tmp, " -> ", path, ": ", Errno()));
  }
  return absl::OkStatus();
}

bool ValidSplitName(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string Parent(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// SplitMix64 (Steele, Lea, Flood 2014): a full-period 64-bit generator with a strong output
// mix; fixed here rather than std:: distributions so shuffles match across standard libraries.
uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
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
  if (Exists(clean)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "dataset folder ", clean, " already exists; delete it (or pass --overwrite) to rebuild"));
  }
  LRA_RETURN_IF_ERROR(MakeDirs(Parent(clean)));
  const std::string tmp = absl::StrCat(clean, ".tmp.", ::getpid());
  // A folder of this name is a leftover of an earlier killed writer that had our pid.
  if (Exists(tmp)) RemoveFlatDir(tmp);
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
    RemoveFlatDir(tmp_dir_);
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
  if (absl::Status st = WriteFileAtomic(tmp_dir_ + "/" + kManifestTxt, text); !st.ok()) {
    return Fail(st);
  }
  if (absl::Status st = WriteFileAtomic(tmp_dir_ + "/" + kManifestPb, binary); !st.ok()) {
    return Fail(st);
  }
  if (absl::Status st = SyncPath(tmp_dir_); !st.ok()) return Fail(st);
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
  return SyncPath(Parent(dir_));
}

// ----------------------------------------------------------------------------- reading

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
  for (const Split& s : m.splits()) {
    for (const Shard& sh : s.shards()) {
      if (sh.file().empty() || sh.file().find('/') != std::string::npos) {
        return absl::DataLossError(absl::StrCat(path, ": split ", s.name(),
                                                " has an invalid shard file name '", sh.file(),
                                                "'"));
      }
    }
  }
  return m;
}

absl::Status VerifyDataset(const std::string& dir) {
  LRA_ASSIGN_OR_RETURN(Manifest m, ReadManifest(dir));
  Example ex;
  for (const Split& split : m.splits()) {
    int64_t total = 0;
    std::vector<int64_t> labels;
    for (const Shard& shard : split.shards()) {
      const std::string path = dir + "/" + shard.file();
      const int64_t size = FileSize(path);
      if (size < 0) {
        return absl::NotFoundError(absl::StrCat("shard ", path, " listed in ", dir,
                                                "/manifest.pb is missing; rebuild the dataset"));
      }
      if (size != shard.num_bytes()) {
        return absl::DataLossError(absl::StrCat("shard ", path, " has ", size,
                                                " bytes but the manifest says ", shard.num_bytes(),
                                                " (truncated or replaced); rebuild the dataset"));
      }
      LRA_ASSIGN_OR_RETURN(std::string sha, Sha256FileHex(path));
      if (sha != shard.sha256()) {
        return absl::DataLossError(absl::StrCat("shard ", path, " has SHA-256 ", sha,
                                                " but the manifest says ", shard.sha256(),
                                                " (damaged or replaced); rebuild the dataset"));
      }
      LRA_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> reader, RecordReader::Open(path));
      int64_t count = 0;
      absl::string_view payload;
      while (true) {
        const uint64_t offset = reader->offset();
        LRA_ASSIGN_OR_RETURN(bool more, reader->NextView(&payload));
        if (!more) break;
        if (!ex.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
          return absl::DataLossError(absl::StrCat("record at byte offset ", offset, " of ", path,
                                                  " is not a valid lra.datasets.Example"));
        }
        if (ex.label() < 0) {
          return absl::DataLossError(absl::StrCat("record at byte offset ", offset, " of ", path,
                                                  " has negative label ", ex.label()));
        }
        if (labels.size() <= static_cast<size_t>(ex.label())) labels.resize(ex.label() + 1, 0);
        ++labels[ex.label()];
        ++count;
      }
      if (count != shard.num_examples()) {
        return absl::DataLossError(absl::StrCat("shard ", path, " holds ", count,
                                                " records but the manifest says ",
                                                shard.num_examples(), "; rebuild the dataset"));
      }
      total += count;
    }
    if (total != split.num_examples()) {
      return absl::DataLossError(absl::StrCat("split ", split.name(), " of ", dir, " holds ",
                                              total, " examples but the manifest says ",
                                              split.num_examples()));
    }
    std::vector<int64_t> want(split.label_counts().begin(), split.label_counts().end());
    labels.resize(std::max(labels.size(), want.size()), 0);
    want.resize(labels.size(), 0);
    if (labels != want) {
      return absl::DataLossError(absl::StrCat("split ", split.name(), " of ", dir,
                                              ": label counts [", absl::StrJoin(labels, ","),
                                              "] differ from the manifest's [",
                                              absl::StrJoin(want, ","), "]"));
    }
  }
  return absl::OkStatus();
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

absl::StatusOr<bool> DatasetReader::NextRecord(absl::string_view* payload, int* shard,
                                               uint64_t* offset) {
  while (true) {
    if (reader_ == nullptr) {
      if (next_shard_ == shard_order_.size()) {
        if (records_total_ != split().num_examples()) {
          return absl::DataLossError(absl::StrCat(
              "split ", split().name(), " of ", dir_, " holds ", records_total_,
              " examples but its manifest says ", split().num_examples(),
              " (inconsistent manifest); rebuild the dataset"));
        }
        return false;
      }
      current_shard_ = shard_order_[next_shard_++];
      const Shard& sh = split().shards(current_shard_);
      const std::string path = dir_ + "/" + sh.file();
      LRA_ASSIGN_OR_RETURN(reader_, RecordReader::Open(path));
      // A size check per shard is free and catches a file cut at a record boundary, which the
      // record framing alone cannot see.
      const int64_t size = FileSize(path);
      if (size != sh.num_bytes()) {
        return absl::DataLossError(absl::StrCat(
            "shard ", path, " has ", size, " bytes but the manifest says ", sh.num_bytes(),
            " (truncated or replaced); run VerifyDataset and rebuild the dataset"));
      }
      records_in_shard_ = 0;
    }
    *offset = reader_->offset();
    LRA_ASSIGN_OR_RETURN(bool more, reader_->NextView(payload));
    if (more) {
      ++records_in_shard_;
      ++records_total_;
      *shard = current_shard_;
      return true;
    }
    const Shard& sh = split().shards(current_shard_);
    if (records_in_shard_ != sh.num_examples()) {
      return absl::DataLossError(absl::StrCat(
          "shard ", reader_->path(), " holds ", records_in_shard_, " records but the manifest says ",
          sh.num_examples(), "; run VerifyDataset and rebuild the dataset"));
    }
    reader_.reset();
  }
}

absl::Status DatasetReader::ParseExample(absl::string_view payload, int shard, uint64_t offset,
                                         Example* example) const {
  if (!example->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrCat("record at byte offset ", offset, " of ", dir_, "/",
                                            split().shards(shard).file(),
                                            " is not a valid lra.datasets.Example"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> DatasetReader::NextExample(Example* example) {
  absl::string_view payload;
  int shard = 0;
  uint64_t offset = 0;
  if (!options_.shuffle) {
    LRA_ASSIGN_OR_RETURN(bool more, NextRecord(&payload, &shard, &offset));
    if (!more) return false;
    LRA_RETURN_IF_ERROR(ParseExample(payload, shard, offset, example));
    return true;
  }
  // Fill the buffer, then emit a uniformly drawn element and refill its slot.
  while (!source_done_ && buffer_.size() < static_cast<size_t>(options_.shuffle_buffer)) {
    LRA_ASSIGN_OR_RETURN(bool more, NextRecord(&payload, &shard, &offset));
    if (!more) {
      source_done_ = true;
      break;
    }
    buffer_.push_back(Pending{std::string(payload), shard, offset});
  }
  if (buffer_.empty()) return false;
  const size_t j = RandomBelow(buffer_.size());
  Pending& p = buffer_[j];
  LRA_RETURN_IF_ERROR(ParseExample(p.payload, p.shard, p.offset, example));
  bool refilled = false;
  if (!source_done_) {
    LRA_ASSIGN_OR_RETURN(bool more, NextRecord(&payload, &shard, &offset));
    if (more) {
      p.payload.assign(payload.data(), payload.size());
      p.shard = shard;
      p.offset = offset;
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

absl::StatusOr<bool> DatasetReader::Next(Batch* batch) {
  if (!status_.ok()) return status_;
  if (done_) return false;
  int count = 0;
  while (count < options_.batch_size) {
    absl::StatusOr<bool> more = NextExample(&examples_[count]);
    if (!more.ok()) return Fail(more.status());
    if (!*more) break;
    ++count;
  }
  if (count < options_.batch_size) done_ = true;
  if (count == 0 || (done_ && options_.drop_remainder)) return false;

  const bool pair = manifest_.pair();
  const int vocab = manifest_.vocab().size();
  int len = 0, len2 = 0;
  for (int i = 0; i < count; ++i) {
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
  batch->length = len;
  batch->length2 = len2;
  batch->tokens.assign(static_cast<size_t>(count) * len, pad);
  batch->lengths.resize(count);
  batch->tokens2.assign(static_cast<size_t>(count) * len2, pad);
  batch->lengths2.resize(pair ? count : 0);
  batch->labels.resize(count);
  batch->ids.resize(count);
  auto copy = [&](const Example& ex, const google::protobuf::RepeatedField<int32_t>& seq,
                  int32_t* dst) -> absl::Status {
    for (int k = 0; k < seq.size(); ++k) {
      const int32_t t = seq.Get(k);
      if (t < 0 || (vocab > 0 && t >= vocab)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "example '", ex.id(), "' in ", dir_, " has token ", t, " outside [0, vocab.size=",
            vocab, "): the data does not match its manifest; rebuild the dataset"));
      }
      dst[k] = t;
    }
    return absl::OkStatus();
  };
  for (int i = 0; i < count; ++i) {
    const Example& ex = examples_[i];
    if (absl::Status s = copy(ex, ex.tokens(), batch->tokens.data() + static_cast<size_t>(i) * len);
        !s.ok()) {
      return Fail(s);
    }
    batch->lengths[i] = ex.tokens_size();
    if (pair) {
      if (absl::Status s =
              copy(ex, ex.tokens2(), batch->tokens2.data() + static_cast<size_t>(i) * len2);
          !s.ok()) {
        return Fail(s);
      }
      batch->lengths2[i] = ex.tokens2_size();
    }
    batch->labels[i] = ex.label();
    batch->ids[i] = ex.id();
  }
  return true;
}

}  // namespace datasets
}  // namespace lra

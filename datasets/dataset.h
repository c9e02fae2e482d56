// A dataset on disk: one folder with TFRecord shards of `Example`s per split and a manifest.
//
//   <dir>/manifest.pb                binary Manifest, written last
//   <dir>/manifest.txt               the same in text format, for people
//   <dir>/<split>-<5-digit index>.tfrecord
//
// DatasetWriter builds the folder under a temporary sibling name (<dir>.tmp.<pid>) and renames it
// to <dir> only when every shard and the manifest are on disk, so a crash or kill never leaves a
// <dir> that looks complete. DatasetReader streams one split in batches; every record's CRCs are
// checked, every shard's size and record count are checked against the manifest, and any damage
// is an error naming the file and byte offset (nothing is skipped), and every example is checked
// against the manifest (label, token ids, lengths) as it is read. VerifyDataset additionally
// checks every shard's SHA-256; VerifyDatasetCached does so only for shards that changed since
// their last verification (see kVerifyCacheFile).
#ifndef LRA_DATASETS_DATASET_H_
#define LRA_DATASETS_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "datasets/example.pb.h"
#include "datasets/record_io.h"

namespace lra {
namespace datasets {

// "<split>-<5-digit index>.tfrecord", e.g. ShardFileName("train", 3) == "train-00003.tfrecord".
std::string ShardFileName(absl::string_view split, int index);

struct DatasetWriterOptions {
  int64_t examples_per_shard = 20000;
};

class DatasetWriter {
 public:
  // `header` carries task, vocab, max_length, num_classes, pair, provenance, encoding,
  // preprocessing_version; `splits` is filled by Finish() (any given are ignored). Fails with
  // AlreadyExists if `dir` exists (the caller decides about --overwrite). Missing parent folders
  // are created.
  static absl::StatusOr<std::unique_ptr<DatasetWriter>> Create(
      const std::string& dir, const Manifest& header, const DatasetWriterOptions& options = {});
  // Without a successful Finish() the temporary folder is deleted and `dir` never appears.
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  // Appends `example` to `split` (a new split starts at its first Add; splits keep that order in
  // the manifest). Rejects, with InvalidArgument naming the example id, a label outside
  // [0, num_classes), a token outside [0, vocab.size), more than max_length tokens, or tokens2
  // in a dataset that is not `pair` (each check applies when the header field is > 0 / false).
  absl::Status Add(absl::string_view split, const Example& example);
  // Closes the shards, records sha256 + sizes + counts + label_counts in the manifest, writes
  // manifest.txt then manifest.pb, and renames the folder to `dir`.
  absl::Status Finish();

  const std::string& temp_dir() const { return tmp_dir_; }

 private:
  struct SplitState {
    Split proto;
    std::unique_ptr<RecordWriter> writer;
    int64_t in_shard = 0;
  };
  DatasetWriter(std::string dir, std::string tmp_dir, Manifest header,
                DatasetWriterOptions options);
  absl::Status CloseShard(SplitState* s);
  absl::Status Fail(absl::Status s);

  std::string dir_;
  std::string tmp_dir_;
  Manifest manifest_;
  DatasetWriterOptions options_;
  std::vector<SplitState> splits_;
  std::string scratch_;
  absl::Status status_;
  bool finished_ = false;
};

// Reads <dir>/manifest.pb. NotFound (with advice) when there is no complete dataset at `dir`;
// DataLoss naming the file and the field when it does not parse or contradicts itself: a pad or
// eos id outside the vocabulary, a negative size or count, a bad or repeated split name, a shard
// name that is not a plain file name inside `dir` (e.g. ".." or "a/b"), a SHA-256 that is not 64
// hex digits, shard or label counts that do not add up to the split's.
absl::StatusOr<Manifest> ReadManifest(const std::string& dir);

// Checks one example against its manifest: label in [0, num_classes), every token id in
// [0, vocab.size), at most max_length tokens per sequence, tokens2 only in pair datasets (each
// bound applies when the manifest field is > 0; labels and ids must be >= 0 always).
// DataLossError that begins with `where` (file, record index, byte offset) and names the value.
absl::Status CheckExample(const Manifest& manifest, const Example& example,
                          absl::string_view where);

// The verification cache in a dataset folder: one line per shard that passed VerifyDataset's
// checks, keyed by the shard's size, mtime, ctime and inode and by the SHA-256 of manifest.pb.
// Written atomically; safe to delete (everything is then verified again).
inline constexpr char kVerifyCacheFile[] = "verified.txt";

struct VerifyReport {
  int shards = 0;              // shards in the manifest
  int shards_hashed = 0;       // verified in this call (not taken from the cache)
  int64_t bytes_hashed = 0;
  int64_t bytes = 0;           // all shards
  std::string cache_error;     // why the cache could not be written (read-only folder), or ""
};

// Checks every shard of every split: present, size and SHA-256 as in the manifest, every record's
// CRCs, record count, each record parses as an Example that passes CheckExample, and the split's
// counts and label_counts. On success it (re)writes kVerifyCacheFile; a folder that cannot be
// written is not an error (report->cache_error says why).
absl::Status VerifyDataset(const std::string& dir, VerifyReport* report = nullptr);

// The same checks, but a shard whose cache entry matches its current size, mtime, ctime and inode
// (and the same manifest.pb) is taken as verified without reading it, so a second call costs one
// stat() per shard. A shard that changed in any way is read and hashed again. Bit rot that
// changes none of these goes unnoticed here; `lra verify` (VerifyDataset) reads everything.
absl::Status VerifyDatasetCached(const std::string& dir, VerifyReport* report = nullptr);

struct Batch {  // B = batch size, L = padded length of this batch
  int batch_size = 0, length = 0, length2 = 0;
  std::vector<int32_t> tokens;   // [B, L] row-major, padded with vocab.pad_id
  std::vector<int32_t> lengths;  // [B] unpadded (after truncation) lengths
  std::vector<int32_t> tokens2;  // [B, L2] for pair tasks, else empty
  std::vector<int32_t> lengths2;
  std::vector<int32_t> labels;  // [B]
  std::vector<std::string> ids;  // [B]
  // Rows drawn for the whole batch this one is a part of (ReaderOptions::parts); B when whole.
  int global_batch_size = 0;
};

struct ReaderOptions {
  int batch_size = 32;
  bool shuffle = false;
  int shuffle_buffer = 10000;
  uint64_t seed = 0;
  int epoch = 0;
  bool drop_remainder = false;
  int pad_to = 0;  // 0: pad to the longest in the batch; >0: pad every batch to this length
  // Data-parallel reading (NextParts): each batch of up to batch_size drawn examples is split into
  // `parts` contiguous row ranges, the first (count % parts) one row longer, and this reader
  // returns parts [first_part, first_part + num_parts), each padded on its own. It decodes only
  // the examples of those parts; the draw itself does not depend on these options, so every rank
  // of a run sees the same sequence of whole batches.
  int parts = 1;
  int first_part = 0;
  int num_parts = 1;
};

// Row range [PartStart(count, parts, p), PartStart(count, parts, p + 1)) of part p when a batch
// of `count` rows is split into `parts` (ReaderOptions::parts).
int PartStart(int count, int parts, int p);

// Streams one split. Unshuffled: the shards in manifest order, records in file order. Shuffled:
// the shard order is permuted and records pass through a buffer of `shuffle_buffer` examples
// from which each output is drawn uniformly; both depend only on (seed, epoch), so a run is
// reproducible and each epoch differs. The last batch is smaller than batch_size unless
// drop_remainder. An example longer than pad_to (when pad_to > 0) is an InvalidArgument error,
// never silently cut: examples are stored already truncated to the manifest's max_length.
class DatasetReader {
 public:
  static absl::StatusOr<std::unique_ptr<DatasetReader>> Open(const std::string& dir,
                                                             absl::string_view split,
                                                             const ReaderOptions& options);
  // Fills `batch`; false when the epoch is done. Errors are sticky. Only with parts == 1.
  absl::StatusOr<bool> Next(Batch* batch);
  // Fills (*parts)[i] with part first_part + i of the next batch, for i < num_parts; a part can
  // have no rows (batch_size 0) when the epoch's last batch is shorter than `parts`. False when
  // the epoch is done.
  absl::StatusOr<bool> NextParts(std::vector<Batch>* parts);
  const Manifest& manifest() const { return manifest_; }
  // The split being read (its shards and counts).
  const Split& split() const { return manifest_.splits(split_index_); }

 private:
  // Where a record is: its shard, byte offset and index within the shard.
  struct Position {
    int shard = 0;
    uint64_t offset = 0;
    int64_t index = 0;
  };
  struct Pending {
    std::string payload;
    Position position;
  };
  DatasetReader(std::string dir, Manifest manifest, int split_index, ReaderOptions options);
  // Next record from the shards, in shard order; checks each shard's size and count.
  absl::StatusOr<bool> NextRecord(absl::string_view* payload, Position* position);
  // Next example in draw order: parsed into *example, or with `raw` its undecoded record is
  // copied there instead.
  absl::StatusOr<bool> NextExample(Example* example, Pending* raw = nullptr);
  // Draws the next batch into examples_, decoding rows in [keep_begin, keep_end) and keeping the
  // others' records undecoded in raw_ (Assemble decodes them if asked to); returns how many were
  // drawn (0 at the end of the epoch).
  absl::StatusOr<int> DrawBatch(int keep_begin, int keep_end);
  // Rows [begin, end) of examples_ as one padded batch.
  absl::Status Assemble(int begin, int end, int drawn, Batch* batch);
  // Parses and checks (CheckExample) one record.
  absl::Status ParseExample(absl::string_view payload, const Position& position,
                            Example* example) const;
  uint64_t RandomBelow(uint64_t n);
  absl::Status Fail(absl::Status s);

  std::string dir_;
  Manifest manifest_;
  int split_index_;
  ReaderOptions options_;
  std::vector<int> shard_order_;
  size_t next_shard_ = 0;  // index into shard_order_ of the shard to open next
  int current_shard_ = -1;
  std::unique_ptr<RecordReader> reader_;
  int64_t records_in_shard_ = 0;
  int64_t records_total_ = 0;
  bool source_done_ = false;
  uint64_t rng_state_ = 0;
  std::vector<Pending> buffer_;
  std::vector<Example> examples_;
  std::vector<Pending> raw_;         // per row of the batch being drawn: its record, if undecoded
  std::vector<char> decoded_;        // per row: examples_[row] holds it
  absl::Status status_;
  bool done_ = false;
};

}  // namespace datasets
}  // namespace lra

#endif  // LRA_DATASETS_DATASET_H_

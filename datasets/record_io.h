// TFRecord framing: the one on-disk record format of lra, readable by TensorFlow's
// tf.data.TFRecordDataset and by the reader below (which also reads TFRecord files written by
// TensorFlow, e.g. a TensorFlow Datasets cache). Each record is
//
//   uint64  length             little-endian
//   uint32  masked_crc(length) CRC32C of the 8 length bytes, masked (core/base/crc32c.h MaskCrc)
//   byte    data[length]
//   uint32  masked_crc(data)
//
// so a record costs 16 bytes of framing. Both CRCs are always verified; there is no "skip bad
// records" mode.
#ifndef LRA_DATASETS_RECORD_IO_H_
#define LRA_DATASETS_RECORD_IO_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra {

class AtomicFile;  // core/base/file_util.h

namespace datasets {

inline constexpr size_t kRecordHeaderBytes = 12;  // length + its CRC
inline constexpr size_t kRecordFooterBytes = 4;   // data CRC

// Appends `payload` framed as one TFRecord to `out` (for tests and in-memory producers).
void AppendRecord(absl::string_view payload, std::string* out);

// Writes through an AtomicFile (core/base/file_util.h): `<path>.tmp.<pid>`, fsynced and renamed
// to `path` in Close(), so `path` either does not exist or holds every record written.
// Destroying a writer without Close() deletes the temporary file.
class RecordWriter {
 public:
  static absl::StatusOr<std::unique_ptr<RecordWriter>> Open(const std::string& path);
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  absl::Status Write(absl::string_view payload);
  absl::Status Close();

  // Bytes written so far (framing included); the final file size after Close().
  uint64_t bytes_written() const { return bytes_written_; }
  uint64_t records_written() const { return records_written_; }

 private:
  explicit RecordWriter(std::unique_ptr<AtomicFile> file);
  absl::Status Flush();
  absl::Status Fail(absl::Status s);

  std::unique_ptr<AtomicFile> file_;
  std::string buf_;
  uint64_t bytes_written_ = 0;
  uint64_t records_written_ = 0;
  absl::Status status_;  // sticky: once a write fails, every later call returns it
  bool closed_ = false;
};

// Streams the records of one file. A record that is cut short or whose length or data CRC does
// not match is an absl::DataLossError naming the file and the byte offset of the record; after an
// error every later Next() returns the same error (the reader never resynchronizes past damage).
class RecordReader {
 public:
  static absl::StatusOr<std::unique_ptr<RecordReader>> Open(const std::string& path);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // Reads the next record into `payload`. Returns false at a clean end of file (the end falls
  // exactly after a record).
  absl::StatusOr<bool> Next(std::string* payload);
  // As Next(), without the copy: `payload` points into the reader's buffer and stays valid until
  // the next call.
  absl::StatusOr<bool> NextView(absl::string_view* payload);

  // Byte offset of the next record, i.e. just past the last one returned.
  uint64_t offset() const { return offset_; }
  const std::string& path() const { return path_; }

 private:
  RecordReader(std::string path, int fd, int64_t file_size);
  // Makes at least `n` unread bytes available if the file has them; returns how many are.
  absl::StatusOr<uint64_t> Fill(uint64_t n);
  absl::Status Fail(absl::Status s);

  std::string path_;
  int fd_;
  int64_t file_size_;  // -1 when not a regular file
  std::unique_ptr<char[]> buf_;
  uint64_t cap_ = 0;
  uint64_t begin_ = 0;  // first unread byte in buf_
  uint64_t end_ = 0;    // one past the last valid byte in buf_
  uint64_t offset_ = 0;  // file offset of buf_[begin_]
  bool eof_ = false;
  absl::Status status_;
};

}  // namespace datasets
}  // namespace lra

#endif  // LRA_DATASETS_RECORD_IO_H_

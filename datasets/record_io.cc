#include "datasets/record_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/crc32c.h"
#include "core/base/file_util.h"

namespace lra {
namespace datasets {
namespace {

// Write buffer: large enough that small records cost one write(2) per megabyte.
constexpr size_t kWriteBuffer = size_t{1} << 20;
// First read buffer size. Reads of 1 MiB amortize the syscall; the buffer grows (doubling) only
// when a single record is larger.
constexpr uint64_t kReadBuffer = uint64_t{1} << 20;

inline void PutLe32(uint32_t v, char* p) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void PutLe64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint32_t GetLe32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t GetLe64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string Errno(int err) { return std::strerror(err); }

}  // namespace

void AppendRecord(absl::string_view payload, std::string* out) {
  char header[kRecordHeaderBytes];
  PutLe64(payload.size(), header);
  PutLe32(MaskCrc(Crc32c(header, 8)), header + 8);
  char footer[kRecordFooterBytes];
  PutLe32(MaskCrc(Crc32c(payload.data(), payload.size())), footer);
  out->append(header, sizeof(header));
  out->append(payload.data(), payload.size());
  out->append(footer, sizeof(footer));
}

// ----------------------------------------------------------------------------- RecordWriter

absl::StatusOr<std::unique_ptr<RecordWriter>> RecordWriter::Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Open(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<RecordWriter>(new RecordWriter(*std::move(file)));
}

RecordWriter::RecordWriter(std::unique_ptr<AtomicFile> file) : file_(std::move(file)) {
  buf_.reserve(kWriteBuffer + 64);
}

// Without Close(), file_'s destructor deletes the temporary file.
RecordWriter::~RecordWriter() = default;

absl::Status RecordWriter::Fail(absl::Status s) {
  if (status_.ok()) status_ = s;
  return status_;
}

absl::Status RecordWriter::Flush() {
  absl::Status s = file_->Write(buf_);
  buf_.clear();
  return s.ok() ? s : Fail(s);
}

absl::Status RecordWriter::Write(absl::string_view payload) {
  if (!status_.ok()) return status_;
  if (closed_) {
    return absl::FailedPreconditionError(absl::StrCat(file_->path(), ": Write after Close"));
  }
  if (payload.size() >= kWriteBuffer) {
    // Large payloads go straight to the file rather than through the buffer.
    char header[kRecordHeaderBytes];
    PutLe64(payload.size(), header);
    PutLe32(MaskCrc(Crc32c(header, 8)), header + 8);
    char footer[kRecordFooterBytes];
    PutLe32(MaskCrc(Crc32c(payload.data(), payload.size())), footer);
    buf_.append(header, sizeof(header));
    if (absl::Status s = Flush(); !s.ok()) return s;
    if (absl::Status s = file_->Write(payload); !s.ok()) return Fail(s);
    buf_.append(footer, sizeof(footer));
  } else {
    AppendRecord(payload, &buf_);
    if (buf_.size() >= kWriteBuffer) {
      if (absl::Status s = Flush(); !s.ok()) return s;
    }
  }
  bytes_written_ += kRecordHeaderBytes + payload.size() + kRecordFooterBytes;
  ++records_written_;
  return absl::OkStatus();
}

absl::Status RecordWriter::Close() {
  if (!status_.ok()) return status_;
  if (closed_) return absl::OkStatus();
  if (absl::Status s = Flush(); !s.ok()) return s;
  // fsync, then rename (AtomicFile::Commit): a power loss never leaves `path` present but empty.
  if (absl::Status s = file_->Commit(); !s.ok()) return Fail(s);
  closed_ = true;
  return absl::OkStatus();
}

// ----------------------------------------------------------------------------- RecordReader

absl::StatusOr<std::unique_ptr<RecordReader>> RecordReader::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = absl::StrCat("cannot open record file ", path, ": ", Errno(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::PermissionDeniedError(msg);
  }
  struct stat st;
  int64_t size = -1;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) size = st.st_size;
  return std::unique_ptr<RecordReader>(new RecordReader(path, fd, size));
}

RecordReader::RecordReader(std::string path, int fd, int64_t file_size)
    : path_(std::move(path)), fd_(fd), file_size_(file_size) {
  // Small files (most fuzz inputs, tiny shards) get a buffer of their own size.
  cap_ = file_size_ >= 0 && static_cast<uint64_t>(file_size_) < kReadBuffer
             ? static_cast<uint64_t>(file_size_) + 1
             : kReadBuffer;
  buf_.reset(new char[cap_]);
}

RecordReader::~RecordReader() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status RecordReader::Fail(absl::Status s) {
  status_ = s;
  return s;
}

absl::StatusOr<uint64_t> RecordReader::Fill(uint64_t n) {
  while (end_ - begin_ < n && !eof_) {
    if (end_ == cap_) {
      if (begin_ > 0) {
        std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      } else {
        // The buffer is full of unread bytes and still short of `n`: double it. Memory stays
        // within twice the bytes actually present, whatever length a corrupt header claims.
        const uint64_t new_cap = std::min<uint64_t>(n, cap_ * 2);
        std::unique_ptr<char[]> bigger(new char[new_cap]);
        std::memcpy(bigger.get(), buf_.get(), end_);
        buf_ = std::move(bigger);
        cap_ = new_cap;
      }
    }
    const ssize_t got = ::read(fd_, buf_.get() + end_, cap_ - end_);
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(absl::StrCat("read error in ", path_, " near byte offset ",
                                              offset_ + (end_ - begin_), ": ", Errno(errno)));
    }
    if (got == 0) eof_ = true;
    end_ += static_cast<uint64_t>(got);
  }
  return std::min<uint64_t>(end_ - begin_, n);
}

absl::StatusOr<bool> RecordReader::NextView(absl::string_view* payload) {
  if (!status_.ok()) return status_;
  const uint64_t start = offset_;
  absl::StatusOr<uint64_t> avail = Fill(kRecordHeaderBytes);
  if (!avail.ok()) return Fail(avail.status());
  if (*avail == 0) return false;
  if (*avail < kRecordHeaderBytes) {
    return Fail(absl::DataLossError(absl::StrCat(
        "truncated record in ", path_, " at byte offset ", start, ": the file ends ", *avail,
        " bytes into a ", kRecordHeaderBytes,
        "-byte record header (the file was cut short; regenerate it)")));
  }
  const char* h = buf_.get() + begin_;
  const uint64_t length = GetLe64(h);
  if (MaskCrc(Crc32c(h, 8)) != GetLe32(h + 8)) {
    return Fail(absl::DataLossError(absl::StrCat(
        "corrupted record in ", path_, " at byte offset ", start,
        ": the length field fails its CRC32C (the file is damaged; regenerate it)")));
  }
  constexpr uint64_t kFraming = kRecordHeaderBytes + kRecordFooterBytes;
  // A regular file's size bounds the length up front, so a damaged length whose CRC happens to
  // match still cannot make the reader allocate more than the file holds.
  const uint64_t left = file_size_ >= 0 && static_cast<uint64_t>(file_size_) >= start
                            ? static_cast<uint64_t>(file_size_) - start
                            : UINT64_MAX;
  if (length > UINT64_MAX - kFraming || length + kFraming > left) {
    return Fail(absl::DataLossError(absl::StrCat(
        "truncated record in ", path_, " at byte offset ", start, ": the header announces ",
        length, " payload bytes but the file has only ", file_size_, " bytes (cut short)")));
  }
  const uint64_t total = kFraming + length;
  avail = Fill(total);
  if (!avail.ok()) return Fail(avail.status());
  if (*avail < total) {
    return Fail(absl::DataLossError(absl::StrCat(
        "truncated record in ", path_, " at byte offset ", start, ": the header announces ",
        length, " payload bytes (plus a 4-byte CRC) but only ", *avail - kRecordHeaderBytes,
        " bytes follow the header (cut short; regenerate it)")));
  }
  const char* data = buf_.get() + begin_ + kRecordHeaderBytes;
  if (MaskCrc(Crc32c(data, length)) != GetLe32(data + length)) {
    return Fail(absl::DataLossError(absl::StrCat(
        "corrupted record in ", path_, " at byte offset ", start, ": the ", length,
        "-byte payload fails its CRC32C (the file is damaged; regenerate it)")));
  }
  *payload = absl::string_view(data, length);
  begin_ += total;
  offset_ += total;
  return true;
}

absl::StatusOr<bool> RecordReader::Next(std::string* payload) {
  absl::string_view view;
  absl::StatusOr<bool> more = NextView(&view);
  if (more.ok() && *more) payload->assign(view.data(), view.size());
  return more;
}

}  // namespace datasets
}  // namespace lra

#include "datasets/record_io.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/base/crc32c.h"
#include "gtest/gtest.h"

namespace lra {
namespace datasets {
namespace {

std::string TmpPath(const std::string& name) {
  return std::string(getenv("TEST_TMPDIR")) + "/" + name;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  fclose(f);
}

// AtomicFile's temporary name (core/base/file_util.h).
std::string TempPath(const std::string& path) {
  return path + ".tmp." + std::to_string(getpid());
}

std::string ReadFile(const std::string& path) {
  std::string out;
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

struct ReadResult {
  std::vector<std::string> records;
  absl::Status status;  // OK means a clean end of file
};

ReadResult ReadAll(const std::string& path) {
  ReadResult r;
  auto reader = RecordReader::Open(path);
  if (!reader.ok()) {
    r.status = reader.status();
    return r;
  }
  std::string payload;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&payload);
    if (!more.ok()) {
      r.status = more.status();
      // Sticky: the reader never resynchronizes past damage.
      absl::StatusOr<bool> again = (*reader)->Next(&payload);
      EXPECT_FALSE(again.ok());
      return r;
    }
    if (!*more) return r;
    r.records.push_back(payload);
  }
}

TEST(RecordIo, RoundTripIncludingEmptyAndLargeRecords) {
  std::vector<std::string> records = {"", "a", "hello world", std::string(70000, 'x'),
                                      std::string(3 << 20, 'y')};  // > the 1 MiB buffers
  records[3][123] = '\0';
  records[4][(3 << 20) - 1] = 'z';
  const std::string path = TmpPath("round_trip.tfrecord");
  auto writer = RecordWriter::Open(path);
  ASSERT_TRUE(writer.ok()) << writer.status();
  uint64_t expected_bytes = 0;
  for (const auto& r : records) {
    ASSERT_TRUE((*writer)->Write(r).ok());
    expected_bytes += 16 + r.size();
  }
  // Nothing under the final name until Close().
  EXPECT_EQ(fopen(path.c_str(), "rb"), nullptr);
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_EQ((*writer)->bytes_written(), expected_bytes);
  EXPECT_EQ((*writer)->records_written(), records.size());
  const std::string bytes = ReadFile(path);
  EXPECT_EQ(bytes.size(), expected_bytes);
  EXPECT_EQ(ReadFile(TempPath(path)), "");  // the temporary is gone

  // The file is exactly the AppendRecord framing (the same bytes TensorFlow writes).
  std::string framed;
  for (const auto& r : records) AppendRecord(r, &framed);
  EXPECT_TRUE(bytes == framed);

  ReadResult got = ReadAll(path);
  ASSERT_TRUE(got.status.ok()) << got.status;
  ASSERT_EQ(got.records.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) EXPECT_TRUE(got.records[i] == records[i]) << i;
}

// Framing written by hand, byte by byte, from the TFRecord definition: an 8-byte little-endian
// length, its masked CRC, the data, the data's masked CRC. Checks the writer against the spec
// rather than against itself.
TEST(RecordIo, FramingMatchesTfRecordLayout) {
  std::string framed;
  AppendRecord("123456789", &framed);
  ASSERT_EQ(framed.size(), 9u + 16u);
  EXPECT_EQ(framed.substr(0, 8), std::string("\x09\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(framed.substr(12, 9), "123456789");
  // Masked CRC32C("123456789") = rotr(0xE3069283, 15) + 0xa282ead8.
  const uint32_t crc = 0xE3069283u;
  const uint32_t masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
  std::string want(4, '\0');
  for (int i = 0; i < 4; ++i) want[i] = static_cast<char>(masked >> (8 * i));
  EXPECT_EQ(framed.substr(21, 4), want);
}

TEST(RecordIo, MissingFileIsNotFoundAndNamesIt) {
  auto r = RecordReader::Open(TmpPath("does_not_exist.tfrecord"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("does_not_exist.tfrecord"), std::string::npos);
}

TEST(RecordIo, WriterWithoutCloseLeavesNothing) {
  const std::string path = TmpPath("abandoned.tfrecord");
  {
    auto writer = RecordWriter::Open(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write("data").ok());
  }
  EXPECT_EQ(fopen(path.c_str(), "rb"), nullptr);
  EXPECT_EQ(fopen(TempPath(path).c_str(), "rb"), nullptr);
}

// A small shard of a few records, used by the damage tests below.
std::vector<std::string> SmallRecords() { return {"alpha", "", "a somewhat longer record", "z"}; }

std::string SmallFile(std::vector<uint64_t>* boundaries) {
  std::string bytes;
  boundaries->assign(1, 0);
  for (const auto& r : SmallRecords()) {
    AppendRecord(r, &bytes);
    boundaries->push_back(bytes.size());
  }
  return bytes;
}

// Every single-byte change of the file (all 8 single-bit flips and the full-byte inversion at
// every position) is reported: the reader returns the undamaged records before it, in order,
// then a DataLossError naming the file and the byte offset of the damaged record. It never
// returns a wrong record and never reaches a clean end of file.
TEST(RecordIo, EverySingleByteFlipIsDetected) {
  std::vector<uint64_t> boundaries;
  const std::string good = SmallFile(&boundaries);
  const std::vector<std::string> want = SmallRecords();
  const std::string path = TmpPath("flip.tfrecord");
  int cases = 0;
  for (size_t pos = 0; pos < good.size(); ++pos) {
    // Index of the record holding byte `pos`.
    size_t rec = 0;
    while (boundaries[rec + 1] <= pos) ++rec;
    for (int mask : {1, 2, 4, 8, 16, 32, 64, 128, 255}) {
      std::string bad = good;
      bad[pos] = static_cast<char>(bad[pos] ^ mask);
      WriteFile(path, bad);
      ReadResult got = ReadAll(path);
      ++cases;
      ASSERT_EQ(got.status.code(), absl::StatusCode::kDataLoss)
          << "flip " << mask << " at " << pos << " not detected: " << got.status;
      ASSERT_EQ(got.records.size(), rec) << "pos " << pos;
      for (size_t i = 0; i < rec; ++i) ASSERT_EQ(got.records[i], want[i]);
      const std::string msg(got.status.message());
      ASSERT_NE(msg.find(path), std::string::npos) << msg;
      ASSERT_NE(msg.find("byte offset " + std::to_string(boundaries[rec])), std::string::npos)
          << msg;
    }
  }
  EXPECT_EQ(cases, 9 * static_cast<int>(good.size()));
}

// Every truncation: inside a record it is a DataLossError naming the offset of the cut record;
// exactly at a record boundary the file is a valid shorter file (only a manifest count can tell,
// see dataset_test), and the reader returns exactly the records before the cut.
TEST(RecordIo, EveryTruncationIsDetectedOrIsARecordBoundary) {
  std::vector<uint64_t> boundaries;
  const std::string good = SmallFile(&boundaries);
  const std::vector<std::string> want = SmallRecords();
  const std::string path = TmpPath("trunc.tfrecord");
  for (size_t len = 0; len < good.size(); ++len) {
    WriteFile(path, good.substr(0, len));
    ReadResult got = ReadAll(path);
    size_t complete = 0;
    while (boundaries[complete + 1] <= len) ++complete;
    ASSERT_EQ(got.records.size(), complete) << "len " << len;
    for (size_t i = 0; i < complete; ++i) ASSERT_EQ(got.records[i], want[i]);
    if (boundaries[complete] == len) {
      ASSERT_TRUE(got.status.ok()) << "len " << len << ": " << got.status;
    } else {
      ASSERT_EQ(got.status.code(), absl::StatusCode::kDataLoss) << "len " << len;
      const std::string msg(got.status.message());
      ASSERT_NE(msg.find("truncated"), std::string::npos) << msg;
      ASSERT_NE(msg.find(path), std::string::npos) << msg;
      ASSERT_NE(msg.find("byte offset " + std::to_string(boundaries[complete])),
                std::string::npos)
          << msg;
    }
  }
}

// A length field with a valid CRC that claims far more than the file holds is reported as
// truncation, without trying to allocate the claimed size.
TEST(RecordIo, HugeLengthWithValidCrcIsTruncationNotAllocation) {
  std::string bytes;
  AppendRecord("ok", &bytes);
  const uint64_t first_end = bytes.size();
  std::string header(8, '\0');
  const uint64_t len = uint64_t{1} << 62;
  for (int i = 0; i < 8; ++i) header[i] = static_cast<char>(len >> (8 * i));
  const uint32_t masked = MaskCrc(Crc32c(header.data(), 8));
  for (int i = 0; i < 4; ++i) header.push_back(static_cast<char>(masked >> (8 * i)));
  bytes += header + "some bytes";
  const std::string path = TmpPath("huge.tfrecord");
  WriteFile(path, bytes);
  ReadResult got = ReadAll(path);
  ASSERT_EQ(got.records.size(), 1u);
  EXPECT_EQ(got.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(got.status.message().find("byte offset " + std::to_string(first_end)),
            std::string::npos)
      << got.status;
}

}  // namespace
}  // namespace datasets
}  // namespace lra

// libFuzzer target for RecordReader: any byte string, read as a TFRecord file, must either give
// back records that re-frame to exactly those bytes (a clean end of file), or give back records
// that re-frame to a prefix of the bytes followed by a DataLossError naming the file and the
// offset where that prefix ends. Anything else (a wrong record, a silent skip, a crash, a huge
// allocation) traps.
//
// Built and run by record_fuzzer_test.sh (the :record_fuzzer test) with clang
// -fsanitize=fuzzer,address. With LRA_FUZZ_WRITE_SEEDS=<dir> set, it writes a seed corpus of
// valid and damaged files to <dir> and exits.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "datasets/record_io.h"

namespace {

using lra::datasets::AppendRecord;
using lra::datasets::RecordReader;

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "record_fuzzer: property violated: %s\n", what);
    __builtin_trap();
  }
}

void WriteSeed(const std::string& dir, const std::string& name, const std::string& bytes) {
  FILE* f = fopen((dir + "/" + name).c_str(), "wb");
  if (f == nullptr) exit(1);
  fwrite(bytes.data(), 1, bytes.size(), f);
  fclose(f);
}

void WriteSeeds(const std::string& dir) {
  std::string three;
  AppendRecord("abc", &three);
  AppendRecord("", &three);
  AppendRecord(std::string(300, 'q'), &three);
  WriteSeed(dir, "empty", "");
  WriteSeed(dir, "three", three);
  WriteSeed(dir, "truncated", three.substr(0, three.size() - 7));
  std::string flipped = three;
  flipped[20] ^= 1;
  WriteSeed(dir, "flipped", flipped);
  std::string one;
  AppendRecord(std::string("\x08\x96\x01 a proto-like payload", 24), &one);
  WriteSeed(dir, "one", one);
}

int g_fd = -1;
std::string g_path;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seeds = getenv("LRA_FUZZ_WRITE_SEEDS")) {
    WriteSeeds(seeds);
    exit(0);
  }
  // One in-memory file, rewritten per input, read through its /proc path so the reader's real
  // Open() runs every time without touching the disk.
  g_fd = memfd_create("record_fuzzer", 0);
  if (g_fd < 0) {
    perror("memfd_create");
    exit(1);
  }
  g_path = absl::StrCat("/proc/self/fd/", g_fd);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, data, size, 0) != static_cast<ssize_t>(size)) {
    __builtin_trap();
  }
  auto reader = RecordReader::Open(g_path);
  Check(reader.ok(), "Open failed on an existing file");
  std::string reframed, payload;
  while (true) {
    const uint64_t offset = (*reader)->offset();
    Check(offset == reframed.size(), "offset() is not the end of the records returned");
    absl::StatusOr<bool> more = (*reader)->Next(&payload);
    if (!more.ok()) {
      const absl::Status& s = more.status();
      Check(s.code() == absl::StatusCode::kDataLoss, "error is not DataLoss");
      Check(s.message().find(g_path) != absl::string_view::npos, "error does not name the file");
      Check(s.message().find(absl::StrCat("byte offset ", offset)) != absl::string_view::npos,
            "error does not name the record's byte offset");
      Check(offset < size, "error at the very end of the file");
      Check(input.compare(0, reframed.size(), reframed) == 0, "records are not a prefix");
      Check(!(*reader)->Next(&payload).ok(), "error is not sticky");
      return 0;
    }
    if (!*more) break;
    AppendRecord(payload, &reframed);
    Check(reframed.size() <= size, "records longer than the file");
  }
  Check(reframed == input, "clean end of file but the records do not re-frame to the file");
  return 0;
}

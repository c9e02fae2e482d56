// Reading TFRecords with CRC verification, in payload bytes per second on one core.
//
//   bazel --output_base=... run --config=native //datasets:record_benchmark
//
// BM_ReadRecords reads a 128 MiB file (page-cached after the first pass) of records of the given
// payload size through RecordReader::NextView (no copy) and ::Next (copy into a std::string).
// BM_Crc32c measures each CRC32C implementation on an in-cache 64 KiB buffer.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "benchmark/benchmark.h"
#include "core/base/crc32c.h"
#include "datasets/record_io.h"

namespace lra {
namespace datasets {
namespace {

constexpr int64_t kFileBytes = int64_t{128} << 20;

// One file per record size, written once per process.
std::string FileFor(int64_t payload_bytes) {
  const char* tmp = getenv("TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/lra_record_benchmark_" +
                           std::to_string(getpid()) + "_" + std::to_string(payload_bytes) +
                           ".tfrecord";
  if (access(path.c_str(), R_OK) == 0) return path;
  auto w = RecordWriter::Open(path);
  if (!w.ok()) {
    fprintf(stderr, "%s\n", std::string(w.status().message()).c_str());
    abort();
  }
  std::string payload(payload_bytes, '\0');
  for (int64_t i = 0; i < payload_bytes; ++i) payload[i] = static_cast<char>(i * 131 + 7);
  for (int64_t written = 0; written < kFileBytes; written += payload_bytes + 16) {
    if (!(*w)->Write(payload).ok()) abort();
  }
  if (!(*w)->Close().ok()) abort();
  return path;
}

void ReadLoop(benchmark::State& state, bool copy) {
  const std::string path = FileFor(state.range(0));
  int64_t payload_bytes = 0, records = 0;
  std::string payload;
  for (auto _ : state) {
    auto reader = RecordReader::Open(path);
    if (!reader.ok()) abort();
    while (true) {
      absl::StatusOr<bool> more;
      size_t n;
      if (copy) {
        more = (*reader)->Next(&payload);
        n = payload.size();
      } else {
        absl::string_view view;
        more = (*reader)->NextView(&view);
        n = view.size();
        benchmark::DoNotOptimize(view.data());
      }
      if (!more.ok()) abort();
      if (!*more) break;
      payload_bytes += static_cast<int64_t>(n);
      ++records;
    }
  }
  state.SetBytesProcessed(payload_bytes);
  state.SetItemsProcessed(records);
}

void BM_ReadRecordsView(benchmark::State& state) { ReadLoop(state, false); }
void BM_ReadRecordsCopy(benchmark::State& state) { ReadLoop(state, true); }
// Payload sizes: a short ListOps/Text example (~1-4 KiB of varints), a Pathfinder-128 image
// (~16 KiB), Path-X / Retrieval scale (64 KiB).
// Wall-clock time: the figure a training loop waits for (includes the read(2) copies).
BENCHMARK(BM_ReadRecordsView)->Arg(1024)->Arg(4096)->Arg(16384)->Arg(65536)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ReadRecordsCopy)->Arg(1024)->Arg(4096)->Arg(16384)->Arg(65536)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void CrcLoop(benchmark::State& state, uint32_t (*fn)(uint32_t, const void*, size_t)) {
  std::string buf(64 << 10, 'x');
  for (auto _ : state) benchmark::DoNotOptimize(fn(0, buf.data(), buf.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * buf.size());
}
void BM_Crc32cIsal(benchmark::State& s) { CrcLoop(s, &crc32c_internal::ExtendIsal); }
void BM_Crc32cSse42(benchmark::State& s) { CrcLoop(s, &crc32c_internal::ExtendSse42); }
void BM_Crc32cTable(benchmark::State& s) { CrcLoop(s, &crc32c_internal::ExtendTable); }
BENCHMARK(BM_Crc32cIsal);
BENCHMARK(BM_Crc32cSse42);
BENCHMARK(BM_Crc32cTable);

}  // namespace
}  // namespace datasets
}  // namespace lra

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Remove this process's files.
  for (int64_t n : {1024, 4096, 16384, 65536}) {
    const char* tmp = getenv("TMPDIR");
    const std::string path = std::string(tmp ? tmp : "/tmp") + "/lra_record_benchmark_" +
                             std::to_string(getpid()) + "_" + std::to_string(n) + ".tfrecord";
    unlink(path.c_str());
  }
  return 0;
}

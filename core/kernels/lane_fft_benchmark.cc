// LaneFft (16 lanes in one transform) against RealFft (FFTW, one row per channel) on the same
// 16 sequences, one thread: a Forward + Inverse pair per iteration.
//
//   bazel run //core/kernels:lane_fft_benchmark -- --benchmark_repetitions=5
//     --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
//
// Compare medians within one run (the machine is shared; absolute times vary 2x between runs).
//   BM_LaneFft/n:   LaneFft::Forward + Inverse on x [n][16].
//   BM_FftwRows/n:  16 x (RealFft::Forward + Inverse) on 16 64-byte aligned rows (RealFft::Get(n):
//                   the shipped wisdom where it has the size), the same data.
//   BM_Gather/L:    what the lane layout saves: copying the 16-channel block x[0:L, 0:16] of a
//                   [L][128] array (L = n/2) into 16 rows of n floats, zero-padding [L, n), as
//                   fft_conv.cc's Gather does (plain loops here; fft_conv's own uses 8x8 AVX
//                   transposes for whole tiles).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>

#include "benchmark/benchmark.h"
#include "core/kernels/fft.h"
#include "core/kernels/lane_fft.h"

namespace lra {
namespace kernels {
namespace {

constexpr int kL = LaneFft::kLanes;
constexpr int kChannels = 128;  // H of BM_S4dTrain

struct Aligned {
  explicit Aligned(int64_t count)
      : p(static_cast<float*>(std::aligned_alloc(64, ((count * 4 + 63) / 64) * 64))) {}
  ~Aligned() { std::free(p); }
  float* p;
};

void Random(float* p, int64_t count) {
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int64_t i = 0; i < count; ++i) p[i] = d(gen);
}

void BM_LaneFft(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const LaneFft& fft = LaneFft::Get(n);
  Aligned x(int64_t{n} * kL), spec(fft.SpecFloats()), y(int64_t{n} * kL), work(fft.WorkFloats());
  Random(x.p, int64_t{n} * kL);
  for (auto _ : state) {
    fft.Forward(x.p, spec.p, work.p);
    fft.Inverse(spec.p, y.p, work.p);
    benchmark::DoNotOptimize(y.p);
    benchmark::ClobberMemory();
  }
}

void BM_FftwRows(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const RealFft& fft = RealFft::Get(n);
  state.SetLabel(fft.shipped() ? "shipped wisdom" : "FFTW_ESTIMATE");
  // Row strides as fft_conv.cc's: one extra cache line per real row, complex rows padded to 64
  // bytes.
  const int64_t rs = (n + 15) / 16 * 16 + 16, cs = (n / 2 + 1 + 7) / 8 * 16;
  Aligned rows(rs * kL), spec(cs * kL), out(rs * kL);
  // The same 16 sequences as BM_LaneFft, one per row.
  Aligned x(int64_t{n} * kL);
  Random(x.p, int64_t{n} * kL);
  for (int c = 0; c < kL; ++c) {
    for (int j = 0; j < n; ++j) rows.p[c * rs + j] = x.p[j * kL + c];
  }
  for (auto _ : state) {
    for (int c = 0; c < kL; ++c) {
      auto* s = reinterpret_cast<std::complex<float>*>(spec.p + c * cs);
      fft.Forward(rows.p + c * rs, s);
      fft.Inverse(s, out.p + c * rs);
    }
    benchmark::DoNotOptimize(out.p);
    benchmark::ClobberMemory();
  }
}

void BM_Gather(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0)), length = n / 2;
  const int64_t rs = (n + 15) / 16 * 16 + 16;
  Aligned x(int64_t{length} * kChannels), rows(rs * kL);
  Random(x.p, int64_t{length} * kChannels);
  for (auto _ : state) {
    for (int c = 0; c < kL; ++c) std::memset(rows.p + c * rs + length, 0, (n - length) * 4);
    for (int l = 0; l < length; ++l) {
      const float* src = x.p + int64_t{l} * kChannels;
      for (int c = 0; c < kL; ++c) rows.p[c * rs + l] = src[c];
    }
    benchmark::DoNotOptimize(rows.p);
    benchmark::ClobberMemory();
  }
}

#define LRA_LANE_FFT_SIZES \
  ->Arg(2048)->Arg(4096)->Arg(8000)->Arg(8192)->Unit(benchmark::kMicrosecond)
BENCHMARK(BM_LaneFft) LRA_LANE_FFT_SIZES;
BENCHMARK(BM_FftwRows) LRA_LANE_FFT_SIZES;
BENCHMARK(BM_Gather) LRA_LANE_FFT_SIZES;

}  // namespace
}  // namespace kernels
}  // namespace lra

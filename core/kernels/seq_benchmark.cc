// Sequence-kernel benchmarks: FFT convolution and attention, forward + backward per iteration.
//
//   bazel --output_base=/root/.cache/bazel-<you> run --config=native //core/kernels:seq_benchmark
//
// Flop conventions (effective GFLOP/s, counted from the algorithm, not from what ran):
//   FFT conv: one real transform of size n (r2c or c2r) = 2.5 n log2 n (FFTW's
//   convention for its benchmark "mflops", fftw.org/speed/method.html).
//     Forward = H kernel r2c + B*H (r2c + c2r); backward = H kernel r2c + B*H (2 r2c + c2r)
//     + H c2r for dk: (5BH + 3H) transforms per fwd+bwd. Spectrum products are not counted.
//   Attention: 2 flops per multiply-add of the GEMMs of the dense algorithm, non-causal:
//     forward QK^T and PV = 4 B heads L^2 d; backward dV, dP, dQ, dK = 8 B heads L^2 d.
//     The blocked kernel also recomputes QK^T in backward; that work is not credited.
// Memory counters: `saved_MB` (state kept from forward to backward), `workspace_MB` (scratch
// held by the kernel object) and `peak_rss_delta_MB` (process peak RSS during the timed loop
// minus RSS before the kernel object and its saved state exist, inputs already allocated; the
// peak is reset through /proc/self/clear_refs, so each benchmark's figure is its own).
#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/kernels/attention.h"
#include "core/kernels/fft_conv.h"
#include "core/kernels/onednn/gemm.h"

namespace lra {
namespace kernels {
namespace {

// VmRSS or VmHWM from /proc/self/status, in bytes (0 if unavailable).
int64_t ProcStatusBytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) == 0) {
      return std::stoll(line.substr(key.size() + 1)) * 1024;  // "VmRSS:   1234 kB"
    }
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0).
void ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

constexpr double kMB = 1024.0 * 1024.0;

void BM_FftConv(benchmark::State& state) {
  ConvShape s{8, static_cast<int>(state.range(0)), 128,
              state.range(1) ? ConvDirection::kBidirectional : ConvDirection::kCausal};
  const size_t act = static_cast<size_t>(s.batch) * s.length * s.channels;
  std::vector<float> u = Random(act, 1), dy = Random(act, 2), y(act), du(act);
  std::vector<float> k = Random(FftConv::KernelFloats(s), 3), dk(k.size());
  for (float& x : k) x *= 0.05f;
  ResetPeakRss();
  const int64_t rss0 = ProcStatusBytes("VmRSS");
  // The plan and the workspace are made by the warm-up call below.
  FftConv conv;
  conv.Forward(s, u.data(), k.data(), y.data());
  conv.Backward(s, u.data(), k.data(), dy.data(), du.data(), dk.data());
  for (auto _ : state) {
    conv.Forward(s, u.data(), k.data(), y.data());
    conv.Backward(s, u.data(), k.data(), dy.data(), du.data(), dk.data());
    benchmark::ClobberMemory();
  }
  const double n = FftConv::FftSize(s.length);
  const double transforms = 5.0 * s.batch * s.channels + 3.0 * s.channels;
  const double flops = transforms * 2.5 * n * std::log2(n);
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["fft_n"] = n;
  state.counters["workspace_MB"] = conv.WorkspaceBytes() / kMB;
  state.counters["peak_rss_delta_MB"] = (ProcStatusBytes("VmHWM") - rss0) / kMB;
}
BENCHMARK(BM_FftConv)
    ->ArgsProduct({{1024, 2048, 4096}, {0, 1}})
    ->ArgNames({"L", "bidir"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_Attention(benchmark::State& state) {
  const int L = static_cast<int>(state.range(0));
  const auto alg = state.range(1) ? AttentionAlgorithm::kBlocked : AttentionAlgorithm::kDense;
  AttentionShape s{static_cast<int>(state.range(2)), L, 4, 32, false};
  // Probability dropout in percent (0 = off, the inference and p = 0 path).
  const AttentionDropout drop{static_cast<float>(state.range(3)) / 100.0f, /*seed=*/7};
  const size_t n = static_cast<size_t>(s.batch) * L * s.heads * s.head_dim;
  std::vector<float> q = Random(n, 1), k = Random(n, 2), v = Random(n, 3), dout = Random(n, 4);
  std::vector<float> out(n), dq(n), dk(n), dv(n);
  // mask = 1: a mask hiding about a quarter of the positions, as queries and keys (as black
  // pixels would).
  std::vector<uint8_t> key_mask;
  if (state.range(4)) {
    std::mt19937 rng(5);
    key_mask.resize(static_cast<size_t>(s.batch) * L);
    for (uint8_t& m : key_mask) m = rng() % 4 != 0;
  }
  const uint8_t* km = key_mask.empty() ? nullptr : key_mask.data();
  Attention att(AttentionOptions{alg, 64, 64});
  // bf16 = 1: the opt-in bf16 products (--matmul_precision=bf16; blocked, AVX512-BF16 only).
  const bool bf16 = state.range(5) != 0;
  if (bf16 && (!onednn::SetMatmulPrecision(onednn::MatmulPrecision::kBf16).ok() ||
               !att.Bf16(s))) {
    (void)onednn::SetMatmulPrecision(onednn::MatmulPrecision::kF32);
    state.SkipWithError("bf16 attention products need AVX512-BF16 and the blocked algorithm");
    return;
  }
  ResetPeakRss();
  const int64_t rss0 = ProcStatusBytes("VmRSS");
  // `saved` is allocated here, inside the measured window: it is the kernel's memory cost.
  std::vector<float> saved(att.SavedFloats(s));
  for (auto _ : state) {
    att.Forward(s, q.data(), k.data(), v.data(), nullptr, km, drop, out.data(), saved.data());
    att.Backward(s, q.data(), k.data(), v.data(), nullptr, km, drop, out.data(), saved.data(),
                 dout.data(), dq.data(), dk.data(), dv.data());
    benchmark::ClobberMemory();
  }
  const double flops = 12.0 * s.batch * s.heads * double(L) * L * s.head_dim;
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["saved_MB"] = saved.size() * sizeof(float) / kMB;
  state.counters["workspace_MB"] = att.WorkspaceBytes() / kMB;
  state.counters["peak_rss_delta_MB"] = (ProcStatusBytes("VmHWM") - rss0) / kMB;
  if (bf16) (void)onednn::SetMatmulPrecision(onednn::MatmulPrecision::kF32);
}
// Args: L, algorithm (0 dense, 1 blocked), batch, dropout %, key mask, bf16 products. B=8
// throughout (dense at 4K saves 2 GiB). The plain path at every length; dropout 10% and the key
// mask at 1K and 2K; blocked with bf16 products at every length.
BENCHMARK(BM_Attention)
    ->ArgsProduct({{1024, 2048, 4096}, {0, 1}, {8}, {0}, {0}, {0}})
    ->ArgsProduct({{1024, 2048}, {0, 1}, {8}, {10}, {0}, {0}})
    ->ArgsProduct({{1024, 2048}, {0, 1}, {8}, {0}, {1}, {0}})
    ->ArgsProduct({{1024, 2048, 4096}, {1}, {8}, {0}, {0}, {1}})
    ->ArgNames({"L", "blocked", "B", "drop", "mask", "bf16"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kernels
}  // namespace lra

// Core kernels and tape overhead. Run by hand, on a quiet machine:
//   bazel run --config=native //core:core_benchmark
// (add -- --benchmark_repetitions=5 for medians). Set OMP_NUM_THREADS to the thread count to
// measure; the peak and the GEMMs use the same count.
//
// Reports:
//   FmaPeak              register-blocked _mm512_fmadd_ps on every thread: the fp32 roofline.
//   Gemm/{Fwd,BwdData,BwdWeight}  the three products of a Linear layer x[8192,128] w[128,N]
//                        through the oneDNN wrapper, fp32 and bf16 mode; `peak_GFLOPs` is
//                        FmaPeak measured in the same process.
//   ConvertToBf16        the bf16 mode's operand rounding, ns per element.
//   LinearGelu/{Raw,Tape}  fwd+bwd of y = gelu(x w + b) with hand-called kernels vs the tape:
//                        the difference is the tape's overhead (allocation, closures, zero fill).
//   FftConvOp, AttentionOp  fwd+bwd through the tape ops at the LRA shapes.
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/kernels/onednn/gemm.h"
#include "core/kernels/vmath/vmath.h"
#include "core/ops/ops.h"
#include "core/parallel.h"
#include "core/random.h"

namespace lra {
namespace {

constexpr int kChains = 12;  // independent accumulators: > latency (4) x FMA ports (2)

__attribute__((target("avx512f"))) float FmaLoop(int64_t iters) {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(0.001f * j);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  }
  __m512 s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, acc[j]);
  // (Stored and summed by hand: GCC 12's _mm512_reduce_add_ps trips -Wuninitialized.)
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float total = 0.0f;
  for (float f : lanes) total += f;
  return total;
}

// FLOPs per FmaLoop iteration: chains x 16 lanes x 2.
constexpr double kFlopsPerIter = kChains * 16 * 2;

double MeasurePeakGflops() {
  if (!__builtin_cpu_supports("avx512f")) return 0.0;
  const int64_t iters = 20'000'000;
  double best = 0.0;
  for (int rep = 0; rep < 3; ++rep) {
    const double t0 = omp_get_wtime();
    float sink = 0.0f;
    int nt = 1;
#pragma omp parallel reduction(+ : sink)
    {
      sink += FmaLoop(iters);
#pragma omp single
      nt = omp_get_num_threads();
    }
    const double t = omp_get_wtime() - t0;
    benchmark::DoNotOptimize(sink);
    best = std::max(best, nt * iters * kFlopsPerIter / t * 1e-9);
  }
  return best;
}

double PeakGflops() {
  static const double peak = MeasurePeakGflops();
  return peak;
}

void BM_FmaPeak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512F on this CPU");
    return;
  }
  const int64_t iters = 2'000'000;
  int nt = 1;
  for (auto _ : state) {
    float sink = 0.0f;
#pragma omp parallel reduction(+ : sink)
    {
      sink += FmaLoop(iters);
#pragma omp single
      nt = omp_get_num_threads();
    }
    benchmark::DoNotOptimize(sink);
  }
  state.counters["GFLOPs"] = benchmark::Counter(nt * iters * kFlopsPerIter * 1e-9 * state.iterations(),
                                                benchmark::Counter::kIsRate);
  state.counters["threads"] = nt;
}
BENCHMARK(BM_FmaPeak)->UseRealTime()->Unit(benchmark::kMillisecond);

// arg 0: 0 forward, 1 backward data, 2 backward weight; arg 1: 1 = the opt-in bf16 matmul mode
// (skipped on CPUs without bf16); arg 2: the Linear's outputs N (in 128, rows 8192; 32 is near the bf16 break-even; the others are the model
// benchmark's Linear layers at H = 128, QKV 384, MLP 512, S4D's output 256).
void BM_Gemm(benchmark::State& state) {
  const int64_t m = 8192, k = 128, n = state.range(2);
  Rng rng(1);
  Tensor x = RandomUniform({m, k}, -1, 1, rng), w = RandomUniform({k, n}, -1, 1, rng);
  Tensor dy = RandomUniform({m, n}, -1, 1, rng);
  Tensor y = Tensor::Empty({m, n}), dx = Tensor::Empty({m, k}), dw = Tensor::Empty({k, n});
  const int which = static_cast<int>(state.range(0));
  const bool bf16 = state.range(1) != 0;
  if (bf16 && !onednn::SetMatmulPrecision(onednn::MatmulPrecision::kBf16).ok()) {
    state.SkipWithError("no bf16 matmul on this CPU");
    return;
  }
  auto run = [&] {
    switch (which) {
      case 0:  // y[m,n] = x[m,k] w[k,n]
        onednn::Gemm(1, m, n, k, false, false, x.data<float>(), w.data<float>(), nullptr,
                     y.data<float>(), false);
        break;
      case 1:  // dx[m,k] = dy[m,n] w^T
        onednn::Gemm(1, m, k, n, false, true, dy.data<float>(), w.data<float>(), nullptr,
                     dx.data<float>(), false);
        break;
      default:  // dw[k,n] = x^T dy
        onednn::Gemm(1, k, n, m, true, false, x.data<float>(), dy.data<float>(), nullptr,
                     dw.data<float>(), false);
    }
  };
  run();  // create the primitive and scratch outside the timing
  for (auto _ : state) run();
  if (bf16) (void)onednn::SetMatmulPrecision(onednn::MatmulPrecision::kF32);
  const double flops = 2.0 * m * n * k;
  state.counters["GFLOPs"] =
      benchmark::Counter(flops * 1e-9 * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["peak_GFLOPs"] = PeakGflops();
  state.SetLabel(std::string(which == 0   ? "fwd x*w"
                             : which == 1 ? "bwd_data dy*w^T"
                                          : "bwd_weight x^T*dy") +
                 (bf16 ? " bf16" : " fp32"));
}
BENCHMARK(BM_Gemm)
    ->ArgsProduct({{0, 1, 2}, {0, 1}, {32, 128, 256, 384, 512}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// onednn::ConvertToBf16 (the bf16 mode's operand conversion) on arg elements: 1M is x at 1K
// (8192 x 128), 4M the gradient of a 512-wide Linear; `ns_per_element` is over all threads.
void BM_ConvertToBf16(benchmark::State& state) {
  if (!onednn::Bf16Supported()) {
    state.SkipWithError("no AVX512-BF16 on this CPU");
    return;
  }
  const int64_t n = state.range(0);
  Rng rng(4);
  Tensor x = RandomUniform({n}, -1, 1, rng);
  std::vector<uint16_t> y(n);
  onednn::ConvertToBf16(x.data<float>(), n, y.data());
  for (auto _ : state) {
    onednn::ConvertToBf16(x.data<float>(), n, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["ns_per_element"] = benchmark::Counter(
      double(n) * state.iterations() * 1e-9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ConvertToBf16)->Arg(1 << 20)->Arg(1 << 22)->UseRealTime()->Unit(benchmark::kMicrosecond);

// y = gelu(x w + b), loss seed dy; fwd + bwd of x, w, b.
void BM_LinearGelu(benchmark::State& state) {
  const bool tape = state.range(0) == 1;
  const int64_t m = 8192, k = 128, n = 512;
  Rng rng(2);
  Var x = Parameter(RandomUniform({m, k}, -1, 1, rng), "x");
  Var w = Parameter(RandomUniform({k, n}, -0.1f, 0.1f, rng), "w");
  Var b = Parameter(RandomUniform({n}, -1, 1, rng), "b");
  Tensor dy = RandomUniform({m, n}, -1, 1, rng);
  Tensor h = Tensor::Empty({m, n}), g = Tensor::Empty({m, n}), y = Tensor::Empty({m, n});
  Tensor dx = Tensor::Empty({m, k}), dw = Tensor::Empty({k, n});
  std::vector<float> db(n);
  auto step = [&] {
    if (tape) {
      Var y = Gelu(Linear(x, w, b), GeluKind::kTanh);
      Backward(y, dy);
      x.ZeroGrad();
      w.ZeroGrad();
      b.ZeroGrad();
    } else {
      // The same arithmetic by hand, reusing preallocated buffers.
      onednn::Gemm(1, m, n, k, false, false, x.value().data<float>(), w.value().data<float>(),
                   b.value().data<float>(), h.data<float>(), false);
      float* hp = h.data<float>();
      const float* dp = dy.data<float>();
      float* gp = g.data<float>();
      float* yp = y.data<float>();
      ParallelFor(m * n, [&](int64_t s, int64_t e) {
        vmath::GeluTanh(hp + s, yp + s, nullptr, e - s);
      }, 8);
      benchmark::DoNotOptimize(yp);
      ParallelFor(m * n, [&](int64_t s, int64_t e) {
        vmath::GeluTanhBackward(hp + s, dp + s, gp + s, false, e - s);
      }, 8);
      onednn::Gemm(1, m, k, n, false, true, gp, w.value().data<float>(), nullptr,
                   dx.data<float>(), false);
      onednn::Gemm(1, k, n, m, true, false, x.value().data<float>(), gp, nullptr,
                   dw.data<float>(), false);
      for (int64_t j = 0; j < n; ++j) db[j] = 0;
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) db[j] += gp[r * n + j];
      benchmark::DoNotOptimize(db.data());
    }
  };
  step();  // first call: primitive creation and the pool's first allocations
  for (auto _ : state) step();
  state.SetLabel(tape ? "tape" : "raw kernels");
}
BENCHMARK(BM_LinearGelu)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// FftConv fwd+bwd through the tape, B=8, H=128; u and a bidirectional kernel both need grads.
void BM_FftConvOp(benchmark::State& state) {
  const int64_t b = 8, h = 128, l = state.range(0);
  Rng rng(3);
  Var u = Parameter(RandomUniform({b, l, h}, -1, 1, rng), "u");
  Var k = Parameter(RandomUniform({2, h, l}, -0.1f, 0.1f, rng), "k");
  Tensor dy = RandomUniform({b, l, h}, -1, 1, rng);
  auto step = [&] {
    Var y = FftConv(u, k, ConvDirection::kBidirectional);
    Backward(y, dy);
    u.ZeroGrad();
    k.ZeroGrad();
  };
  step();  // FFTW_MEASURE planning (0.3-0.5 s per length) happens here
  for (auto _ : state) step();
  // Effective flops: 3 transforms fwd (u, k, y) + 4 bwd (dy, du, dk; k's spectrum again), each
  // 2.5 n log2 n per channel and batch row (the kernel transforms are per channel only, ignored).
  const double n = 2.0 * l;
  const double flops = 5.0 * b * h * 2.5 * n * std::log2(n);
  state.counters["GFLOPs"] =
      benchmark::Counter(flops * 1e-9 * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FftConvOp)->Arg(1024)->Arg(2048)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

// Attention fwd+bwd through the tape, B=1, heads=4, d=32 (dense at L=4K saves 256 MiB of
// probabilities). peak_MiB: pool memory above the inputs (outputs, grads, saved state).
void BM_AttentionOp(benchmark::State& state) {
  const int64_t b = 1, heads = 4, d = 32, l = state.range(0);
  const auto algo = state.range(1) ? AttentionAlgorithm::kBlocked : AttentionAlgorithm::kDense;
  Rng rng(4);
  Var q = Parameter(RandomUniform({b, l, heads * d}, -1, 1, rng), "q");
  Var k = Parameter(RandomUniform({b, l, heads * d}, -1, 1, rng), "k");
  Var v = Parameter(RandomUniform({b, l, heads * d}, -1, 1, rng), "v");
  Tensor dy = RandomUniform({b, l, heads * d}, -1, 1, rng);
  auto step = [&] {
    Var y = Attention(q, k, v, {}, {static_cast<int>(heads), false, algo});
    Backward(y, dy);
    q.ZeroGrad();
    k.ZeroGrad();
    v.ZeroGrad();
  };
  step();  // kernel scratch allocation
  BufferPool::Get().ResetPeak();
  const int64_t base = BufferPool::Get().stats().bytes_in_use;
  for (auto _ : state) step();
  state.counters["peak_MiB"] = (BufferPool::Get().stats().peak_bytes_in_use - base) / 1048576.0;
  state.SetLabel(algo == AttentionAlgorithm::kDense ? "dense" : "blocked");
}
BENCHMARK(BM_AttentionOp)
    ->ArgsProduct({{1024, 2048, 4096}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lra

BENCHMARK_MAIN();

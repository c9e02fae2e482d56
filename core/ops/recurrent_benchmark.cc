// Recurrent ops: Mamba's selective scan and the LSTM/GRU recurrences, training (forward +
// backward through the tape) and streaming (one token per call). Run by hand, on a quiet
// machine:
//   bazel run --config=native //core/ops:recurrent_benchmark
// Set OMP_NUM_THREADS to the thread count to measure.
//
// Reports:
//   SelectiveScan/L      fwd+bwd, B=8, D=256 (expand 2 x H=128), N=16, with D skip, gate z,
//                        delta_bias and softplus (the Mamba block's call). `saved_MiB`: the
//                        chunk-start states kept for backward; `peak_MiB`: pool memory above
//                        the inputs during a step (output, saved states, gradients, partials).
//   SelectiveScanFwd/L   forward only (NoGrad), same shapes.
//   Lstm/L, Gru/L        fwd+bwd of the recurrence alone, B=8, H=128 (the input projection is a
//                        separate GEMM, not timed).
//   *Step/batch          one token of the streaming step, D=256, N=16 / H=128.
// tokens_per_s counts B x L tokens per iteration (batch tokens per call for the steps).
#include <cstdint>

#include "benchmark/benchmark.h"
#include "core/ops/rnn.h"
#include "core/ops/ssm.h"
#include "core/random.h"
#include "core/tape.h"

namespace lra {
namespace {

constexpr int64_t kBatch = 8, kChannels = 256, kState = 16, kHidden = 128;
constexpr double kMiB = 1024.0 * 1024.0;

void SetTokens(benchmark::State& state, int64_t tokens_per_iter) {
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(tokens_per_iter) * state.iterations(), benchmark::Counter::kIsRate);
}

struct ScanInputs {
  explicit ScanInputs(int64_t l) {
    Rng rng(1);
    const int64_t b = kBatch, d = kChannels, n = kState;
    u = Parameter(RandomUniform({b, l, d}, -1, 1, rng), "u");
    delta = Parameter(RandomUniform({b, l, d}, -1, 1, rng), "delta");
    A = Parameter(RandomUniform({d, n}, -2, -0.1f, rng), "A");
    B = Parameter(RandomUniform({b, l, n}, -1, 1, rng), "B");
    C = Parameter(RandomUniform({b, l, n}, -1, 1, rng), "C");
    D = Parameter(RandomUniform({d}, -1, 1, rng), "D");
    z = Parameter(RandomUniform({b, l, d}, -1, 1, rng), "z");
    bias = Parameter(RandomUniform({d}, -1, 1, rng), "bias");
    dy = RandomUniform({b, l, d}, -1, 1, rng);
  }
  Var Run() const {
    SelectiveScanOptions o;
    o.delta_softplus = true;
    return SelectiveScan(u, delta, A, B, C, D, z, bias, o);
  }
  void ZeroGrad() const {
    for (const Var* v : {&u, &delta, &A, &B, &C, &D, &z, &bias}) v->ZeroGrad();
  }
  Var u, delta, A, B, C, D, z, bias;
  Tensor dy;
};

void BM_SelectiveScan(benchmark::State& state) {
  const int64_t l = state.range(0);
  ScanInputs in(l);
  auto step = [&] {
    Var y = in.Run();
    Backward(y, in.dy);
    in.ZeroGrad();
  };
  step();
  BufferPool::Get().ResetPeak();
  const int64_t base = BufferPool::Get().stats().bytes_in_use;
  for (auto _ : state) step();
  state.counters["peak_MiB"] = (BufferPool::Get().stats().peak_bytes_in_use - base) / kMiB;
  state.counters["saved_MiB"] = kBatch * ((l + 63) / 64) * kState * kChannels * 4 / kMiB;
  SetTokens(state, kBatch * l);
}
BENCHMARK(BM_SelectiveScan)->Arg(1024)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_SelectiveScanFwd(benchmark::State& state) {
  const int64_t l = state.range(0);
  ScanInputs in(l);
  NoGrad ng;
  for (auto _ : state) benchmark::DoNotOptimize(in.Run());
  SetTokens(state, kBatch * l);
}
BENCHMARK(BM_SelectiveScanFwd)->Arg(1024)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Rnn(benchmark::State& state, bool lstm) {
  const int64_t l = state.range(0), h = kHidden, g = (lstm ? 4 : 3) * h;
  Rng rng(2);
  Var x = Parameter(RandomUniform({kBatch, l, g}, -1, 1, rng), "x");
  Var w = Parameter(RandomUniform({h, g}, -0.1f, 0.1f, rng), "w");
  Var b = Parameter(RandomUniform({g}, -0.1f, 0.1f, rng), "b");
  Tensor dy = RandomUniform({kBatch, l, h}, -1, 1, rng);
  auto step = [&] {
    Var y = lstm ? Lstm(x, w, b) : Gru(x, w, b);
    Backward(y, dy);
    x.ZeroGrad();
    w.ZeroGrad();
    b.ZeroGrad();
  };
  step();
  for (auto _ : state) step();
  SetTokens(state, kBatch * l);
}
void BM_Lstm(benchmark::State& state) { BM_Rnn(state, true); }
void BM_Gru(benchmark::State& state) { BM_Rnn(state, false); }
BENCHMARK(BM_Lstm)->Arg(1024)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gru)->Arg(1024)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_SelectiveScanStep(benchmark::State& state) {
  const int64_t b = state.range(0), d = kChannels, n = kState;
  Rng rng(3);
  Tensor h = Tensor::Zeros({b, d, n});
  const Tensor u = RandomUniform({b, d}, -1, 1, rng), dt = RandomUniform({b, d}, -1, 1, rng),
               A = RandomUniform({d, n}, -2, -0.1f, rng), Bt = RandomUniform({b, n}, -1, 1, rng),
               Ct = RandomUniform({b, n}, -1, 1, rng), D = RandomUniform({d}, -1, 1, rng),
               z = RandomUniform({b, d}, -1, 1, rng), bias = RandomUniform({d}, -1, 1, rng);
  SelectiveScanOptions o;
  o.delta_softplus = true;
  for (auto _ : state)
    benchmark::DoNotOptimize(SelectiveScanStep(h, u, dt, A, Bt, Ct, D, z, bias, o));
  SetTokens(state, b);
}
BENCHMARK(BM_SelectiveScanStep)->Arg(1)->Arg(8)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_LstmStep(benchmark::State& state) {
  const int64_t b = state.range(0), h = kHidden;
  Rng rng(4);
  Tensor hs = Tensor::Zeros({b, h}), cs = Tensor::Zeros({b, h});
  const Tensor x = RandomUniform({b, 4 * h}, -1, 1, rng),
               w = RandomUniform({h, 4 * h}, -0.1f, 0.1f, rng),
               bias = RandomUniform({4 * h}, -0.1f, 0.1f, rng);
  for (auto _ : state) benchmark::DoNotOptimize(LstmStep(x, w, bias, hs, cs));
  SetTokens(state, b);
}
BENCHMARK(BM_LstmStep)->Arg(1)->Arg(8)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace lra

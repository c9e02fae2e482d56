// Kernel generation and recurrent step timings for the S4 family. Run by hand:
//   bazel run --config=native //models/s4:ssm_kernel_benchmark
// Shapes: H = 128 channels; N = 64 (M = 32), the reference's default d_state (state-spaces/s4
// e757cef, src/models/sequence/kernels/ssm.py, `d_state: int = 64`); L up to 4096, the LRA Text
// length (configs/experiment/lra/s4-imdb.yaml there, `l_max: 4096`).
#include <complex>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "models/s4/ssm_init.h"
#include "models/s4/ssm_kernel.h"
#include "models/s4/ssm_recurrent.h"

namespace lra::s4 {
namespace {

struct Setup {
  SsmDims d;
  SsmOptions o;
  std::vector<float> dt_raw, a_re, a_im;
  std::vector<std::complex<float>> b, p, c;
  SsmParams<float> View() const {
    SsmParams<float> v;
    v.dt_raw = dt_raw.data();
    v.a_re_raw = a_re.data();
    v.a_im = a_im.data();
    v.b = b.data();
    v.p = p.data();
    v.c = c.data();
    return v;
  }
};

// S4D-Lin (or the HiPPO-LegS NPLR Lambda, P, B for `nplr`), one (A, B) copy per channel.
Setup MakeSetup(int h, int n_state, int l, int q, bool nplr) {
  Setup s;
  s.d.q = q, s.d.h = h, s.d.m = n_state / 2, s.d.s = h, s.d.l = l;
  s.o.disc = Discretization::kZoh;
  std::mt19937_64 rng(3333);
  const int m = n_state / 2;
  std::vector<std::complex<double>> a = S4dInitA(DiagInit::kLin, n_state);
  std::vector<std::complex<double>> b = S4dInitB(DiagInit::kLin, n_state), p(m, 0.0);
  if (nplr) {
    const NplrInit init = HippoLegsNplr(n_state);
    a = init.lambda, b = init.b, p = init.p;
  }
  s.a_re.resize(static_cast<size_t>(h) * m);
  s.a_im.resize(s.a_re.size());
  for (int i = 0; i < h; ++i) {
    AToRaw(s.o.real_transform, a.data(), m, &s.a_re[i * m], &s.a_im[i * m]);
    for (int n = 0; n < m; ++n) {
      s.b.emplace_back(b[n]);
      s.p.emplace_back(p[n]);
    }
  }
  s.dt_raw.resize(h);
  InitDtRaw(s.o.dt_transform, 1e-3, 1e-1, h, rng, s.dt_raw.data());
  s.c.resize(static_cast<size_t>(q) * h * m);
  InitC(static_cast<int>(s.c.size()), rng, s.c.data());
  return s;
}

void BM_S4dForward(benchmark::State& state) {
  const Setup s = MakeSetup(128, 64, state.range(0), 1, false);
  std::vector<float> k(static_cast<size_t>(s.d.h) * s.d.l);
  for (auto _ : state) {
    S4dKernelForward(s.d, s.o, s.View(), k.data());
    benchmark::DoNotOptimize(k.data());
  }
  // Useful work: one complex multiply-add (8 flops, counted as 4 real FMAs) per (h, n, l).
  state.counters["GFLOP/s"] = benchmark::Counter(8.0 * s.d.h * s.d.m * s.d.l,
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_S4dForward)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_S4dBackward(benchmark::State& state) {
  const Setup s = MakeSetup(128, 64, state.range(0), 1, false);
  std::vector<float> dk(static_cast<size_t>(s.d.h) * s.d.l, 0.01f);
  std::vector<float> g_dt(s.d.h), g_re(s.a_re.size()), g_im(s.a_re.size());
  std::vector<std::complex<float>> g_b(s.b.size()), g_c(s.c.size());
  SsmGrads<float> g;
  g.dt_raw = g_dt.data(), g.a_re_raw = g_re.data(), g.a_im = g_im.data(), g.b = g_b.data(),
  g.c = g_c.data();
  for (auto _ : state) {
    S4dKernelBackward(s.d, s.o, s.View(), dk.data(), g);
    benchmark::DoNotOptimize(g_c.data());
  }
}
BENCHMARK(BM_S4dBackward)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_S4dForwardBidirectional(benchmark::State& state) {
  const Setup s = MakeSetup(128, 64, state.range(0), 2, false);
  std::vector<float> k(static_cast<size_t>(2) * s.d.h * s.d.l);
  for (auto _ : state) {
    S4dKernelForward(s.d, s.o, s.View(), k.data());
    benchmark::DoNotOptimize(k.data());
  }
}
BENCHMARK(BM_S4dForwardBidirectional)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DplrForward(benchmark::State& state) {
  Setup s = MakeSetup(128, 64, state.range(0), 1, true);
  s.o.disc = Discretization::kBilinear;
  std::vector<float> k(static_cast<size_t>(s.d.h) * s.d.l);
  for (auto _ : state) {
    DplrKernelForward(s.d, s.o, s.View(), k.data());
    benchmark::DoNotOptimize(k.data());
  }
}
BENCHMARK(BM_DplrForward)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DplrBackward(benchmark::State& state) {
  Setup s = MakeSetup(128, 64, state.range(0), 1, true);
  s.o.disc = Discretization::kBilinear;
  std::vector<float> dk(static_cast<size_t>(s.d.h) * s.d.l, 0.01f);
  std::vector<float> g_dt(s.d.h), g_re(s.a_re.size()), g_im(s.a_re.size());
  std::vector<std::complex<float>> g_b(s.b.size()), g_p(s.p.size()), g_c(s.c.size());
  SsmGrads<float> g;
  g.dt_raw = g_dt.data(), g.a_re_raw = g_re.data(), g.a_im = g_im.data(), g.b = g_b.data(),
  g.p = g_p.data(), g.c = g_c.data();
  for (auto _ : state) {
    DplrKernelBackward(s.d, s.o, s.View(), dk.data(), g);
    benchmark::DoNotOptimize(g_c.data());
  }
}
BENCHMARK(BM_DplrBackward)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

// One stream, 4 layers' worth of SSM steps (H = 128, N = 64) per token: the SSM part of a
// 4-layer model's recurrent step (//models:model_benchmark times the whole model).
template <typename Rec>
void RunSteps(benchmark::State& state, const Rec& rec, int h) {
  std::vector<float> st(4 * rec.state_floats(), 0.f), u(h, 0.5f), y(h);
  for (auto _ : state) {
    for (int layer = 0; layer < 4; ++layer) {
      rec.Step(1, u.data(), st.data() + layer * rec.state_floats(), y.data());
      benchmark::DoNotOptimize(y.data());
    }
  }
  state.counters["tokens/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_S4dRecurrentStep4Layers(benchmark::State& state) {
  const Setup s = MakeSetup(128, 64, 1024, 1, false);
  RunSteps(state, S4dRecurrence(s.d, s.o, s.View()), s.d.h);
}
BENCHMARK(BM_S4dRecurrentStep4Layers)->UseRealTime();

void BM_DplrRecurrentStep4Layers(benchmark::State& state) {
  Setup s = MakeSetup(128, 64, 1024, 1, true);
  s.o.disc = Discretization::kBilinear;
  RunSteps(state, DplrRecurrence(s.d, s.o, s.View()), s.d.h);
}
BENCHMARK(BM_DplrRecurrentStep4Layers)->UseRealTime();

}  // namespace
}  // namespace lra::s4

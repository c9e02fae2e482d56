// Training and inference throughput of the models at the shapes of the PyTorch CPU reference
// (models/README.md "Benchmark" describes it; issue 5): batch 8, vocabulary 256, 10 classes,
// H = 128, 4 layers, L = 1K / 2K / 4K, 2 threads.
//
//   S4D:          causal S4D-Lin, N = 64 (32 complex modes), pre-LayerNorm, mean pooling
//   Transformer:  4 heads, MLP 512, pre-LN, learned positions, blocked attention (--attention)
//   Mamba:        causal, N = 16, expand 2 (E = 256), d_conv 4, RMSNorm, mean pooling
//   LSTM, GRU:    4 stacked unidirectional layers, hidden size H, mean pooling
//
// A training step is forward + cross-entropy + backward + AdamW (core/optim) over the model's
// parameter groups. Counters: tokens/s (B * L per step), peak pool bytes (BufferPool peak in the
// timed loop), GFLOP/s from an analytic count of the dominant terms and its fraction of the
// 2-core fp32 FMA peak (453 GFLOP/s, measured as models/README.md "Benchmark" says), and
// cpu_ms/step (CPU time of all threads per step). tools/train_speed_ratio.sh runs the S4D,
// Mamba and LSTM training benchmarks interleaved and prints their ratios.
//
// Run: bazel run --config=native //models:model_benchmark [-- --matmul_precision=bf16]
//      [--batch=N] [--threads=N]; tools/speed_check.sh runs it interleaved with PyTorch.
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "benchmark/benchmark.h"
#include "core/optim/adam.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/tensor.h"
#include "core/ops/loss.h"
#include "core/ops/matmul.h"
#include "models/registry.h"

namespace lra::models {
namespace {

constexpr int kVocab = 256, kClasses = 10, kH = 128, kLayers = 4;
// --batch=N and --threads=N (before the benchmark flags) change these; tools/speed_check.sh runs
// the Transformer at 4K with batch 2 (PyTorch runs out of memory at 8) and 1 thread for scaling.
int g_batch = 8, g_threads = 2;
// --attention=dense|blocked: the Transformer's attention algorithm (default blocked: the
// register-tiled flash-style kernels, at least as fast as dense at 1K and O(L) memory).
std::string g_attention = "blocked";
constexpr double kPeakGflops = 453.0;

TaskInfo Task(int l) { return TaskInfo{"bench", kVocab, 0, kClasses, l, false, false, "mean"}; }

std::unique_ptr<Model> Make(const std::string& name, int l) {
  std::map<std::string, std::string> o;
  if (name == "s4d") {
    o = {{"d_model", "128"}, {"n_layers", "4"}, {"d_state", "64"}, {"init", "lin"},
         {"bidirectional", "false"}, {"norm", "layer"}, {"prenorm", "true"}, {"pool", "mean"}};
  } else if (name == "mamba") {
    o = {{"d_model", "128"}, {"n_layers", "4"}, {"d_state", "16"}, {"expand", "2"},
         {"d_conv", "4"}, {"bidirectional", "false"}, {"norm", "rms"}, {"pool", "mean"}};
  } else if (name == "lstm" || name == "gru") {
    o = {{"d_model", "128"}, {"n_layers", "4"}, {"bidirectional", "false"}, {"pool", "mean"}};
  } else {
    o = {{"d_model", "128"}, {"n_layers", "4"}, {"heads", "4"}, {"mlp_dim", "512"},
         {"positions", "learned"}, {"pool", "mean"}, {"attention", g_attention}, {"dropout", "0"},
         {"head", "linear"}};
  }
  auto m = CreateModel(name, Task(l), o, 1);
  if (!m.ok()) {
    fprintf(stderr, "%s\n", std::string(m.status().message()).c_str());
    std::abort();
  }
  return std::move(*m);
}

// Dominant flops of one training step (forward + backward = 3x forward for GEMMs).
double StepFlops(const std::string& name, int l) {
  const double tokens = static_cast<double>(g_batch) * l, h = kH;
  if (name == "s4d") {
    // Per layer: output Linear H->2H (2*H*2H per token, x3), FFT conv fwd+bwd (~3 transforms of
    // size 2L per channel each way: 3 * 2.5 * 2L log2(2L) real flops, x2), kernel generation
    // (L * N/2 complex MACs = 8 flops, x2).
    const double gemm = 3 * 2 * h * 2 * h * tokens;
    const double fft = 2 * 3 * 2.5 * 2 * l * std::log2(2.0 * l) * h * g_batch;
    const double kern = 2 * 8.0 * l * 32 * h;
    return kLayers * (gemm + fft + kern);
  }
  if (name == "mamba") {
    // Per layer, E = 2H, N = 16, R = H/16: in_proj H->2E, x_proj E->R+2N, dt_proj R->E and
    // out_proj E->H GEMMs (x3 for backward); the scan ~6 flops per channel and state forward
    // (dt A, exp, 2 FMA) and ~20 backward (the forward recomputed from the chunk checkpoints,
    // then the reverse recurrence).
    const double e = 2 * h, n = 16, r = h / 16;
    const double gemm = 3 * 2 * (h * 2 * e + e * (r + 2 * n) + r * e + e * h) * tokens;
    const double scan = 26 * e * n * tokens;
    return kLayers * (gemm + scan);
  }
  if (name == "lstm" || name == "gru") {
    // Per layer: the input projection H->gH and the hidden-to-hidden product H->gH per token
    // (g = 4 or 3), x3 for backward.
    const double g = name == "lstm" ? 4 : 3;
    return kLayers * 3 * 2 * 2 * h * g * h * tokens;
  }
  // Per layer: q, k, v, out (4 H*H), MLP (2 * H * 512) GEMMs and attention 2 * L^2 * H (QK^T and
  // PV), all x2 flops per MAC and x3 for backward.
  const double gemm = 3 * 2 * (4 * h * h + 2 * h * 512) * tokens;
  const double attn = 3 * 2 * 2 * static_cast<double>(l) * l * h * g_batch;
  return kLayers * (gemm + attn);
}

void Train(benchmark::State& state, const std::string& name) {
  SetNumThreads(g_threads);
  const int l = static_cast<int>(state.range(0));
  std::unique_ptr<Model> model = Make(name, l);
  Adam opt(OptimizerGroups(model->ParamGroups(), 0.01, 0.05),
           AdamOptions{.decoupled_weight_decay = true});
  std::mt19937 gen(1);
  std::vector<int32_t> tokens(g_batch * l), lengths(g_batch, l), labels(g_batch);
  for (auto& t : tokens) t = static_cast<int32_t>(gen() % kVocab);
  for (auto& t : labels) t = static_cast<int32_t>(gen() % kClasses);
  Batch batch{g_batch, l, tokens.data(), lengths.data()};
  Rng rng(1);
  auto step = [&] {
    Var loss = lra::CrossEntropy(model->Forward(batch, true, rng), labels);
    Backward(loss);
    opt.Step();
    opt.ZeroGrad();
  };
  step();  // warm-up: FFTW plans, oneDNN primitives, pool buffers
  BufferPool::Get().ResetPeak();
  rusage before;
  getrusage(RUSAGE_SELF, &before);
  for (auto _ : state) step();
  const double tok = static_cast<double>(g_batch) * l * state.iterations();
  state.counters["tokens/s"] = benchmark::Counter(tok, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(StepFlops(name, l) * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.counters["peak_pool_MB"] = BufferPool::Get().stats().peak_bytes_in_use / 1e6;
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  state.counters["maxrss_MB"] = ru.ru_maxrss / 1e3;
  // CPU seconds of all threads per step (user + system): on a loaded machine, where wall time
  // depends on the other processes, this still measures the work (OMP_WAIT_POLICY=passive, so
  // waiting threads sleep instead of spinning).
  auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
  state.counters["cpu_ms/step"] =
      1e3 *
      (secs(ru.ru_utime) + secs(ru.ru_stime) - secs(before.ru_utime) - secs(before.ru_stime)) /
      state.iterations();
  // Page faults in the timed steps: memory reuse means ~0 after the warm-up step.
  state.counters["faults/step"] =
      double(ru.ru_minflt + ru.ru_majflt - before.ru_minflt - before.ru_majflt) / state.iterations();
}

void BM_S4dTrain(benchmark::State& s) { Train(s, "s4d"); }
void BM_TransformerTrain(benchmark::State& s) { Train(s, "transformer"); }
BENCHMARK(BM_S4dTrain)->Arg(1024)->Arg(2048)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TransformerTrain)->Arg(1024)->Arg(2048)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
void BM_MambaTrain(benchmark::State& s) { Train(s, "mamba"); }
void BM_LstmTrain(benchmark::State& s) { Train(s, "lstm"); }
void BM_GruTrain(benchmark::State& s) { Train(s, "gru"); }
BENCHMARK(BM_MambaTrain)->Arg(1024)->Arg(2048)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LstmTrain)->Arg(1024)->Arg(2048)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GruTrain)->Arg(1024)->Arg(2048)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

// One stream, token by token through all 4 layers (the recurrent mode, ssm_recurrent.h): tokens/s.
void BM_S4dRecurrentOneStream(benchmark::State& state) {
  SetNumThreads(2);
  std::unique_ptr<Model> model = Make("s4d", 1024);
  RecurrentModel* rec = model->Recurrent();
  if (!rec->Reset(1).ok()) std::abort();
  std::vector<float> logits(kClasses);
  int32_t tok = 3;
  const bool with_head = state.range(0) != 0;
  for (auto _ : state) {
    rec->Step(&tok, with_head ? logits.data() : nullptr);
    tok = (tok * 31 + 7) % kVocab;
  }
  state.counters["tokens/s"] = benchmark::Counter(state.iterations(), benchmark::Counter::kIsRate);
}
// Arg 0: features only (the running mean is kept); 1: also the logits every token.
BENCHMARK(BM_S4dRecurrentOneStream)->Arg(0)->Arg(1);

}  // namespace
}  // namespace lra::models

// --matmul_precision=bf16 (before the benchmark flags) runs everything in the opt-in bf16 matmul
// mode (core/kernels/onednn/gemm.h); --batch=N and --threads=N set the training benchmarks'
// batch (default 8) and threads (default 2); --attention=dense|blocked the Transformer's
// attention (default blocked).
int main(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--batch=", 0) == 0 || arg.rfind("--threads=", 0) == 0) {
      const bool batch = arg[2] == 'b';
      const int v = std::atoi(arg.c_str() + (batch ? 8 : 10));
      if (v < 1) {
        std::fprintf(stderr, "%s: want a positive integer\n", arg.c_str());
        return 1;
      }
      (batch ? lra::models::g_batch : lra::models::g_threads) = v;
    } else if (arg.rfind("--attention=", 0) == 0) {
      lra::models::g_attention = arg.substr(12);
      if (lra::models::g_attention != "dense" && lra::models::g_attention != "blocked") {
        std::fprintf(stderr, "%s: want --attention=dense or --attention=blocked\n", arg.c_str());
        return 1;
      }
    } else if (arg == "--matmul_precision=bf16") {
      const absl::Status s = lra::SetMatmulPrecision(lra::MatmulPrecision::kBf16);
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
        return 1;
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}

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
// timed loop), GFLOP/s from an analytic count of the dominant terms (tools/speed_check.sh
// divides it by the FMA peak it measures in the same run: core_benchmark BM_FmaPeak), and
// cpu_ms/step (CPU time of all threads per step). tools/train_speed_ratio.sh runs the S4D,
// Mamba and LSTM training benchmarks interleaved and prints their ratios.
//
// BM_PaperTextTrain/<model>/<L> and BM_PaperTextFloor/<model>/<L> (below) time any registered
// model at its LRA Text paper config, and the same encoder with attention made free.
//
// Run: bazel run --config=native //models:model_benchmark [-- --matmul_precision=bf16]
//      [--batch=N] [--threads=N] [--steps=N]; tools/speed_check.sh runs it interleaved with PyTorch.
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "core/base/status_macros.h"
#include "core/optim/adam.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/tensor.h"
#include "core/ops/loss.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "harness/config.h"
#include "models/registry.h"
#include "models/testing/spec_task.h"
#include "models/transformer/transformer.h"

namespace lra::models {
namespace {

constexpr int kVocab = 256, kClasses = 10, kH = 128, kLayers = 4;
// --batch=N and --threads=N (before the benchmark flags) change these; tools/speed_check.sh runs
// the Transformer at 4K with batch 2 (PyTorch runs out of memory at 8) and 1 thread for scaling.
int g_batch = 8, g_threads = 2;
// --attention=dense|blocked: the Transformer's attention algorithm (default blocked: the
// register-tiled flash-style kernels, at least as fast as dense at 1K and O(L) memory).
std::string g_attention = "blocked";
// --steps=N: the BM_PaperText* benchmarks time exactly N steps (default: Google Benchmark's
// min_time rule, which reruns the setup and warm-up of a multi-second step several times).
int g_steps = 0;

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

// Under tools/profile_step.sh: `perf record -D -1 --control=fifo:CTL,ACK` starts with sampling
// off and the script names the two fifos in LRA_PERF_CTL and LRA_PERF_ACK; the timed loop sends
// "enable" before its first step and "disable" after its last, so the profile holds the timed
// steps only (not model creation, the warm-up step or teardown). Waits for perf's "ack". A no-op
// when the variables are not set.
void PerfControl(const char* command) {
  const char* ctl = std::getenv("LRA_PERF_CTL");
  const char* ack = std::getenv("LRA_PERF_ACK");
  if (ctl == nullptr || ack == nullptr) return;
  if (FILE* f = std::fopen(ctl, "w"); f != nullptr) {
    std::fprintf(f, "%s\n", command);
    std::fclose(f);
  }
  if (FILE* f = std::fopen(ack, "r"); f != nullptr) {
    char line[16];
    if (std::fgets(line, sizeof(line), f) == nullptr) std::fprintf(stderr, "perf: no ack\n");
    std::fclose(f);
  }
}

// The timed loop shared by every training benchmark: `step` once as warm-up (FFTW plans, oneDNN
// primitives, pool buffers), then timed; sets the counters of the header comment. `flops` is the
// analytic count of one step (0: no GFLOP/s counter).
void TimeSteps(benchmark::State& state, const std::function<void()>& step, int64_t tokens_per_step,
               double flops) {
  step();
  BufferPool::Get().ResetPeak();
  rusage before;
  getrusage(RUSAGE_SELF, &before);
  PerfControl("enable");
  for (auto _ : state) step();
  PerfControl("disable");
  const double tok = static_cast<double>(tokens_per_step) * state.iterations();
  state.counters["tokens/s"] = benchmark::Counter(tok, benchmark::Counter::kIsRate);
  if (flops > 0) {
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  }
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
  TimeSteps(
      state,
      [&] {
        Var loss = lra::CrossEntropy(model->Forward(batch, true, rng), labels);
        Backward(loss);
        opt.Step();
        opt.ZeroGrad();
      },
      int64_t{g_batch} * l, StepFlops(name, l));
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

// --- LRA Table 2's models at the Text paper config (issue 15) ----------------------------------
//
// BM_PaperTextTrain/<model>/<L>: a training step of any registered model that has a Text paper
// config, as `lra bench --tier=paper` builds it (harness/config.h ResolveRunConfig: the tier
// defaults, models/<model>/configs/paper.textproto and text.paper.textproto; for the Transformer
// family d_model 256, MLP 1024, 4 layers, 4 heads, dropout on) at length L and --batch examples
// (default 8), random tokens 1..V-1 at full length (harness/bench.cc MakeBatch), AdamW with the
// config's betas, eps and weight decay.
//
// BM_PaperTextFloor/<model>/<L> (models built on models/transformer's encoder): the same encoder
// with the model's attention replaced by q + k + v, an elementwise sum that costs next to nothing
// but keeps the forward and backward of every q, k, v and output projection. Its time is what a
// step costs with attention free: 1 - floor / train is the attention's share of the model's step,
// and (the model's speedup over the dense Transformer) / (1 - share) the speedup no attention
// kernel can pass. A variant's own attention parameters (Linformer's length projections,
// Sinkhorn's sorting network) go with its attention. Both read the configs from the source tree:
// run from the repository root, or with `bazel run`.
struct PaperSetup {
  std::unique_ptr<Model> model;
  std::unique_ptr<Adam> opt;
  TaskInfo task;
};

absl::StatusOr<PaperSetup> MakePaperSetup(const std::string& name, int l, bool floor) {
  harness::RunConfig overrides;
  overrides.mutable_train()->set_batch_size(g_batch);
  LRA_ASSIGN_OR_RETURN(harness::RunConfig config,
                       harness::ResolveRunConfig("text", name, "paper", overrides));
  LRA_ASSIGN_OR_RETURN(auto options, harness::ModelOptionMap(config));
  PaperSetup s;
  LRA_ASSIGN_OR_RETURN(s.task, testing::TaskInfoFromSpec("text", "", l));
  const uint64_t seed = config.train().seed();
  if (!floor) {
    LRA_ASSIGN_OR_RETURN(s.model, CreateModel(name, s.task, options, seed));
  } else {
    // The encoder's own options (the variant's extra ones, e.g. block_size, dropped).
    const std::vector<OptionSpec> specs = transformer::TransformerOptionsWithout({"attention"});
    std::map<std::string, std::string> kept;
    for (const OptionSpec& spec : specs) {
      if (auto it = options.find(spec.name); it != options.end()) kept.insert(*it);
    }
    LRA_ASSIGN_OR_RETURN(Options o, Options::Make(specs, kept));
    LRA_ASSIGN_OR_RETURN(
        s.model, transformer::CreateTransformer(
                     name + " floor", s.task, o, seed,
                     [](const Var& q, const Var& k, const Var& v, const std::vector<int32_t>&,
                        const std::vector<uint8_t>&, int, float, Rng&) {
                       return Add(Add(q, k), v);
                     }));
  }
  const harness::TrainConfig& t = config.train();
  AdamOptions adam;
  if (t.has_beta1()) adam.beta1 = static_cast<float>(t.beta1());
  if (t.has_beta2()) adam.beta2 = static_cast<float>(t.beta2());
  if (t.has_eps()) adam.eps = static_cast<float>(t.eps());
  adam.decoupled_weight_decay = t.optimizer() != "adam";
  s.opt = std::make_unique<Adam>(OptimizerGroups(s.model->ParamGroups(), t.lr(), t.weight_decay()),
                                 adam);
  return s;
}

void PaperTrain(benchmark::State& state, const std::string& name, bool floor) {
  SetNumThreads(g_threads);
  const int l = static_cast<int>(state.range(0));
  absl::StatusOr<PaperSetup> s = MakePaperSetup(name, l, floor);
  if (!s.ok()) {
    state.SkipWithError(std::string(s.status().message()).c_str());
    for (auto _ : state) {
    }
    return;
  }
  std::mt19937 gen(1);
  std::vector<int32_t> tokens(int64_t{g_batch} * l), lengths(g_batch, l), labels(g_batch);
  for (auto& t : tokens) t = 1 + static_cast<int32_t>(gen() % (s->task.vocab_size - 1));
  for (auto& t : labels) t = static_cast<int32_t>(gen() % s->task.num_classes);
  Batch batch{g_batch, l, tokens.data(), lengths.data()};
  Rng dropout = Rng(1).Stream(RngStream::kDropout);
  // The buffer pool's bytes in use before the forward (parameters, their gradients, Adam's
  // moments) and after forward + loss (plus what the forward keeps for backward).
  int64_t state_bytes = 0, forward_bytes = 0;
  TimeSteps(
      state,
      [&] {
        state_bytes = BufferPool::Get().stats().bytes_in_use;
        Var loss = lra::CrossEntropy(s->model->Forward(batch, true, dropout), labels);
        forward_bytes = BufferPool::Get().stats().bytes_in_use;
        Backward(loss);
        s->opt->Step();
        s->opt->ZeroGrad();
      },
      int64_t{g_batch} * l, 0);
  state.counters["params"] = static_cast<double>(CountParameters(*s->model));
  // Peak memory split: state_MB + saved_MB + (peak_pool_MB - both: backward's workspace).
  state.counters["state_MB"] = state_bytes / 1e6;
  state.counters["saved_MB"] = (forward_bytes - state_bytes) / 1e6;
}

// Registers both benchmarks for every model with a Text paper config (the floor only for models
// built on the Transformer encoder: those whose options include heads and mlp_dim), at the four
// lengths of LRA Table 2. Run after the plugins' static registration, from main.
void RegisterPaperBenchmarks() {
  for (const ModelInfo* m : AllModels()) {
    if (!harness::ResolveRunConfig("text", m->name, "paper", {}).ok()) continue;
    bool encoder = false, mlp = false;
    for (const OptionSpec& o : m->options) {
      encoder |= o.name == "heads";
      mlp |= o.name == "mlp_dim";
    }
    for (const bool floor : {false, true}) {
      if (floor && !(encoder && mlp)) continue;
      const std::string name = m->name;
      benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(
          ((floor ? "BM_PaperTextFloor/" : "BM_PaperTextTrain/") + name).c_str(),
          [name, floor](benchmark::State& st) { PaperTrain(st, name, floor); })
          ->Arg(1024)
          ->Arg(2048)
          ->Arg(3072)
          ->Arg(4096)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      if (g_steps > 0) b->Iterations(g_steps);
    }
  }
}

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

// --matmul_precision=bf16 (fp32 is the default) runs everything in the opt-in bf16 matmul
// mode (core/kernels/onednn/gemm.h); --batch=N and --threads=N set the training benchmarks'
// batch (default 8) and threads (default 2); --attention=dense|blocked the Transformer's
// attention (default blocked); --steps=N fixes the BM_PaperText* benchmarks' timed steps.
int main(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--batch=", 0) == 0 || arg.rfind("--threads=", 0) == 0 ||
        arg.rfind("--steps=", 0) == 0) {
      const char* text = arg.c_str() + arg.find('=') + 1;
      char* end = nullptr;
      const long v = std::strtol(text, &end, 10);
      if (end == text || *end != '\0' || v < 1 || v > 1 << 20) {
        std::fprintf(stderr, "%s: want a positive integer (at most 1048576)\n", arg.c_str());
        return 1;
      }
      (arg[2] == 'b'   ? lra::models::g_batch
       : arg[2] == 't' ? lra::models::g_threads
                       : lra::models::g_steps) = v;
    } else if (arg.rfind("--attention=", 0) == 0) {
      lra::models::g_attention = arg.substr(12);
      if (lra::models::g_attention != "dense" && lra::models::g_attention != "blocked") {
        std::fprintf(stderr, "%s: want --attention=dense or --attention=blocked\n", arg.c_str());
        return 1;
      }
    } else if (arg.rfind("--matmul_precision=", 0) == 0) {
      const std::string p = arg.substr(19);
      if (p != "fp32" && p != "bf16") {
        std::fprintf(stderr, "%s: want --matmul_precision=fp32 or --matmul_precision=bf16\n",
                     arg.c_str());
        return 1;
      }
      const absl::Status s = lra::SetMatmulPrecision(p == "bf16" ? lra::MatmulPrecision::kBf16
                                                                 : lra::MatmulPrecision::kF32);
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
        return 1;
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  lra::models::RegisterPaperBenchmarks();
  benchmark::Initialize(&argc, argv);
  // Anything neither ours nor Google Benchmark's (a typo, a flag of another tool) is an error,
  // not a silent run with the defaults.
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}

// "mamba": the Mamba model (Gu and Dao, 2023, arXiv 2312.00752) as state-spaces/mamba builds it
// (commit e9594ce; cited below by path and line): token embedding -> n_layers pre-norm residual
// blocks x <- x + Mixer(Norm(x)) (mamba_ssm/modules/block.py lines 51-53 with the residual of
// mamba_ssm/models/mixer_seq_simple.py lines 199-205; Norm = RMSNorm or LayerNorm, eps 1e-5,
// mixer_seq_simple.py lines 36 and 71) -> final norm (norm_f, line 205) -> pooling and
// classifier head (S4's: Linear, or for Retrieval the NLI dual head, as models/s4 does).
//
// The mixer (mamba_ssm/modules/mamba_simple.py, class Mamba, forward lines 134-205, slow path):
//   [x | z] = in_proj(u)                          Linear(H, 2E), E = expand * H   (line 62)
//   x = silu(causal depthwise conv1d(x, d_conv))   (lines 64-72, 169-177)
//   [dt | B | C] = x_proj(x)                      Linear(E, R + 2N), no bias     (line 77)
//   dt = dt_proj.weight dt                        Linear(R, E); its bias is the scan's
//                                                  delta_bias, with softplus    (lines 184, 197-198)
//   y = selective_scan(x, dt, A = -exp(A_log), B, C, D, z)   (lines 143, 189-200), i.e.
//       y = (C h + D x) * silu(z): ZOH for A, Euler for B (core/ops/ssm.h)
//   out = out_proj(y)                             Linear(E, H)                   (line 117)
// R = dt_rank = ceil(H / 16) ("auto", line 58).
//
// Bidirectional (option; LRA classification is non-causal, and Mamba's repository has no
// bidirectional block): a second set of mixer parameters (in_proj, conv, x_proj, dt_proj,
// A_log, D) runs on the input reversed within each sequence's length, its gated output is
// reversed back, and the two directions' outputs are summed (`combine=sum`) or concatenated
// (`combine=concat`, out_proj then reads 2E) before the one out_proj. Reversing within the
// length (models/rnn/reverse.h) makes the reverse scan start at the last real token, so padding
// never reaches a real position; the forward direction is causal, so a left-aligned sequence's
// real positions never see its right padding either, and pooling reads only real positions.
//
// Initialisation as the reference: in_proj and x_proj PyTorch's nn.Linear default
// U(+-1/sqrt(in)); the conv weight and bias nn.Conv1d's default U(+-1/sqrt(d_conv)) (fan_in =
// in_channels / groups * kernel = d_conv); dt_proj.weight U(+-dt_scale / sqrt(R)) (lines 83-87);
// dt_proj.bias = inverse softplus of dt ~ exp(U[log dt_min, log dt_max]) clamped below at
// dt_init_floor (lines 91-99); A_log[d, n] = log(n + 1), S4D-Real (lines 103-110); D = 1
// (line 114); out_proj U(+-1/sqrt(in)) / sqrt(n_layers) (mixer_seq_simple.py _init_weights,
// lines 113-121, rescale_prenorm_residual with one residual per layer); Linear biases (bias=true)
// zero (line 102); norm weights 1. The embedding is lra's Encoder (N(0, 1), or the linear pixel
// encoder), not the reference's N(0, 0.02) (line 104): the first block reads it through its
// norm, so only its scale relative to the residual branch differs. A_log and D carry no weight
// decay (`_no_weight_decay`, lines 111 and 115); biases and norms none either (lra's kNoDecay).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ops/ops.h"
#include "core/ops/rnn.h"
#include "core/ops/ssm.h"
#include "core/random.h"
#include "models/common/layers.h"
#include "models/registry.h"
#include "models/rnn/reverse.h"
#include "models/rnn/streaming.h"

namespace lra::models::mamba {
namespace {

enum class Combine { kSum, kConcat };

struct Config {
  int d_model = 0, n_layers = 0, d_state = 0, d_conv = 0, d_inner = 0, dt_rank = 0;
  double dt_min = 0, dt_max = 0, dt_init_floor = 0, dt_scale = 0;
  bool conv_bias = true, bias = false, rms = true, bidirectional = false;
  Combine combine = Combine::kSum;
  float norm_eps = 1e-5f;
  PoolKind pool = PoolKind::kMean;
  bool linear_pixels = true;
  PixelNorm pixel_norm = PixelNorm::kUnit;
};

absl::StatusOr<Config> ParseConfig(const Options& o) {
  Config c;
  c.d_model = o.Int("d_model");
  c.n_layers = o.Int("n_layers");
  c.d_state = o.Int("d_state");
  c.d_conv = o.Int("d_conv");
  c.d_inner = o.Int("expand") * c.d_model;
  // dt_rank "auto" = ceil(d_model / 16) (mamba_simple.py line 58); 0 here.
  c.dt_rank = o.Int("dt_rank") > 0 ? o.Int("dt_rank") : (c.d_model + 15) / 16;
  c.dt_min = o.Float("dt_min");
  c.dt_max = o.Float("dt_max");
  c.dt_init_floor = o.Float("dt_init_floor");
  c.dt_scale = o.Float("dt_scale");
  if (c.dt_min > c.dt_max)
    return absl::InvalidArgumentError(absl::StrCat("mamba: dt_min=", c.dt_min, " exceeds dt_max=",
                                                   c.dt_max, "; set dt_min <= dt_max"));
  c.conv_bias = o.Bool("conv_bias");
  c.bias = o.Bool("bias");
  c.rms = o.String("norm") == "rms";
  c.norm_eps = static_cast<float>(o.Float("norm_eps"));
  c.bidirectional = o.Bool("bidirectional");
  c.combine = o.String("combine") == "concat" ? Combine::kConcat : Combine::kSum;
  auto pool = ParsePoolKind(o.String("pool"));
  if (!pool.ok()) return pool.status();
  c.pool = *pool;
  c.linear_pixels = o.Bool("linear_pixels");
  auto pixel_norm = ParsePixelNorm(o.String("pixel_norm"));
  if (!pixel_norm.ok()) return pixel_norm.status();
  c.pixel_norm = *pixel_norm;
  return c;
}

// RMSNorm (mamba_ssm/ops/triton/layer_norm.py rms_norm_ref, lines 117-121: x / sqrt(mean(x^2) +
// eps) * weight, no bias) or LayerNorm (nn.LayerNorm: gamma and beta), over the last axis.
class MambaNorm {
 public:
  MambaNorm() = default;
  MambaNorm(ParamStore& ps, const std::string& name, int dim, bool rms, float eps)
      : rms_(rms), eps_(eps) {
    gamma_ = ps.Add(name + ".gamma", Tensor::Full({dim}, 1.0f), kNoDecay);
    if (!rms) beta_ = ps.Add(name + ".beta", Tensor::Zeros({dim}), kNoDecay);
  }
  Var Forward(const Var& x) const {
    return rms_ ? RmsNorm(x, gamma_, eps_) : LayerNorm(x, gamma_, beta_, eps_);
  }

 private:
  bool rms_ = true;
  float eps_ = 1e-5f;
  Var gamma_, beta_;
};

Tensor ValueOrEmpty(const Var& v) { return v.defined() ? v.value() : Tensor(); }

// One direction's mixer parameters (everything of mamba_simple.py's Mamba but out_proj).
struct Direction {
  Var in_w, in_b;      // [H, 2E], [2E] (bias=true only)
  Var conv_w, conv_b;  // [E, d_conv], [E] (conv_bias=true only)
  Var x_w;             // [E, R + 2N]
  Var dt_w, dt_b;      // [R, E], [E]
  Var a_log, d;        // [E, N], [E]
};

// Streaming state of one layer over S streams.
struct LayerState {
  std::vector<Tensor> conv, ssm;  // per direction (causal: one): [S, E, d_conv], [S, E, N]
  Tensor a;                       // -exp(A_log), [E, N], at Reset
};

class MambaBlock {
 public:
  MambaBlock(ParamStore& ps, const std::string& name, const Config& c) : c_(c) {
    Rng& rng = ps.init_rng();
    const int h = c.d_model, e = c.d_inner, n = c.d_state, r = c.dt_rank, k = c.d_conv;
    norm_ = MambaNorm(ps, name + ".norm", h, c.rms, c.norm_eps);
    const int dirs = c.bidirectional ? 2 : 1;
    for (int i = 0; i < dirs; ++i) {
      const std::string p = absl::StrCat(name, i == 0 ? ".mixer" : ".mixer_rev");
      Direction d;
      const float in_bound = 1.0f / std::sqrt(static_cast<float>(h));
      d.in_w = ps.Add(p + ".in_proj.w", RandomUniform({h, 2 * e}, -in_bound, in_bound, rng));
      if (c.bias) d.in_b = ps.Add(p + ".in_proj.b", Tensor::Zeros({2 * e}), kNoDecay);
      const float conv_bound = 1.0f / std::sqrt(static_cast<float>(k));
      d.conv_w = ps.Add(p + ".conv1d.w", RandomUniform({e, k}, -conv_bound, conv_bound, rng));
      if (c.conv_bias)
        d.conv_b = ps.Add(p + ".conv1d.b", RandomUniform({e}, -conv_bound, conv_bound, rng),
                          kNoDecay);
      const float x_bound = 1.0f / std::sqrt(static_cast<float>(e));
      d.x_w = ps.Add(p + ".x_proj.w", RandomUniform({e, r + 2 * n}, -x_bound, x_bound, rng));
      const float dt_std = static_cast<float>(c.dt_scale / std::sqrt(static_cast<double>(r)));
      d.dt_w = ps.Add(p + ".dt_proj.w", RandomUniform({r, e}, -dt_std, dt_std, rng));
      std::vector<float> dt_bias(e);
      const double lo = std::log(c.dt_min), hi = std::log(c.dt_max);
      for (int j = 0; j < e; ++j) {
        const double dt = std::max(std::exp(rng.Uniform() * (hi - lo) + lo), c.dt_init_floor);
        dt_bias[j] = static_cast<float>(dt + std::log(-std::expm1(-dt)));  // softplus^-1(dt)
      }
      d.dt_b = ps.Add(p + ".dt_proj.b", Tensor::FromVector({e}, dt_bias), kNoDecay);
      std::vector<float> a_log(static_cast<size_t>(e) * n);
      for (int j = 0; j < e; ++j)
        for (int m = 0; m < n; ++m) a_log[static_cast<size_t>(j) * n + m] = std::log(m + 1.0f);
      d.a_log = ps.Add(p + ".A_log", Tensor::FromVector({e, n}, a_log), kNoDecay);
      d.d = ps.Add(p + ".D", Tensor::Full({e}, 1.0f), kNoDecay);
      dirs_.push_back(d);
    }
    const int out_in = c.combine == Combine::kConcat && dirs == 2 ? 2 * e : e;
    const float out_bound = 1.0f / std::sqrt(static_cast<float>(out_in)) /
                            std::sqrt(static_cast<float>(std::max(c.n_layers, 1)));
    out_w_ = ps.Add(name + ".out_proj.w", RandomUniform({out_in, h}, -out_bound, out_bound, rng));
    if (c.bias) out_b_ = ps.Add(name + ".out_proj.b", Tensor::Zeros({h}), kNoDecay);
  }

  Var Forward(const Var& x, const int32_t* lengths) const {
    Var xn = norm_.Forward(x);
    Var y = Mix(dirs_[0], xn);
    if (dirs_.size() == 2) {
      Var yb = ReverseWithinLengths(Mix(dirs_[1], ReverseWithinLengths(xn, lengths)), lengths);
      y = c_.combine == Combine::kSum ? Add(y, yb) : Concat({y, yb}, 2);
    }
    return Add(x, Linear(y, out_w_, out_b_));
  }

  void ResetState(LayerState& s, int streams) const {
    s.a = Neg(Exp(dirs_[0].a_log)).value();
    s.conv.assign(1, Tensor::Zeros({streams, c_.d_inner, c_.d_conv}));
    s.ssm.assign(1, Tensor::Zeros({streams, c_.d_inner, c_.d_state}));
  }

  // One token per stream (causal blocks only), x [S, H] updated in place: mamba_simple.py
  // Mamba.step (lines 207-255) for the conv window and state, via core's step ops.
  Tensor Step(LayerState& s, const Tensor& x) const {
    NoGrad no_grad;
    const Direction& p = dirs_[0];
    const int e = c_.d_inner, n = c_.d_state, r = c_.dt_rank;
    Var xv = Constant(x);
    Var xz = Linear(norm_.Forward(xv), p.in_w, p.in_b);
    Tensor xc = CausalConv1dStep(s.conv[0], Slice(xz, 1, 0, e).value(), p.conv_w.value(),
                                 ValueOrEmpty(p.conv_b), /*silu=*/true);
    Var dbl = Linear(Constant(xc), p.x_w);
    Tensor dt = Linear(Slice(dbl, 1, 0, r), p.dt_w).value();
    Tensor y = SelectiveScanStep(s.ssm[0], xc, dt, s.a, Slice(dbl, 1, r, n).value(),
                                 Slice(dbl, 1, r + n, n).value(), p.d.value(),
                                 Slice(xz, 1, e, e).value(), p.dt_b.value(),
                                 SelectiveScanOptions{/*delta_softplus=*/true});
    return Add(xv, Linear(Constant(y), out_w_, out_b_)).value();
  }

 private:
  Var Mix(const Direction& p, const Var& xn) const {
    const int e = c_.d_inner, n = c_.d_state, r = c_.dt_rank;
    // in_proj as two GEMMs on the column halves of its weight (x, then z): the same products as
    // one GEMM and a split of its [B, L, 2E] output, without copying the output in two (and its
    // gradient back) on every step.
    auto half = [&](const Var& v, int i) { return v.defined() ? Slice(v, -1, i * e, e) : Var(); };
    Var x = Linear(xn, half(p.in_w, 0), half(p.in_b, 0));
    Var z = Linear(xn, half(p.in_w, 1), half(p.in_b, 1));
    Var xc = CausalConv1d(x, p.conv_w, p.conv_b, /*silu=*/true);
    Var dbl = Linear(xc, p.x_w);
    Var dt = Linear(Slice(dbl, 2, 0, r), p.dt_w);
    return SelectiveScan(xc, dt, Neg(Exp(p.a_log)), Slice(dbl, 2, r, n), Slice(dbl, 2, r + n, n),
                         p.d, z, p.dt_b, SelectiveScanOptions{/*delta_softplus=*/true});
  }

  Config c_;
  MambaNorm norm_;
  std::vector<Direction> dirs_;
  Var out_w_, out_b_;
};

class MambaModel;

class MambaRecurrent : public RecurrentModel {
 public:
  explicit MambaRecurrent(MambaModel* model) : model_(model) {}
  absl::Status Reset(int num_streams) override;
  void Step(const int32_t* tokens, float* logits) override;
  const float* LastFeatures() const override { return features_.data<float>(); }
  int feature_dim() const override;
  int64_t StateBytes(int64_t tokens) const override;

 private:
  MambaModel* model_;
  int streams_ = 0;
  std::vector<LayerState> states_;
  Tensor features_;
  RunningMeanHead mean_;
};

class MambaModel : public Model {
 public:
  MambaModel(const TaskInfo& task, const Config& cfg, uint64_t seed)
      : task_(task), cfg_(cfg), ps_(seed), recurrent_(this) {
    encoder_ = Encoder(ps_, "encoder", task, cfg.d_model, cfg.linear_pixels, cfg.pixel_norm);
    for (int i = 0; i < cfg.n_layers; ++i)
      blocks_.emplace_back(ps_, absl::StrCat("layers.", i), cfg);
    final_norm_ = MambaNorm(ps_, "final_norm", cfg.d_model, cfg.rms, cfg.norm_eps);
    if (task.pair) {
      dual_ = DualHead(ps_, "decoder", cfg.d_model, task.num_classes, DualKind::kNli,
                       cfg.d_model, /*gelu=*/true);
    } else {
      head_ = ClassifierHead(ps_, "decoder", cfg.d_model, task.num_classes, HeadKind::kLinear);
    }
  }

  Var Features(const int32_t* tokens, const int32_t* lengths, int b, int l) const {
    Var x = encoder_.Forward(tokens, b, l);
    for (const MambaBlock& blk : blocks_) x = blk.Forward(x, lengths);
    return final_norm_.Forward(x);
  }

  Var Forward(const Batch& batch, bool /*training*/, Rng& /*rng*/) override {
    auto encode = [&](const int32_t* tokens, const int32_t* lengths, int b, int l) {
      return Pool(Features(tokens, lengths, b, l), cfg_.pool, lengths);
    };
    if (task_.pair) {
      auto [x1, x2] = EncodePair(batch, task_.pad_id, encode);
      return dual_.Forward(x1, x2);
    }
    return head_.Forward(encode(batch.tokens, batch.lengths, batch.batch_size, batch.length));
  }

  std::vector<ParamGroup> ParamGroups() override { return ps_.Groups(); }

  RecurrentModel* Recurrent() override {
    // Causal blocks only; pair tasks need two streams per example; the running mean is the
    // streaming form of mean pooling only.
    if (cfg_.bidirectional || task_.pair || cfg_.pool != PoolKind::kMean) return nullptr;
    return &recurrent_;
  }

 private:
  friend class MambaRecurrent;
  TaskInfo task_;
  Config cfg_;
  ParamStore ps_;
  Encoder encoder_;
  std::vector<MambaBlock> blocks_;
  MambaNorm final_norm_;
  ClassifierHead head_;
  DualHead dual_;
  MambaRecurrent recurrent_;
};

int MambaRecurrent::feature_dim() const { return model_->cfg_.d_model; }

// Per layer the conv window [E, d_conv] and the SSM state [E, N] (ResetState), whatever `tokens`.
int64_t MambaRecurrent::StateBytes(int64_t /*tokens*/) const {
  const Config& c = model_->cfg_;
  return int64_t{c.n_layers} * c.d_inner * (c.d_conv + c.d_state) * int64_t{sizeof(float)};
}

absl::Status MambaRecurrent::Reset(int num_streams) {
  if (num_streams < 1) return absl::InvalidArgumentError("Reset: num_streams must be >= 1");
  NoGrad no_grad;
  streams_ = num_streams;
  states_.assign(model_->blocks_.size(), LayerState());
  for (size_t i = 0; i < states_.size(); ++i) model_->blocks_[i].ResetState(states_[i], streams_);
  features_ = Tensor::Zeros({streams_, model_->cfg_.d_model});
  mean_.Reset(streams_, model_->cfg_.d_model);
  return absl::OkStatus();
}

void MambaRecurrent::Step(const int32_t* tokens, float* logits) {
  NoGrad no_grad;
  const int h = model_->cfg_.d_model;
  Tensor x = Tensor::Empty({streams_, h});
  for (int s = 0; s < streams_; ++s) model_->encoder_.EncodeToken(tokens[s], x.data<float>() + s * h);
  for (size_t i = 0; i < model_->blocks_.size(); ++i) x = model_->blocks_[i].Step(states_[i], x);
  features_ = model_->final_norm_.Forward(Constant(x)).value();
  mean_.Add(features_, model_->head_, logits);
}

// The memory of one training step (harness/README.md "Memory estimate"), per layer and
// direction: the norm output, in_proj's [x | z] (2E), the conv output (E), x_proj's R + 2N,
// dt (E), the scan output (E) and its checkpoints (N E / 64), the reverse copies, out_proj's
// H, the residual, and every one of them again as a gradient: kTokenFloats * E per token is
// a conservative bound (E = 2H by default). Measured: 1.45x the peak RSS at batch 8 x 1024
// tokens, d_model 64, 2 bidirectional layers (//harness:memory_check_test prints it).
constexpr double kTokenFloats = 16;

MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  const double h = o.Int("d_model"), n = o.Int("d_state"), layers = o.Int("n_layers");
  const double e = o.Int("expand") * h, k = o.Int("d_conv");
  const double r = o.Int("dt_rank") > 0 ? o.Int("dt_rank") : std::ceil(h / 16);
  const double dirs = o.Bool("bidirectional") ? 2 : 1, classes = task.num_classes;
  const double docs = task.pair ? 2 : 1;
  const double per_dir = h * 2 * e + 2 * e + e * k + e + e * (r + 2 * n) + r * e + e + e * n + e;
  MemoryEstimate m;
  m.parameters = layers * (dirs * per_dir + (o.String("combine") == "concat" ? dirs : 1) * e * h +
                           3 * h) +
                 static_cast<double>(task.vocab_size) * h + 2 * h +
                 (task.pair ? 4 * h * h + h + h * classes + classes : h * classes + classes);
  const double tokens = docs * double(batch) * double(length);
  m.activations = layers * dirs * (kTokenFloats * e + 4 * (r + 2 * n)) * tokens +
                  layers * 4 * h * tokens + 4 * tokens * h;
  return m;
}

}  // namespace

ModelInfo Info() {
  ModelInfo info;
  info.name = "mamba";
  info.description =
      "Mamba: selective SSM blocks (in_proj, causal conv + SiLU, input-dependent dt/B/C, "
      "selective scan, SiLU gate, out_proj), pre-norm residual; arXiv 2312.00752";
  info.options = {
      OptionSpec{"d_model", "128", "model width H"}.Min(1),
      OptionSpec{"n_layers", "4", "number of residual blocks"}.Min(0),
      OptionSpec{"d_state", "16", "SSM state size N per channel"}.Min(1),
      OptionSpec{"d_conv", "4", "causal depthwise conv width"}.Min(1),
      OptionSpec{"expand", "2", "inner width E = expand * d_model"}.Min(1),
      OptionSpec{"dt_rank", "0", "rank of the dt projection (0 = ceil(d_model / 16))"}.Min(0),
      OptionSpec{"dt_min", "0.001", "log-uniform dt init lower bound", OptionType::kFloat}.Min(0, true),
      OptionSpec{"dt_max", "0.1", "log-uniform dt init upper bound", OptionType::kFloat}.Min(0, true),
      OptionSpec{"dt_init_floor", "0.0001", "dt init clamped below at this", OptionType::kFloat}.Min(0, true),
      OptionSpec{"dt_scale", "1.0", "dt_proj.weight ~ U(+-dt_scale / sqrt(dt_rank))", OptionType::kFloat}.Min(0),
      {"conv_bias", "true", "bias in the causal conv"},
      {"bias", "false", "biases in in_proj and out_proj"},
      {"norm", "rms", "rms (RMSNorm) or layer (LayerNorm)", OptionType::kString, {"rms", "layer"}},
      OptionSpec{"norm_eps", "1e-05", "norm epsilon", OptionType::kFloat}.Min(0, true),
      {"bidirectional", "false",
       "a second mixer over the input reversed within each length (no streaming mode)"},
      {"combine", "sum", "bidirectional: sum or concat the two directions before out_proj",
       OptionType::kString, {"sum", "concat"}},
      {"pool", "mean", "mean (over unpadded tokens), first or last", OptionType::kString,
       {"mean", "first", "last"}},
      {"linear_pixels", "true", "pixel tasks: Linear(1, H) on the scaled pixel instead of an embedding"},
      {"pixel_norm", "unit", "linear pixel input: unit, s4_cifar or center (models/s4)",
       OptionType::kString, {"unit", "s4_cifar", "center"}},
  };
  // Recurrent() needs causal blocks and mean pooling (MambaModel::Recurrent).
  info.streaming_options = {"bidirectional=false", "pool=mean"};
  info.create = [](const TaskInfo& task, const Options& o,
                   uint64_t seed) -> absl::StatusOr<std::unique_ptr<Model>> {
    absl::StatusOr<Config> cfg = ParseConfig(o);
    if (!cfg.ok()) return cfg.status();
    return std::unique_ptr<Model>(new MambaModel(task, *cfg, seed));
  };
  info.estimate = Estimate;
  return info;
}

}  // namespace lra::models::mamba

LRA_REGISTER_MODEL(lra::models::mamba::Info());

// "lstm" and "gru": recurrent baselines. Token embedding -> n_layers stacked recurrent layers ->
// pooling -> classifier head (S4's: Linear, or for Retrieval the NLI dual head).
//
// A layer is PyTorch's nn.LSTM / nn.GRU layer (torch.nn.LSTM and torch.nn.GRU documentation,
// pytorch.org/docs/stable/generated/torch.nn.LSTM.html and .../torch.nn.GRU.html; equations and
// gate order in core/ops/rnn.h): the input projection of all time steps as one GEMM
// (x W_ih + b_ih), then the recurrence (core/ops/rnn.h Lstm / Gru). Stacking is nn.LSTM's
// (num_layers > 1): layer l reads layer l-1's output directly, with no residual connection and
// no normalization, and a bidirectional layer concatenates its two directions' outputs
// (`combine=concat`, PyTorch's; `combine=sum` adds them, keeping the width H). Initialization is
// PyTorch's RNNBase.reset_parameters: every weight and bias U(-1/sqrt(H), 1/sqrt(H)).
//
// Padding. The forward direction is causal, so a left-aligned sequence's real positions never
// see its right padding; the reverse direction runs on the input reversed within each
// sequence's length (models/rnn/reverse.h), i.e. it starts at the last real token, as
// PyTorch's packed sequences (nn.utils.rnn.pack_padded_sequence) do. Pooling reads only real
// positions (mean over the length, or the first / last real position).
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ops/ops.h"
#include "core/ops/rnn.h"
#include "models/common/layers.h"
#include "models/registry.h"
#include "models/rnn/reverse.h"
#include "models/rnn/streaming.h"

namespace lra::models::rnn {
namespace {

enum class Cell { kLstm, kGru };

struct Config {
  Cell cell = Cell::kLstm;
  int d_model = 0, n_layers = 0;
  bool bidirectional = false, concat = true;
  PoolKind pool = PoolKind::kMean;
  bool linear_pixels = true;
  PixelNorm pixel_norm = PixelNorm::kUnit;

  int gates() const { return cell == Cell::kLstm ? 4 : 3; }
  // Width of a layer's output (and of the next layer's input).
  int out_width() const { return bidirectional && concat ? 2 * d_model : d_model; }
};

struct Direction {
  Var w_ih, b_ih, w_hh, b_hh;  // [in, gH], [gH], [H, gH], [gH]
};

class RnnLayer {
 public:
  RnnLayer(ParamStore& ps, const std::string& name, int in, const Config& c) : c_(c) {
    const int h = c.d_model, gh = c.gates() * h;
    const float bound = 1.0f / std::sqrt(static_cast<float>(h));
    Rng& rng = ps.init_rng();
    for (int i = 0; i < (c.bidirectional ? 2 : 1); ++i) {
      const std::string p = name + (i == 0 ? ".fwd" : ".rev");
      Direction d;
      d.w_ih = ps.Add(p + ".w_ih", RandomUniform({in, gh}, -bound, bound, rng));
      d.b_ih = ps.Add(p + ".b_ih", RandomUniform({gh}, -bound, bound, rng), kNoDecay);
      d.w_hh = ps.Add(p + ".w_hh", RandomUniform({h, gh}, -bound, bound, rng));
      d.b_hh = ps.Add(p + ".b_hh", RandomUniform({gh}, -bound, bound, rng), kNoDecay);
      dirs_.push_back(d);
    }
  }

  Var Forward(const Var& x, const int32_t* lengths) const {
    Var y = Run(dirs_[0], x);
    if (dirs_.size() == 1) return y;
    Var yb = ReverseWithinLengths(Run(dirs_[1], ReverseWithinLengths(x, lengths)), lengths);
    return c_.concat ? Concat({y, yb}, 2) : Add(y, yb);
  }

  // One token per stream (causal layers only): x [S, in] -> h [S, H]; h, c [S, H] in place.
  Tensor Step(const Tensor& x, Tensor& h, Tensor& c) const {
    NoGrad no_grad;
    const Direction& d = dirs_[0];
    Tensor xproj = Linear(Constant(x), d.w_ih, d.b_ih).value();
    return c_.cell == Cell::kLstm ? LstmStep(xproj, d.w_hh.value(), d.b_hh.value(), h, c)
                                  : GruStep(xproj, d.w_hh.value(), d.b_hh.value(), h);
  }

 private:
  Var Run(const Direction& d, const Var& x) const {
    Var xproj = Linear(x, d.w_ih, d.b_ih);  // all time steps in one GEMM
    return c_.cell == Cell::kLstm ? Lstm(xproj, d.w_hh, d.b_hh) : Gru(xproj, d.w_hh, d.b_hh);
  }

  Config c_;
  std::vector<Direction> dirs_;
};

class RnnModel;

class RnnRecurrent : public RecurrentModel {
 public:
  explicit RnnRecurrent(RnnModel* model) : model_(model) {}
  absl::Status Reset(int num_streams) override;
  void Step(const int32_t* tokens, float* logits) override;
  const float* LastFeatures() const override { return features_.data<float>(); }
  int feature_dim() const override;
  int64_t StateBytes(int64_t tokens) const override;

 private:
  RnnModel* model_;
  int streams_ = 0;
  std::vector<Tensor> h_, c_;  // per layer [S, H]
  Tensor features_;
  RunningMeanHead mean_;
};

class RnnModel : public Model {
 public:
  RnnModel(const TaskInfo& task, const Config& cfg, uint64_t seed)
      : task_(task), cfg_(cfg), ps_(seed), recurrent_(this) {
    encoder_ = Encoder(ps_, "encoder", task, cfg.d_model, cfg.linear_pixels, cfg.pixel_norm);
    for (int i = 0; i < cfg.n_layers; ++i)
      layers_.emplace_back(ps_, absl::StrCat("layers.", i), i == 0 ? cfg.d_model : cfg.out_width(),
                           cfg);
    const int w = feature_dim();
    if (task.pair) {
      dual_ = DualHead(ps_, "decoder", w, task.num_classes, DualKind::kNli, w, /*gelu=*/true);
    } else {
      head_ = ClassifierHead(ps_, "decoder", w, task.num_classes, HeadKind::kLinear);
    }
  }

  int feature_dim() const { return cfg_.n_layers > 0 ? cfg_.out_width() : cfg_.d_model; }

  Var Forward(const Batch& batch, bool /*training*/, Rng& /*rng*/) override {
    auto encode = [&](const int32_t* tokens, const int32_t* lengths, int b, int l) {
      Var x = encoder_.Forward(tokens, b, l);
      for (const RnnLayer& layer : layers_) x = layer.Forward(x, lengths);
      return Pool(x, cfg_.pool, lengths);
    };
    if (task_.pair) {
      auto [x1, x2] = EncodePair(batch, task_.pad_id, encode);
      return dual_.Forward(x1, x2);
    }
    return head_.Forward(encode(batch.tokens, batch.lengths, batch.batch_size, batch.length));
  }

  std::vector<ParamGroup> ParamGroups() override { return ps_.Groups(); }

  RecurrentModel* Recurrent() override {
    if (cfg_.bidirectional || task_.pair || cfg_.pool != PoolKind::kMean) return nullptr;
    return &recurrent_;
  }

 private:
  friend class RnnRecurrent;
  TaskInfo task_;
  Config cfg_;
  ParamStore ps_;
  Encoder encoder_;
  std::vector<RnnLayer> layers_;
  ClassifierHead head_;
  DualHead dual_;
  RnnRecurrent recurrent_;
};

int RnnRecurrent::feature_dim() const { return model_->feature_dim(); }

// Per layer h [H] (and the LSTM's cell c [H]), whatever `tokens`: what the recurrence carries.
// (Reset allocates c for the GRU too, unused; it is not state the GRU needs.)
int64_t RnnRecurrent::StateBytes(int64_t /*tokens*/) const {
  const Config& c = model_->cfg_;
  return int64_t{c.n_layers} * c.d_model * (c.cell == Cell::kLstm ? 2 : 1) * int64_t{sizeof(float)};
}

absl::Status RnnRecurrent::Reset(int num_streams) {
  if (num_streams < 1) return absl::InvalidArgumentError("Reset: num_streams must be >= 1");
  streams_ = num_streams;
  const int h = model_->cfg_.d_model;
  h_.assign(model_->layers_.size(), Tensor());
  c_.assign(model_->layers_.size(), Tensor());
  for (size_t i = 0; i < h_.size(); ++i) {
    h_[i] = Tensor::Zeros({streams_, h});
    c_[i] = Tensor::Zeros({streams_, h});
  }
  features_ = Tensor::Zeros({streams_, feature_dim()});
  mean_.Reset(streams_, feature_dim());
  return absl::OkStatus();
}

void RnnRecurrent::Step(const int32_t* tokens, float* logits) {
  NoGrad no_grad;
  const int h = model_->cfg_.d_model;
  Tensor x = Tensor::Empty({streams_, h});
  for (int s = 0; s < streams_; ++s) model_->encoder_.EncodeToken(tokens[s], x.data<float>() + s * h);
  for (size_t i = 0; i < model_->layers_.size(); ++i) x = model_->layers_[i].Step(x, h_[i], c_[i]);
  features_ = x;
  mean_.Add(features_, model_->head_, logits);
}

// The memory of one training step (harness/README.md "Memory estimate"), per layer and
// direction: the input (reversed copy), the projections of all steps (gH), the kept gate
// activations and c (gH + H), the output h (H), and their gradients: kTokenFloats * H per token
// with g = 4 is a conservative bound. Measured: 1.55x (LSTM) and 1.81x (GRU) the peak RSS at
// batch 8 x 1024 tokens, d_model 64, 2 bidirectional layers (//harness:memory_check_test).
constexpr double kTokenFloats = 24;

MemoryEstimate Estimate(Cell cell, const TaskInfo& task, const Options& o, int64_t batch,
                        int64_t length) {
  const double h = o.Int("d_model"), layers = o.Int("n_layers"), g = cell == Cell::kLstm ? 4 : 3;
  const bool bidir = o.Bool("bidirectional");
  const double dirs = bidir ? 2 : 1, w = bidir && o.String("combine") == "concat" ? 2 * h : h;
  const double k = task.num_classes, docs = task.pair ? 2 : 1;
  MemoryEstimate m;
  m.parameters = layers * dirs * (w * g * h + h * g * h + 2 * g * h) +
                 static_cast<double>(task.vocab_size) * h + 2 * h +
                 (task.pair ? 4 * w * w + w + w * k + k : w * k + k);
  const double tokens = docs * double(batch) * double(length);
  m.activations = layers * dirs * kTokenFloats * h * tokens + 4 * tokens * h;
  return m;
}

absl::StatusOr<std::unique_ptr<Model>> Create(Cell cell, const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  Config c;
  c.cell = cell;
  c.d_model = o.Int("d_model");
  c.n_layers = o.Int("n_layers");
  c.bidirectional = o.Bool("bidirectional");
  c.concat = o.String("combine") == "concat";
  auto pool = ParsePoolKind(o.String("pool"));
  if (!pool.ok()) return pool.status();
  c.pool = *pool;
  c.linear_pixels = o.Bool("linear_pixels");
  auto pixel_norm = ParsePixelNorm(o.String("pixel_norm"));
  if (!pixel_norm.ok()) return pixel_norm.status();
  c.pixel_norm = *pixel_norm;
  return std::unique_ptr<Model>(new RnnModel(task, c, seed));
}

ModelInfo Info(const char* name, Cell cell, const char* description) {
  ModelInfo info;
  info.name = name;
  info.description = description;
  info.options = {
      OptionSpec{"d_model", "128", "embedding width and hidden size H"}.Min(1),
      OptionSpec{"n_layers", "2", "stacked recurrent layers (no residual, as nn.LSTM)"}.Min(0),
      {"bidirectional", "false", "a reverse direction within each length (no streaming mode)"},
      {"combine", "concat", "bidirectional: concat (PyTorch's, width 2H) or sum the directions",
       OptionType::kString, {"concat", "sum"}},
      {"pool", "mean", "mean (over unpadded tokens), first or last", OptionType::kString,
       {"mean", "first", "last"}},
      {"linear_pixels", "true", "pixel tasks: Linear(1, H) on the scaled pixel instead of an embedding"},
      {"pixel_norm", "unit", "linear pixel input: unit, s4_cifar or center (models/s4)",
       OptionType::kString, {"unit", "s4_cifar", "center"}},
  };
  info.create = [cell](const TaskInfo& task, const Options& o, uint64_t seed) {
    return Create(cell, task, o, seed);
  };
  info.estimate = [cell](const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
    return Estimate(cell, task, o, batch, length);
  };
  info.configs = std::string("models/rnn/configs/") + name;  // one library, a folder per model
  // Recurrent() needs one direction and mean pooling (RnnModel::Recurrent).
  info.streaming_options = {"bidirectional=false", "pool=mean"};
  return info;
}

}  // namespace
}  // namespace lra::models::rnn

LRA_REGISTER_MODEL(lra::models::rnn::Info(
    "lstm", lra::models::rnn::Cell::kLstm,
    "LSTM baseline: stacked nn.LSTM-style layers (one GEMM for the input projections), "
    "optional bidirectional, pooled into a linear head"));
LRA_REGISTER_MODEL(lra::models::rnn::Info(
    "gru", lra::models::rnn::Cell::kGru,
    "GRU baseline: stacked nn.GRU-style layers (one GEMM for the input projections), "
    "optional bidirectional, pooled into a linear head"));

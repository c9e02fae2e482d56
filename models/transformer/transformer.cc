#include "models/transformer/transformer.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/ops/ops.h"
#include "core/parallel.h"
#include "core/random.h"
#include "models/common/layers.h"
#include "models/registry.h"
#include "models/rnn/streaming.h"

namespace lra::models::transformer {

std::vector<float> SinusoidalPositions(int length, int dim) {
  std::vector<float> pe(static_cast<size_t>(length) * dim, 0.0f);
  for (int pos = 0; pos < length; ++pos)
    for (int i = 0; 2 * i < dim; ++i) {
      const double div = std::exp(2.0 * i * -std::log(10000.0) / dim);
      pe[static_cast<size_t>(pos) * dim + 2 * i] = static_cast<float>(std::sin(pos * div));
      if (2 * i + 1 < dim)
        pe[static_cast<size_t>(pos) * dim + 2 * i + 1] = static_cast<float>(std::cos(pos * div));
    }
  return pe;
}

namespace {

// flax's LayerNorm epsilon (google/flax v0.3.6, flax/deprecated/nn/normalization.py LayerNorm,
// epsilon=1e-6), which every LayerNorm of LRA's Transformer uses (google-research/long-range-arena
// cd31e5c, lra_benchmarks/models/transformer/transformer.py: nn.LayerNorm with no epsilon).
constexpr float kLayerNormEps = 1e-6f;

enum class RetrievalHeadKind { kLra, kNli };

struct Config {
  int d_model, n_layers, heads, qkv_dim, mlp_dim, max_len;
  float dropout, attention_dropout;
  std::string positions;
  bool cls, blocked, gelu_tanh, decay_all;
  bool causal = false;  // query i attends to keys j <= i (core attention only)
  PoolKind pool;
  HeadKind head;
  RetrievalHeadKind retrieval;
  AttentionLayerFactory layer_attention;  // null: core's dense or blocked attention (`blocked`)
};

class Layer {
 public:
  Layer(ParamStore& ps, const std::string& n, const Config& c) : c_(c) {
    ln1_ = Norm(ps, n + ".ln1", c.d_model, NormKind::kLayer, kLayerNormEps);
    if (c.layer_attention)
      attn_ = c.layer_attention(ps, n + ".attn",
                                {c.d_model, c.qkv_dim, c.heads, c.max_len + (c.cls ? 1 : 0)});
    if (attn_.use_q)
      q_ = LinearLayer(ps, n + ".attn.q", c.d_model, c.qkv_dim, false, InitKind::kXavier);
    if (attn_.use_k)
      k_ = LinearLayer(ps, n + ".attn.k", c.d_model, c.qkv_dim, false, InitKind::kXavier);
    if (attn_.use_v)
      v_ = LinearLayer(ps, n + ".attn.v", c.d_model, c.qkv_dim, false, InitKind::kXavier);
    o_ = LinearLayer(ps, n + ".attn.out", c.qkv_dim, c.d_model, false, InitKind::kXavier);
    ln2_ = Norm(ps, n + ".ln2", c.d_model, NormKind::kLayer, kLayerNormEps);
    w1_ = LinearLayer(ps, n + ".mlp.w1", c.d_model, c.mlp_dim, true, InitKind::kXavier);
    w2_ = LinearLayer(ps, n + ".mlp.w2", c.mlp_dim, c.d_model, true, InitKind::kXavier);
  }

  // mask: empty or [B, L] (see Encode); it masks queries and keys, as flax does.
  Var Forward(const Var& x, const int32_t* lengths, const std::vector<uint8_t>& mask,
              bool training, Rng& rng) const {
    auto drop = [&](const Var& v) {
      return lra::Dropout(v, c_.dropout, training, rng);
    };
    Var h = ln1_.Forward(x, training);
    const std::vector<int32_t> lens(lengths, lengths + x.dim(0));
    if (attn_.forward) {
      const Var q = attn_.use_q ? q_.Forward(h) : Var();
      const Var k = attn_.use_k ? k_.Forward(h) : Var();
      const Var v = attn_.use_v ? v_.Forward(h) : Var();
      Var a = attn_.forward({h, q, k, v, lens, mask, c_.heads,
                             training ? c_.attention_dropout : 0.0f, training, rng});
      return Mlp(lra::Add(x, drop(o_.Forward(a))), training, rng);
    }
    AttentionConfig att;
    att.heads = c_.heads;
    att.algorithm = c_.blocked ? AttentionAlgorithm::kBlocked : AttentionAlgorithm::kDense;
    att.dropout = training ? c_.attention_dropout : 0.0f;
    att.causal = c_.causal;
    Var a = lra::Attention(q_.Forward(h), k_.Forward(h), v_.Forward(h), lens, att, mask, &rng);
    return Mlp(lra::Add(x, drop(o_.Forward(a))), training, rng);
  }

 private:
  friend class TransformerRecurrent;  // steps the same weights one token at a time

  // y + Dropout(W2 Dropout(GELU(LN(y) W1 + b1)) + b2).
  Var Mlp(const Var& y, bool training, Rng& rng) const {
    auto drop = [&](const Var& v) {
      return lra::Dropout(v, c_.dropout, training, rng);
    };
    Var m = w1_.Forward(ln2_.Forward(y, training));
    m = drop(lra::Gelu(m, c_.gelu_tanh ? lra::GeluKind::kTanh : lra::GeluKind::kErf));
    return lra::Add(y, drop(w2_.Forward(m)));
  }

  Config c_;
  LayerAttention attn_;  // no forward: core's attention over all three projections
  Norm ln1_, ln2_;
  LinearLayer q_, k_, v_, o_, w1_, w2_;
};

// The Retrieval head of LRA's released code (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/layers/common_layers.py classifier_head_dual):
//   Dense(mlp) -> ReLU -> Dense(mlp / 2) -> ReLU -> Dense(classes)
// on concat[e1, e2] (kLra: interaction=None, what TransformerDualEncoder passes in every
// commit, lra_benchmarks/models/transformer/transformer.py and matching/train.py) or on the
// NLI features [e1, e2, e1 * e2, e1 - e2] (kNli: the paper's description, Tay et al. 2021,
// "Long Range Arena", arXiv 2011.04006, section 3 Retrieval; the code's interaction='NLI').
// Every Dense is flax's nn.Dense default init (lecun_normal kernel, zero bias).
class RetrievalHead {
 public:
  RetrievalHead() = default;
  RetrievalHead(ParamStore& ps, const std::string& name, int dim, int classes, int mlp_dim,
                RetrievalHeadKind kind)
      : kind_(kind) {
    const int in = (kind == RetrievalHeadKind::kNli ? 4 : 2) * dim;
    mlp_ = LinearLayer(ps, name + ".mlp", in, mlp_dim, true, InitKind::kLecunNormal);
    mlp2_ = LinearLayer(ps, name + ".mlp2", mlp_dim, mlp_dim / 2, true, InitKind::kLecunNormal);
    logits_ = LinearLayer(ps, name + ".logits", mlp_dim / 2, classes, true, InitKind::kLecunNormal);
  }
  Var Forward(const Var& e1, const Var& e2) const {
    Var x = kind_ == RetrievalHeadKind::kNli
                ? lra::Concat({e1, e2, lra::Mul(e1, e2), lra::Sub(e1, e2)}, -1)
                : lra::Concat({e1, e2}, -1);
    x = lra::Relu(mlp_.Forward(x));
    x = lra::Relu(mlp2_.Forward(x));
    return logits_.Forward(x);
  }

 private:
  RetrievalHeadKind kind_ = RetrievalHeadKind::kLra;
  LinearLayer mlp_, mlp2_, logits_;
};

class TransformerModel;

// Streaming inference of the causal Transformer (causal=true, no CLS row, mean pooling): per
// layer and stream a key/value cache that grows by one position per Step. A Step embeds the
// token, adds the position's row, and per layer projects q, k, v of the new token (the same
// LayerNorm, projections and MLP as Forward), appends k and v to the cache and attends the
// query to every cached position 0..t, softmax(q k_j / sqrt(d)) v_j per head, which is what the
// causal Forward computes for query t (core/kernels/attention.h: a valid query attends to the
// valid keys j <= i). Its cost per token is O(t) per layer, against O(1) for a recurrence.
// The cache is held in pages of kPage positions, so it grows without copying what is there.
class TransformerRecurrent : public RecurrentModel {
 public:
  static constexpr int kPage = 256;  // positions per cache page

  explicit TransformerRecurrent(TransformerModel* model) : model_(model) {}
  absl::Status Reset(int num_streams) override;
  void Step(const int32_t* tokens, float* logits) override;
  const float* LastFeatures() const override { return features_.data<float>(); }
  int feature_dim() const override;
  int64_t StateBytes(int64_t tokens) const override;

 private:
  // Keys and values of one (layer, stream): pages of [kPage, qkv_dim].
  struct Cache {
    std::vector<std::unique_ptr<float[]>> k, v;
  };
  TransformerModel* model_;
  int streams_ = 0;
  int64_t t_ = 0;             // positions stepped since Reset
  std::vector<Cache> cache_;  // [layer * streams + stream]
  std::vector<float> scores_;  // scratch [streams * heads, t + 1]
  Tensor features_;
  RunningMeanHead mean_;
  Rng no_dropout_{1};  // Layer::Mlp's stream, never drawn from (dropout is off in a Step)
};

class TransformerModel : public Model {
 public:
  TransformerModel(const TaskInfo& task, const Config& c, uint64_t seed)
      : task_(task), c_(c), ps_(seed), recurrent_(this) {
    encoder_ = Encoder(ps_, "encoder", task, c.d_model, /*linear_pixels=*/false);
    const int rows = c.max_len + (c.cls ? 1 : 0);
    if (c.positions == "learned") {
      pos_ = ps_.Add("positions", RandomNormal({rows, c.d_model}, 0.02f, ps_.init_rng()), kNoDecay);
    } else if (c.positions == "sinusoidal") {
      pos_ = Constant(Tensor::FromVector({rows, c.d_model}, SinusoidalPositions(rows, c.d_model)));
    }
    if (c.cls) cls_ = ps_.Add("cls", Tensor::Zeros({c.d_model}), kNoDecay);
    for (int i = 0; i < c.n_layers; ++i) layers_.emplace_back(ps_, absl::StrCat("layers.", i), c);
    final_norm_ = Norm(ps_, "encoder_norm", c.d_model, NormKind::kLayer, kLayerNormEps);
    // The heads' Dense layers take flax's nn.Dense default init (lecun_normal, zero bias):
    // common_layers.py classifier_head / classifier_head_dual pass no initializer.
    if (task.pair) {
      dual_ = RetrievalHead(ps_, "head", c.d_model, task.num_classes, c.mlp_dim, c.retrieval);
    } else {
      head_ = ClassifierHead(ps_, "head", c.d_model, task.num_classes, c.head, c.mlp_dim, false,
                             InitKind::kLecunNormal);
    }
  }

  Var Encode(const int32_t* tokens, const int32_t* lengths, int b, int l, bool training,
             Rng& rng) const {
    LRA_CHECK(l <= c_.max_len) << "transformer: length " << l << " > max_len " << c_.max_len
                               << " (positions table)";
    Var x = encoder_.Forward(tokens, b, l);
    std::vector<int32_t> lens(b, l);
    if (lengths) lens.assign(lengths, lengths + b);
    if (c_.cls) {
      x = PrependRow(x, cls_);
      for (int32_t& v : lens) v = std::min(v + 1, l + 1);
    }
    const std::vector<uint8_t> mask = PadMask(tokens, b, l);
    if (pos_.defined()) x = AddPositions(x, pos_);
    x = lra::Dropout(x, c_.dropout, training, rng);
    for (const Layer& layer : layers_) x = layer.Forward(x, lens.data(), mask, training, rng);
    x = final_norm_.Forward(x, training);
    // Pooling over the real tokens (the CLS row counts as one of them).
    return Pool(x, c_.pool, lens.data());
  }

  // LRA's padding mask is `inputs > 0` for queries and keys (google-research/long-range-arena
  // cd31e5c, lra_benchmarks/models/transformer/transformer.py TransformerEncoder:
  // src_padding_mask, and for CLS the first token's mask concatenated in front): with
  // task.mask_pad_tokens, every position whose token is pad_id is masked, inside the sequence
  // too (black pixels), and the CLS row copies the first token's mask. Empty otherwise (the
  // lengths alone mask the padding). [B, L (+1)].
  std::vector<uint8_t> PadMask(const int32_t* tokens, int b, int l) const {
    if (!task_.mask_pad_tokens) return {};
    const int rows = l + (c_.cls ? 1 : 0);
    std::vector<uint8_t> mask(static_cast<size_t>(b) * rows);
    for (int i = 0; i < b; ++i) {
      const int32_t* t = tokens + static_cast<int64_t>(i) * l;
      uint8_t* m = mask.data() + static_cast<int64_t>(i) * rows;
      if (c_.cls) *m++ = t[0] != task_.pad_id;
      for (int j = 0; j < l; ++j) m[j] = t[j] != task_.pad_id;
    }
    return mask;
  }

  Var Forward(const Batch& batch, bool training, Rng& rng) override {
    auto encode = [&](const int32_t* tokens, const int32_t* lengths, int b, int l) {
      return Encode(tokens, lengths, b, l, training, rng);
    };
    if (task_.pair) {
      auto [x1, x2] = EncodePair(batch, task_.pad_id, encode);
      return dual_.Forward(x1, x2);
    }
    return head_.Forward(encode(batch.tokens, batch.lengths, batch.batch_size, batch.length));
  }

  std::vector<ParamGroup> ParamGroups() override {
    std::vector<ParamGroup> g = ps_.Groups();
    if (!c_.decay_all) return g;
    ParamGroup all;
    all.name = kDefault;
    for (const ParamGroup& x : g) all.params.insert(all.params.end(), x.params.begin(), x.params.end());
    return {all};
  }

  RecurrentModel* Recurrent() override {
    // Causal core attention only (a variant's own AttentionFn has no step form here); the
    // running mean is the streaming form of mean pooling, and a CLS row would be a second
    // input; pair tasks need two streams per example; with mask_pad_tokens a pad token's query
    // attends to every position, future ones included (core/kernels/attention.h), which no
    // stream can see.
    if (c_.layer_attention || !c_.causal || c_.cls || c_.pool != PoolKind::kMean || task_.pair ||
        task_.mask_pad_tokens)
      return nullptr;
    return &recurrent_;
  }
  // Constants a per-layer attention registered (models/performer's fixed projection).
  std::vector<std::pair<std::string, Tensor*>> Buffers() override { return ps_.Buffers(); }

 private:
  friend class TransformerRecurrent;
  TaskInfo task_;
  Config c_;
  ParamStore ps_;
  Encoder encoder_;
  Var pos_, cls_;
  std::vector<Layer> layers_;
  Norm final_norm_;
  ClassifierHead head_;
  RetrievalHead dual_;
  TransformerRecurrent recurrent_;
};

int TransformerRecurrent::feature_dim() const { return model_->c_.d_model; }

absl::Status TransformerRecurrent::Reset(int num_streams) {
  if (num_streams < 1) return absl::InvalidArgumentError("Reset: num_streams must be >= 1");
  streams_ = num_streams;
  t_ = 0;
  cache_.clear();
  cache_.resize(model_->layers_.size() * num_streams);
  features_ = Tensor::Zeros({streams_, model_->c_.d_model});
  mean_.Reset(streams_, model_->c_.d_model);
  return absl::OkStatus();
}

// Keys and values of every layer: 2 x qkv_dim floats per position, in whole pages.
int64_t TransformerRecurrent::StateBytes(int64_t tokens) const {
  const int64_t pages = (tokens + kPage - 1) / kPage;
  return int64_t{model_->c_.n_layers} * 2 * pages * kPage * model_->c_.qkv_dim *
         int64_t{sizeof(float)};
}

void TransformerRecurrent::Step(const int32_t* tokens, float* logits) {
  NoGrad no_grad;
  const Config& c = model_->c_;
  const int h = c.d_model, q = c.qkv_dim, heads = c.heads, d = q / heads;
  LRA_CHECK(!model_->pos_.defined() || t_ < c.max_len)
      << "transformer: streaming position " << t_ << " >= max_len " << c.max_len
      << " (positions table); build the model with a larger max_len";
  Tensor x = Tensor::Empty({streams_, h});
  float* xp = x.data<float>();
  for (int s = 0; s < streams_; ++s) {
    model_->encoder_.EncodeToken(tokens[s], xp + int64_t{s} * h);
    if (!model_->pos_.defined()) continue;
    const float* pos = model_->pos_.value().data<float>() + t_ * h;
    for (int j = 0; j < h; ++j) xp[int64_t{s} * h + j] += pos[j];
  }
  const int64_t n = t_ + 1, page = t_ / kPage, row = t_ % kPage;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  scores_.resize(static_cast<size_t>(streams_) * heads * n);
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Block = Eigen::Map<const RowMajor, 0, Eigen::OuterStride<>>;
  for (size_t l = 0; l < model_->layers_.size(); ++l) {
    const Layer& layer = model_->layers_[l];
    const Var xv = Constant(x);
    const Var hn = layer.ln1_.Forward(xv, false);
    const Tensor qt = layer.q_.Forward(hn).value(), kt = layer.k_.Forward(hn).value(),
                 vt = layer.v_.Forward(hn).value();
    for (int s = 0; s < streams_; ++s) {
      Cache& cache = cache_[l * streams_ + s];
      if (row == 0) {
        cache.k.emplace_back(new float[static_cast<size_t>(kPage) * q]);
        cache.v.emplace_back(new float[static_cast<size_t>(kPage) * q]);
      }
      std::memcpy(cache.k[page].get() + row * q, kt.data<float>() + int64_t{s} * q, q * sizeof(float));
      std::memcpy(cache.v[page].get() + row * q, vt.data<float>() + int64_t{s} * q, q * sizeof(float));
    }
    Tensor a = Tensor::Empty({streams_, q});
    // One (stream, head) per task: scores against the cached keys page by page, softmax, then
    // the weighted sum of the cached values.
    ParallelFor(
        int64_t{streams_} * heads,
        [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            const int s = static_cast<int>(i / heads), hd = static_cast<int>(i % heads);
            const Cache& cache = cache_[l * streams_ + s];
            const Eigen::Map<const Eigen::VectorXf> qv(qt.data<float>() + int64_t{s} * q + hd * d, d);
            Eigen::Map<Eigen::VectorXf> sc(scores_.data() + i * n, n);
            for (int64_t p = 0; p <= page; ++p) {
              const int64_t rows = p < page ? kPage : row + 1;
              sc.segment(p * kPage, rows).noalias() =
                  Block(cache.k[p].get() + hd * d, rows, d, Eigen::OuterStride<>(q)) * qv;
            }
            sc *= scale;
            sc = (sc.array() - sc.maxCoeff()).exp().matrix();
            sc /= sc.sum();
            Eigen::Map<Eigen::VectorXf> out(a.data<float>() + int64_t{s} * q + hd * d, d);
            out.setZero();
            for (int64_t p = 0; p <= page; ++p) {
              const int64_t rows = p < page ? kPage : row + 1;
              out.noalias() += Block(cache.v[p].get() + hd * d, rows, d, Eigen::OuterStride<>(q))
                                   .transpose() *
                               sc.segment(p * kPage, rows);
            }
          }
        },
        /*cost=*/4 * n * d);
    const Var y = lra::Add(xv, layer.o_.Forward(Constant(a)));
    x = layer.Mlp(y, /*training=*/false, no_dropout_).value();
  }
  ++t_;
  features_ = model_->final_norm_.Forward(Constant(x), false).value();
  mean_.Add(features_, model_->head_, logits);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CreateTransformer(const std::string& model,
                                                         const TaskInfo& task, const Options& o,
                                                         uint64_t seed, AttentionFn attention) {
  AttentionLayerFactory factory;
  if (attention)
    factory = [attention = std::move(attention)](ParamStore&, const std::string&,
                                                 const AttentionLayerShape&) {
      LayerAttention la;
      la.forward = [attention](const AttentionInputs& in) {
        return attention(in.q, in.k, in.v, in.lengths, in.mask, in.heads, in.dropout, in.rng);
      };
      return la;
    };
  return CreateTransformerWithLayers(model, task, o, seed, std::move(factory));
}

absl::StatusOr<std::unique_ptr<Model>> CreateTransformerWithLayers(
    const std::string& model, const TaskInfo& task, const Options& o, uint64_t seed,
    AttentionLayerFactory layer_attention) {
  Config c;
  c.layer_attention = std::move(layer_attention);
  if (!c.layer_attention && !o.Has("attention"))
    return absl::InternalError(absl::StrCat(model, ": no attention option and no AttentionFn"));
  c.d_model = o.Int("d_model");
  c.n_layers = o.Int("n_layers");
  c.heads = o.Int("heads");
  c.qkv_dim = o.Int("qkv_dim") > 0 ? o.Int("qkv_dim") : c.d_model;
  c.mlp_dim = o.Int("mlp_dim");
  c.max_len = o.Int("max_len") > 0 ? o.Int("max_len") : task.max_length;
  c.dropout = static_cast<float>(o.Float("dropout"));
  // A variant whose attention has no dropout (LRA's linear attention) drops the option.
  c.attention_dropout =
      o.Has("attention_dropout") ? static_cast<float>(o.Float("attention_dropout")) : 0.0f;
  c.positions = o.String("positions");
  c.cls = o.Bool("cls");
  c.blocked = !c.layer_attention && o.String("attention") == "blocked";
  c.gelu_tanh = o.Bool("gelu_tanh");
  c.decay_all = o.Bool("decay_all");
  // Only "transformer" declares causal (Info below); a variant with its own AttentionFn has no
  // causal form here.
  c.causal = o.Has("causal") && o.Bool("causal");
  std::string pool = o.String("pool");
  if (pool.empty()) pool = task.pooling.empty() ? "mean" : task.pooling;
  auto pk = ParsePoolKind(pool);
  if (!pk.ok()) return pk.status();
  c.pool = *pk;
  auto hk = ParseHeadKind(o.String("head"));
  if (!hk.ok()) return hk.status();
  c.head = *hk;
  const std::string rh = o.String("retrieval_head");
  if (rh == "lra") {
    c.retrieval = RetrievalHeadKind::kLra;
  } else if (rh == "nli") {
    c.retrieval = RetrievalHeadKind::kNli;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        model, ": retrieval_head '", rh, "': expected lra (the released code) or nli"));
  }
  if (c.causal && c.layer_attention)
    return absl::InvalidArgumentError(absl::StrCat(
        model, ": causal=true needs core's attention; this model attends with its own "
               "AttentionFn, which has no causal form"));
  if (c.pool == PoolKind::kCls && !c.cls)
    return absl::InvalidArgumentError(absl::StrCat(model, ": pool=cls needs cls=true"));
  if (c.d_model < 1 || c.heads < 1 || c.qkv_dim % c.heads != 0 || c.mlp_dim < 2)
    return absl::InvalidArgumentError(absl::StrCat(
        model, ": need d_model >= 1, mlp_dim >= 2 and qkv_dim (", c.qkv_dim,
        ") divisible by heads (", c.heads, ")"));
  if (c.max_len < 1)
    return absl::InvalidArgumentError(absl::StrCat(
        model, ": max_len is 0 and the task has no max_length; set max_len"));
  if (c.dropout < 0 || c.dropout >= 1)
    return absl::InvalidArgumentError(absl::StrCat(model, ": dropout must be in [0, 1)"));
  if (c.attention_dropout < 0 || c.attention_dropout >= 1)
    return absl::InvalidArgumentError(absl::StrCat(model, ": attention_dropout (",
                                                   c.attention_dropout, ") must be in [0, 1)"));
  return std::unique_ptr<Model>(new TransformerModel(task, c, seed));
}

std::vector<OptionSpec> TransformerOptions() {
  return {
      OptionSpec{"d_model", "128", "embedding width (LRA emb_dim)"}.Min(1),
      OptionSpec{"n_layers", "4", "encoder blocks"}.Min(0),
      OptionSpec{"heads", "4", "attention heads"}.Min(1),
      OptionSpec{"qkv_dim", "0", "attention width (0 = d_model)"}.Min(0),
      OptionSpec{"mlp_dim", "512", "MLP width (also the classifier head's hidden width)"}.Min(2),
      OptionSpec{"max_len", "0", "positions table length (0 = the task's max_length)"}.Min(0),
      OptionSpec{"dropout", "0.1", "dropout on embeddings, attention output and MLP",
                 OptionType::kFloat}
          .Min(0)
          .Max(1, true),
      OptionSpec{"attention_dropout", "0.0",
                 "dropout on the attention probabilities, training only (LRA's "
                 "attention_dropout_rate: 0.1, 0.2 for Image; the paper configs set it)",
                 OptionType::kFloat}
          .Min(0)
          .Max(1, true),
      {"positions", "sinusoidal", "sinusoidal, learned or none", OptionType::kString,
       {"sinusoidal", "learned", "none"}},
      {"cls", "false", "prepend a learned CLS row (zeros init)"},
      {"pool", "", "cls, mean, first or last (empty = the task's default)", OptionType::kString},
      {"head", "mlp", "mlp (LRA Dense-ReLU-Dense) or linear", OptionType::kString, {"mlp", "linear"}},
      {"retrieval_head", "lra",
       "retrieval: lra (the released code: concat[x1,x2], Dense(mlp)-ReLU-Dense(mlp/2)-ReLU-"
       "Dense(2)) or nli (the paper's [x1,x2,x1*x2,x1-x2] into the same MLP)",
       OptionType::kString, {"lra", "nli"}},
      {"attention", "dense",
       "dense (LRA memory profile) or blocked (O(L) memory; on AVX-512 with head_dim 16-64 "
       "its register-tiled kernels are at least as fast as dense)",
       OptionType::kString, {"dense", "blocked"}},
      {"gelu_tanh", "true", "flax's tanh-approximate GELU (false: exact erf)"},
      {"decay_all", "true", "weight decay on every parameter, as flax (false: not on biases, "
                            "norms, embeddings)"},
  };
}

std::vector<OptionSpec> TransformerOptionsWithout(const std::vector<std::string>& names) {
  std::vector<OptionSpec> o;
  for (OptionSpec& s : TransformerOptions())
    if (std::find(names.begin(), names.end(), s.name) == names.end()) o.push_back(std::move(s));
  return o;
}

// The memory of one training step, counted per layer (harness/README.md "Memory estimate"):
//  parameters: two LayerNorms (4H), Q/K/V H x Q each, the output projection Q x H + H, the MLP
//    H x M + M + M x H + H; embedding V x H, learned positions max_len x H; the head
//    H x M + M + M x K + K (Retrieval: 4H x M + M + M x M/2 + M/2 + M/2 x K + K, the larger
//    of LRA's and the NLI head).
//  activations per token and layer: kTokenH scalars per model channel (norms, projections,
//    dropouts and their masks, residuals), kTokenM per MLP channel, kTokenQ per attention
//    channel, all with gradients; dense attention adds kScore scalars per head and (query, key)
//    pair (the saved probabilities and one transient scores or gradient matrix); blocked
//    attention keeps O(L) state (counted in kTokenQ). Measured: 1.8x the peak RSS at batch 8 x
//    1024 tokens (//harness:memory_check_test prints it).
constexpr double kTokenH = 16, kTokenM = 8, kTokenQ = 10, kScore = 2;

MemoryEstimate EstimateTransformerEncoder(const TaskInfo& task, const Options& o, int64_t batch,
                                          int64_t length, double keys_per_query) {
  const double h = o.Int("d_model"), layers = o.Int("n_layers"), heads = o.Int("heads");
  const double q = o.Int("qkv_dim") > 0 ? o.Int("qkv_dim") : h, m = o.Int("mlp_dim");
  const double k = task.num_classes, docs = task.pair ? 2 : 1;
  const double max_len = o.Int("max_len") > 0 ? o.Int("max_len") : task.max_length;
  const double l = double(length) + (o.Bool("cls") ? 1 : 0);
  MemoryEstimate e;
  e.parameters = layers * (4 * h + 3 * h * q + q * h + h + 2 * h * m + m + h) +
                 static_cast<double>(task.vocab_size) * h +
                 (o.String("positions") == "learned" ? max_len * h : 0) + 2 * h +
                 (task.pair ? 4 * h * m + m + m * m / 2 + m / 2 + m / 2 * k + k
                            : h * m + m + m * k + k);
  const double tokens = docs * double(batch) * l;
  double per_layer = tokens * (kTokenH * h + kTokenM * m + kTokenQ * q);
  if (keys_per_query > 0) per_layer += kScore * docs * double(batch) * heads * l * keys_per_query;
  e.activations = layers * per_layer + 4 * tokens * h;
  return e;
}

namespace {
MemoryEstimate EstimateTransformer(const TaskInfo& task, const Options& o, int64_t batch,
                                   int64_t length) {
  const double l = double(length) + (o.Bool("cls") ? 1 : 0);
  return EstimateTransformerEncoder(task, o, batch, length,
                                    o.String("attention") == "dense" ? l : 0);
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  return CreateTransformer("transformer", task, o, seed);
}

ModelInfo Info() {
  ModelInfo info;
  info.estimate = EstimateTransformer;
  info.name = "transformer";
  info.description =
      "LRA reference Transformer: embedding + positions, pre-LN blocks with bias-free attention "
      "and GELU MLP, final LayerNorm, pooling, Dense-ReLU-Dense head (retrieval: LRA's "
      "classifier_head_dual); google-research/long-range-arena cd31e5c";
  info.options = TransformerOptions();
  info.options.push_back({"causal", "false",
                          "causal attention (query i sees keys j <= i): with cls=false and "
                          "pool=mean, a streaming mode with a key/value cache"});
  // Recurrent() needs causal attention, no CLS row and mean pooling (TransformerModel::Recurrent).
  info.streaming_options = {"causal=true", "cls=false", "pool=mean"};
  info.create = Create;
  return info;
}
}  // namespace

}  // namespace lra::models::transformer

LRA_REGISTER_MODEL(lra::models::transformer::Info());

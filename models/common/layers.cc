#include "models/common/layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/ops/ops.h"

namespace lra::models {

Var ParamStore::Add(const std::string& name, Tensor init, const std::string& tag) {
  Var v = Parameter(std::move(init), name);
  params_.emplace_back(name, v);
  tags_.push_back(tag);
  return v;
}

Tensor* ParamStore::AddBuffer(const std::string& name, Tensor init) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(init)));
  return buffers_.back().second.get();
}

std::vector<ParamGroup> ParamStore::Groups(const std::map<std::string, Hyper>& overrides) const {
  std::vector<ParamGroup> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const ParamGroup& g) { return g.name == tags_[i]; });
    if (it == out.end()) {
      ParamGroup g;
      g.name = tags_[i];
      if (auto o = overrides.find(g.name); o != overrides.end()) {
        g.lr = o->second.lr;
        g.weight_decay = o->second.weight_decay;
      }
      if (g.name == kNoDecay) g.weight_decay = 0.0;
      out.push_back(std::move(g));
      it = out.end() - 1;
    }
    it->params.push_back(params_[i].second);
  }
  return out;
}

std::vector<std::pair<std::string, Tensor*>> ParamStore::Buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& [name, t] : buffers_) out.emplace_back(name, t.get());
  return out;
}

namespace {

// [in, out] of N(0, 1) truncated to (-2, 2) (by rejection: the same distribution as jax's
// inverse-CDF sampler), times sqrt(1 / in) / 0.87962566103423978: jax's lecun_normal.
Tensor LecunNormal(int in, int out, Rng& rng) {
  Tensor w = Tensor::Empty({in, out});
  const float scale = std::sqrt(1.0f / static_cast<float>(in)) / 0.87962566103423978f;
  float* p = w.data<float>();
  for (int64_t i = 0; i < int64_t{in} * out; ++i) {
    float z;
    do {
      z = rng.Normal();
    } while (!(std::fabs(z) < 2.0f));
    p[i] = z * scale;
  }
  return w;
}

}  // namespace

LinearLayer::LinearLayer(ParamStore& ps, const std::string& name, int in, int out, bool bias,
                         InitKind init) {
  if (init == InitKind::kLecunNormal) {
    w_ = ps.Add(name + ".w", LecunNormal(in, out, ps.init_rng()));
    if (bias) b_ = ps.Add(name + ".b", Tensor::Zeros({out}), kNoDecay);
  } else if (init == InitKind::kTorch) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(in));
    w_ = ps.Add(name + ".w", RandomUniform({in, out}, -bound, bound, ps.init_rng()));
    if (bias) b_ = ps.Add(name + ".b", RandomUniform({out}, -bound, bound, ps.init_rng()), kNoDecay);
  } else {
    const float bound = std::sqrt(6.0f / (in + out));
    w_ = ps.Add(name + ".w", RandomUniform({in, out}, -bound, bound, ps.init_rng()));
    if (bias) b_ = ps.Add(name + ".b", RandomNormal({out}, 1e-6f, ps.init_rng()), kNoDecay);
  }
}

Var LinearLayer::Forward(const Var& x) const { return lra::Linear(x, w_, b_); }

absl::StatusOr<NormKind> ParseNormKind(const std::string& s) {
  if (s == "none") return NormKind::kNone;
  if (s == "layer") return NormKind::kLayer;
  if (s == "batch") return NormKind::kBatch;
  return absl::InvalidArgumentError(absl::StrCat("norm '", s, "': expected none, layer or batch"));
}

Norm::Norm(ParamStore& ps, const std::string& name, int dim, NormKind kind, float eps)
    : kind_(kind), eps_(eps) {
  if (kind == NormKind::kNone) return;
  gamma_ = ps.Add(name + ".gamma", Tensor::Full({dim}, 1.0f), kNoDecay);
  beta_ = ps.Add(name + ".beta", Tensor::Zeros({dim}), kNoDecay);
  if (kind == NormKind::kBatch) {
    running_mean_ = ps.AddBuffer(name + ".running_mean", Tensor::Zeros({dim}));
    running_var_ = ps.AddBuffer(name + ".running_var", Tensor::Full({dim}, 1.0f));
  }
}

Var Norm::Forward(const Var& x, bool training) const {
  switch (kind_) {
    case NormKind::kNone: return x;
    case NormKind::kLayer: return lra::LayerNorm(x, gamma_, beta_, eps_);
    case NormKind::kBatch: {
      // core's BatchNorm (statistics pooled over B*L, PyTorch's unbiased running variance,
      // momentum 0.1, eps 1e-5) on state that shares storage with the checkpointed buffers, so
      // its in-place running-stat update lands in them.
      BatchNormState state{*running_mean_, *running_var_};
      return lra::BatchNorm(x, gamma_, beta_, &state, training);
    }
  }
  return x;
}

void Norm::ApplyRow(const float* in, float* out) const {
  const int64_t h = gamma_.defined() ? gamma_.numel() : 0;
  if (kind_ == NormKind::kNone) return;
  LRA_CHECK(kind_ == NormKind::kLayer) << "recurrent mode supports LayerNorm or no norm";
  double mu = 0, var = 0;
  for (int64_t j = 0; j < h; ++j) mu += in[j];
  mu /= h;
  for (int64_t j = 0; j < h; ++j) var += (in[j] - mu) * (in[j] - mu);
  const double rs = 1.0 / std::sqrt(var / h + eps_);
  const float* g = gamma_.value().data<float>();
  const float* b = beta_.value().data<float>();
  for (int64_t j = 0; j < h; ++j) out[j] = static_cast<float>((in[j] - mu) * rs) * g[j] + b[j];
}

absl::StatusOr<PixelNorm> ParsePixelNorm(const std::string& s) {
  if (s == "unit") return PixelNorm::kUnit;
  if (s == "s4_cifar") return PixelNorm::kS4Cifar;
  if (s == "center") return PixelNorm::kCenter;
  return absl::InvalidArgumentError(
      absl::StrCat("pixel_norm '", s, "': expected unit, s4_cifar or center"));
}

Encoder::Encoder(ParamStore& ps, const std::string& name, const TaskInfo& task, int dim,
                 bool linear_pixels, PixelNorm pixel_norm)
    : linear_(linear_pixels && task.pixels),
      pixel_norm_(pixel_norm),
      dim_(dim),
      vocab_(task.vocab_size) {
  if (linear_) {
    // Linear(1, H): torch's default bound 1/sqrt(fan_in) = 1.
    w_ = ps.Add(name + ".w", RandomUniform({1, dim}, -1.0f, 1.0f, ps.init_rng()));
    b_ = ps.Add(name + ".b", RandomUniform({dim}, -1.0f, 1.0f, ps.init_rng()), kNoDecay);
  } else {
    table_ = ps.Add(name + ".embedding", RandomNormal({task.vocab_size, dim}, 1.0f, ps.init_rng()),
                    kNoDecay);
  }
}

Var Encoder::Forward(const int32_t* tokens, int batch, int length) const {
  if (!linear_) {
    return lra::Embedding(table_, std::vector<int32_t>(tokens, tokens + int64_t{batch} * length),
                          Shape{batch, length});
  }
  Tensor x = Tensor::Empty({batch, length, 1});
  for (int64_t i = 0; i < int64_t{batch} * length; ++i) x.data<float>()[i] = PixelValue(tokens[i]);
  return lra::Linear(Constant(x), w_, b_);
}

float Encoder::PixelValue(int32_t token) const {
  // As torchvision: ToTensor's float32 p / 255, then Normalize's (x - mean) / std in float32.
  const float x = static_cast<float>(token) / 255.0f;
  switch (pixel_norm_) {
    case PixelNorm::kUnit: return x;
    case PixelNorm::kS4Cifar:
      return (x - static_cast<float>(122.6 / 255.0)) / static_cast<float>(61.0 / 255.0);
    case PixelNorm::kCenter: return (x - 0.5f) / 0.5f;
  }
  return x;
}

void Encoder::EncodeToken(int32_t token, float* out) const {
  if (linear_) {
    const float x = PixelValue(token);
    for (int j = 0; j < dim_; ++j)
      out[j] = x * w_.value().data<float>()[j] + b_.value().data<float>()[j];
  } else {
    LRA_CHECK(token >= 0 && token < vocab_) << "token " << token;
    std::memcpy(out, table_.value().data<float>() + int64_t{token} * dim_, dim_ * sizeof(float));
  }
}

absl::StatusOr<PoolKind> ParsePoolKind(const std::string& s) {
  if (s == "mean") return PoolKind::kMean;
  if (s == "first") return PoolKind::kFirst;
  if (s == "cls") return PoolKind::kCls;
  if (s == "last") return PoolKind::kLast;
  return absl::InvalidArgumentError(
      absl::StrCat("pooling '", s, "': expected mean, first, cls or last"));
}

std::vector<int32_t> ClampedLengths(const int32_t* lengths, int64_t batch, int64_t length) {
  std::vector<int32_t> lens(batch, static_cast<int32_t>(length));
  if (lengths)
    for (int64_t i = 0; i < batch; ++i)
      lens[i] = static_cast<int32_t>(std::max<int64_t>(1, std::min<int64_t>(length, lengths[i])));
  return lens;
}

Var SelectRow(const Var& x, int64_t position) {
  return lra::Reshape(lra::Slice(x, 1, position, 1), {x.dim(0), x.dim(2)});
}

Var AddPositions(const Var& x, const Var& table) {
  const int64_t l = x.dim(1), h = x.dim(2);
  LRA_CHECK(table.dim(0) >= l && table.dim(1) == h)
      << "AddPositions: table " << table.shape().ToString() << " for input "
      << x.shape().ToString();
  return lra::Add(x, lra::Reshape(lra::Slice(table, 0, 0, l), {1, l, h}));
}

Var PrependRow(const Var& x, const Var& row) {
  const int64_t b = x.dim(0), h = x.dim(2);
  LRA_CHECK(row.numel() == h) << "PrependRow: row of " << row.numel() << " for width " << h;
  // Broadcast the row to [B, 1, H] by adding it to zeros (core has no BroadcastTo); the row's
  // gradient is then the sum over the batch, which Add's broadcast reduction computes.
  Var rows = lra::Add(Constant(Tensor::Zeros({b, 1, h})), lra::Reshape(row, {1, 1, h}));
  return lra::Concat({rows, x}, 1);
}

Var Pool(const Var& x, PoolKind kind, const int32_t* lengths) {
  const int64_t b = x.dim(0), l = x.dim(1);
  switch (kind) {
    case PoolKind::kMean: return lra::MeanPool(x, ClampedLengths(lengths, b, l));
    case PoolKind::kFirst:
    case PoolKind::kCls: return SelectRow(x, 0);
    case PoolKind::kLast: {
      // Row lengths[b] - 1 per batch element, one slice each, stacked along the batch axis.
      const std::vector<int32_t> lens = ClampedLengths(lengths, b, l);
      std::vector<Var> rows;
      for (int64_t i = 0; i < b; ++i) rows.push_back(SelectRow(lra::Slice(x, 0, i, 1), lens[i] - 1));
      return lra::Concat(rows, 0);
    }
  }
  return x;
}

absl::StatusOr<HeadKind> ParseHeadKind(const std::string& s) {
  if (s == "linear") return HeadKind::kLinear;
  if (s == "mlp") return HeadKind::kMlp;
  return absl::InvalidArgumentError(absl::StrCat("head '", s, "': expected linear or mlp"));
}

ClassifierHead::ClassifierHead(ParamStore& ps, const std::string& name, int in, int classes,
                               HeadKind kind, int mlp_dim, bool gelu, InitKind init)
    : kind_(kind), gelu_(gelu) {
  if (kind == HeadKind::kLinear) {
    l1_ = LinearLayer(ps, name + ".out", in, classes, true, init);
  } else {
    LRA_CHECK(mlp_dim > 0) << "mlp head needs mlp_dim";
    l1_ = LinearLayer(ps, name + ".hidden", in, mlp_dim, true, init);
    l2_ = LinearLayer(ps, name + ".out", mlp_dim, classes, true, init);
  }
}

Var ClassifierHead::Forward(const Var& x) const {
  if (kind_ == HeadKind::kLinear) return l1_.Forward(x);
  Var h = l1_.Forward(x);
  h = gelu_ ? lra::Gelu(h) : lra::Relu(h);
  return l2_.Forward(h);
}

absl::StatusOr<DualKind> ParseDualKind(const std::string& s) {
  if (s == "concat") return DualKind::kConcat;
  if (s == "nli") return DualKind::kNli;
  return absl::InvalidArgumentError(absl::StrCat("dual head '", s, "': expected concat or nli"));
}

DualHead::DualHead(ParamStore& ps, const std::string& name, int dim, int classes, DualKind kind,
                   int mlp_dim, bool gelu, InitKind init)
    : kind_(kind),
      head_(ps, name, (kind == DualKind::kNli ? 4 : 2) * dim, classes, HeadKind::kMlp, mlp_dim,
            gelu, init) {}

Var DualHead::Forward(const Var& x1, const Var& x2) const {
  if (kind_ == DualKind::kConcat) return head_.Forward(lra::Concat({x1, x2}, -1));
  return head_.Forward(lra::Concat({x1, x2, lra::Mul(x1, x2), lra::Sub(x1, x2)}, -1));
}

std::pair<Var, Var> EncodePair(
    const Batch& batch, int pad_id,
    const std::function<Var(const int32_t*, const int32_t*, int, int)>& encode) {
  const int b = batch.batch_size, l = std::max(batch.length, batch.length2);
  std::vector<int32_t> tokens(int64_t{2} * b * l, pad_id), lengths(2 * b);
  for (int i = 0; i < b; ++i) {
    std::copy(batch.tokens + int64_t{i} * batch.length, batch.tokens + int64_t{i + 1} * batch.length,
              tokens.begin() + int64_t{i} * l);
    std::copy(batch.tokens2 + int64_t{i} * batch.length2,
              batch.tokens2 + int64_t{i + 1} * batch.length2, tokens.begin() + int64_t{b + i} * l);
    lengths[i] = batch.lengths ? batch.lengths[i] : batch.length;
    lengths[b + i] = batch.lengths2 ? batch.lengths2[i] : batch.length2;
  }
  Var pooled = encode(tokens.data(), lengths.data(), 2 * b, l);
  return {lra::Slice(pooled, 0, 0, b), lra::Slice(pooled, 0, b, b)};
}

}  // namespace lra::models

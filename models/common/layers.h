// Model building blocks shared by every plugin: a parameter store that tags each parameter with
// its optimizer group, and the encoders, pooling, classification heads and retrieval dual head of
// LRA and S4 (google-research/long-range-arena cd31e5c lra_benchmarks/models/layers/
// common_layers.py; state-spaces/s4 e757cef src/tasks/encoders.py, decoders.py).
//
//   ParamStore ps(seed);
//   Encoder enc(ps, "encoder", task, /*dim=*/64, /*linear_pixels=*/false);
//   ClassifierHead head(ps, "head", 64, task.num_classes, HeadKind::kLinear);
//   Var h = enc.Forward(batch.tokens, B, L);                      // [B, L, 64]
//   Var logits = head.Forward(Pool(h, PoolKind::kMean, batch.lengths));
//   std::vector<ParamGroup> groups = ps.Groups({{"ssm", {0.001, 0.0}}});
#ifndef LRA_MODELS_COMMON_LAYERS_H_
#define LRA_MODELS_COMMON_LAYERS_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/random.h"
#include "core/tape.h"
#include "models/model.h"

namespace lra::models {

// Optimizer-group tags. kDefault gets the run's lr and weight decay; kNoDecay the run's lr and
// weight decay 0 (biases, norms, embeddings: state-spaces/s4@e757cef:src/utils/optim_groups.py
// add_optimizer_hooks). Models
// may add their own tags (the S4 layer uses "ssm_A", "ssm_B", "ssm_dt", "ssm_C").
inline constexpr char kDefault[] = "default";
inline constexpr char kNoDecay[] = "no_decay";

class ParamStore {
 public:
  explicit ParamStore(uint64_t seed) : root_(seed), init_(root_.Stream(RngStream::kInit)) {}
  // Registers a trainable parameter named `name` with the given group tag.
  Var Add(const std::string& name, Tensor init, const std::string& tag = kDefault);
  // Registers a non-trainable buffer (BatchNorm running statistics). The pointer stays valid.
  Tensor* AddBuffer(const std::string& name, Tensor init);
  Rng& init_rng() { return init_; }

  // One ParamGroup per tag that has parameters, in first-use order. `overrides` sets a tag's
  // lr / weight decay (nullopt = the run's global value); kNoDecay always has weight decay 0.
  struct Hyper {
    std::optional<double> lr, weight_decay;
  };
  std::vector<ParamGroup> Groups(const std::map<std::string, Hyper>& overrides = {}) const;
  std::vector<std::pair<std::string, Tensor*>> Buffers();
  const std::vector<std::pair<std::string, Var>>& params() const { return params_; }

 private:
  Rng root_, init_;
  std::vector<std::pair<std::string, Var>> params_;
  std::vector<std::string> tags_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;
};

// How Linear weights are initialized: PyTorch's nn.Linear default (U(+-1/sqrt(in)) for weight and
// bias; S4); flax's xavier_uniform kernel with N(0, 1e-6) bias (the LRA Transformer's attention
// and MLP blocks, which pass these initializers explicitly); or flax's nn.Dense default
// (kLecunNormal: lecun_normal kernel, zero bias; the LRA classifier heads, which pass none).
// lecun_normal is jax's variance_scaling(1.0, "fan_in", "truncated_normal"): N(0, 1) truncated
// to (-2, 2), times sqrt(1 / in) / 0.87962566103423978 (the truncated normal's stddev), so the
// kernel's variance is 1 / in (google/jax jax-v0.2.21 = dbeb97d, jax/_src/nn/initializers.py;
// flax v0.3.6 flax/deprecated/nn/linear.py default_kernel_init and bias_init=zeros).
enum class InitKind { kTorch, kXavier, kLecunNormal };

class LinearLayer {
 public:
  LinearLayer() = default;
  LinearLayer(ParamStore& ps, const std::string& name, int in, int out, bool bias = true,
              InitKind init = InitKind::kTorch);
  Var Forward(const Var& x) const;
  const Var& weight() const { return w_; }
  const Var& bias() const { return b_; }

 private:
  Var w_, b_;
};

enum class NormKind { kNone, kLayer, kBatch };
absl::StatusOr<NormKind> ParseNormKind(const std::string& s);  // "none", "layer", "batch"

// LayerNorm or BatchNorm over the feature axis (gamma 1, beta 0; both in kNoDecay). eps is the
// LayerNorm epsilon: PyTorch's 1e-5 (S4) by default, flax's 1e-6 for the LRA Transformer.
class Norm {
 public:
  Norm() = default;
  Norm(ParamStore& ps, const std::string& name, int dim, NormKind kind, float eps = 1e-5f);
  float eps() const { return eps_; }
  Var Forward(const Var& x, bool training) const;
  NormKind kind() const { return kind_; }
  // The LayerNorm / BatchNorm parameters (undefined for kNone), for ops that fuse the norm.
  const Var& gain() const { return gamma_; }
  const Var& bias() const { return beta_; }
  // Recurrent-mode helper: LayerNorm of one [dim] row (kind kLayer or kNone only).
  void ApplyRow(const float* in, float* out) const;

 private:
  NormKind kind_ = NormKind::kNone;
  float eps_ = 1e-5f;
  Var gamma_, beta_;
  Tensor* running_mean_ = nullptr;
  Tensor* running_var_ = nullptr;
};

// How the linear pixel encoder scales a pixel p in 0..255 before Linear(1, H) (state-spaces/s4):
//   kUnit     x = p / 255: torchvision ToTensor alone. S4 V4's Pathfinder / Path-X
//             (e757cef configs/dataset/pathfinder.yaml line 7 `center: False`, so
//             src/dataloaders/lra.py line 457 skips Normalize).
//   kS4Cifar  x = (p / 255 - 122.6 / 255) / (61 / 255): S4's grayscale CIFAR, V3 and V4 alike
//             (e757cef src/dataloaders/basic.py lines 115-116, CIFAR10.setup; d589d98 the same
//             file, lines 114-115).
//   kCenter   x = (p / 255 - 0.5) / 0.5, in [-1, 1]: S4 V3's Pathfinder / Path-X (d589d98
//             src/dataloaders/lra.py line 455, PathFinder.default_transforms, Normalize(0.5,
//             0.5) whenever not tokenized; Path-X is the same dataset at resolution 128).
enum class PixelNorm { kUnit, kS4Cifar, kCenter };
absl::StatusOr<PixelNorm> ParsePixelNorm(const std::string& s);  // "unit", "s4_cifar", "center"

// Token embedding (N(0, 1) init, as LRA's nn.Embed and torch's nn.Embedding), or for pixel tasks
// the linear pixel encoder: x = PixelNorm(token), y = x * w + b (Linear(1, H): S4's `encoder:
// linear`, state-spaces/s4 e757cef configs/pipeline/cifar.yaml line 14 -> nn.Linear(d_input,
// d_model) in src/tasks/encoders.py line 418).
class Encoder {
 public:
  Encoder() = default;
  Encoder(ParamStore& ps, const std::string& name, const TaskInfo& task, int dim,
          bool linear_pixels, PixelNorm pixel_norm = PixelNorm::kUnit);
  Var Forward(const int32_t* tokens, int batch, int length) const;
  // One token -> [dim] features (recurrent mode).
  void EncodeToken(int32_t token, float* out) const;
  int dim() const { return dim_; }

 private:
  // The linear encoder's input for one pixel token (see PixelNorm).
  float PixelValue(int32_t token) const;

  bool linear_ = false;
  PixelNorm pixel_norm_ = PixelNorm::kUnit;
  int dim_ = 0, vocab_ = 0;
  Var table_;          // [V, H]
  Var w_, b_;          // [1, H], [H]
};

enum class PoolKind { kMean, kFirst, kCls, kLast };
absl::StatusOr<PoolKind> ParsePoolKind(const std::string& s);  // "mean", "first", "cls", "last"

// [B, L, H] -> [B, H]. kMean averages the first lengths[b] rows (LRA's MEAN includes pads: pass
// lengths = nullptr for that); kFirst/kCls take row 0 (kCls assumes a CLS row was prepended);
// kLast takes row lengths[b] - 1.
Var Pool(const Var& x, PoolKind kind, const int32_t* lengths);

// Small compositions of core/ops (no tape op of their own, so nothing here to keep in sync with
// core): the model-side position and row helpers that core has no single op for.
// lengths (may be null: all `length`) clamped to [1, length], the rows Pool averages over.
std::vector<int32_t> ClampedLengths(const int32_t* lengths, int64_t batch, int64_t length);
// Row `position` of each batch element: [B, L, H] -> [B, H] (Slice + Reshape).
Var SelectRow(const Var& x, int64_t position);
// x [B, L, H] + table[:L] for a learned position table [Lmax, H], broadcast over the batch.
Var AddPositions(const Var& x, const Var& table);
// [B, L, H] with `row` [H] prepended to every sequence: [B, L+1, H] (the CLS token).
Var PrependRow(const Var& x, const Var& row);

enum class HeadKind { kLinear, kMlp };
absl::StatusOr<HeadKind> ParseHeadKind(const std::string& s);  // "linear", "mlp"

// kLinear: Linear(H, K). kMlp: LRA's classifier_head, Dense(mlp) -> ReLU -> Dense(K)
// (or GELU for S4's retrieval decoder).
class ClassifierHead {
 public:
  ClassifierHead() = default;
  ClassifierHead(ParamStore& ps, const std::string& name, int in, int classes, HeadKind kind,
                 int mlp_dim = 0, bool gelu = false, InitKind init = InitKind::kTorch);
  Var Forward(const Var& x) const;

 private:
  HeadKind kind_ = HeadKind::kLinear;
  bool gelu_ = false;
  LinearLayer l1_, l2_;
};

// Retrieval: two pooled documents -> logits. kConcat: [x1, x2]; kNli: [x1, x2, x1 * x2,
// x1 - x2] (S4's RetrievalHead), both then through a ClassifierHead of kind kMlp (two Dense
// layers). The Transformer uses its own head with LRA's three Dense layers
// (models/transformer/transformer.cc RetrievalHead).
enum class DualKind { kConcat, kNli };
absl::StatusOr<DualKind> ParseDualKind(const std::string& s);  // "concat", "nli"

class DualHead {
 public:
  DualHead() = default;
  DualHead(ParamStore& ps, const std::string& name, int dim, int classes, DualKind kind,
           int mlp_dim, bool gelu, InitKind init = InitKind::kTorch);
  Var Forward(const Var& x1, const Var& x2) const;

 private:
  DualKind kind_ = DualKind::kNli;
  ClassifierHead head_;
};

// Runs `encode` ([B, L] tokens -> pooled [B, H]) on both documents of a pair batch as one
// stacked batch of 2B rows (S4 encodes them together; the padded lengths may differ, so the
// shorter one is padded to the longer with pad_id), then splits.
std::pair<Var, Var> EncodePair(const Batch& batch, int pad_id,
                               const std::function<Var(const int32_t* tokens,
                                                       const int32_t* lengths, int b, int l)>&
                                   encode);

}  // namespace lra::models

#endif  // LRA_MODELS_COMMON_LAYERS_H_

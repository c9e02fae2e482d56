// "transformer": the LRA reference Transformer encoder (google-research/long-range-arena
// cd31e5c, lra_benchmarks/models/transformer/transformer.py TransformerEncoder and
// TransformerDualEncoder; lra_benchmarks/models/layers/common_layers.py):
//
//   x = Embed(tokens) [; learned CLS row prepended] + positions (sinusoidal or learned)
//   x = Dropout(x)
//   per layer (pre-LN):
//     x = x + Dropout(Wo Attention(LN(x) Wq, LN(x) Wk, LN(x) Wv))   q/k/v/out without bias;
//                                                                   padding mask on queries
//                                                                   and keys (below);
//                                                                   attention_dropout on P
//     x = x + Dropout(W2 Dropout(GELU(LN(x) W1 + b1)) + b2)
//   x = LN(x)                                                       encoder_norm
//   logits = Dense(K)(ReLU(Dense(mlp_dim)(Pool(x))))                classifier_head
//
// Retrieval encodes both documents with the same encoder (no CLS row; each tower pooled at
// position 0 by the paper config, as LRA's classifier_pool 'CLS' on an encoder built without
// one) and applies the released code's classifier_head_dual: concat[x1, x2] -> Dense(mlp) ->
// ReLU -> Dense(mlp / 2) -> ReLU -> Dense(K) (retrieval_head=lra, the default), or the paper's
// NLI features [x1, x2, x1 * x2, x1 - x2] into the same MLP (retrieval_head=nli; Tay et al.
// 2021, arXiv 2011.04006). Attention, MLP kernels are xavier_uniform, their biases N(0, 1e-6)
// (passed explicitly by LRA); the heads' Dense layers are flax's default, lecun_normal kernel
// and zero bias; the embedding N(0, 1), learned positions N(0, 0.02), the CLS row zeros;
// LayerNorm epsilon 1e-6 (flax's); GELU is flax's tanh approximation. Attention is
// core/kernels' dense (default) or blocked algorithm with flax's masking: a position is masked
// as query and key when it lies past the length or, with the task's mask_pad_tokens (the `lra`
// pixel encodings), when its token is pad_id (LRA's `inputs > 0`; the CLS row copies the first
// token's mask); a masked query attends uniformly to all positions, as in flax. Optimizer: a
// single group (flax's optimizer decays every parameter) unless decay_all=false, which gives
// biases, norms and embeddings weight decay 0 as the S4 recipe does.
//
// "transformer" alone has the option causal (query i attends to keys j <= i); with cls=false and
// pool=mean its Recurrent() is a key/value-cache streaming mode (README.md here). Variants made
// with their own AttentionFn have neither.
#ifndef LRA_MODELS_TRANSFORMER_TRANSFORMER_H_
#define LRA_MODELS_TRANSFORMER_TRANSFORMER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/random.h"
#include "core/tape.h"
#include "models/common/layers.h"
#include "models/model.h"

namespace lra::models::transformer {

std::vector<OptionSpec> TransformerOptions();

// TransformerOptions() less the named ones (a variant's "attention", "attention_dropout").
std::vector<OptionSpec> TransformerOptionsWithout(const std::vector<std::string>& names);

// The hook for efficient-attention variants of this encoder (models/local, ...): one layer's
// attention over q, k, v [B, L, qkv_dim] with `heads` heads, the lengths [B] and the flax mask
// (empty or [B, L], models' PadMask: a 0 marks a masked query and key), the attention dropout
// rate (0 outside training) and the dropout stream. Returns [B, L, qkv_dim].
using AttentionFn = std::function<Var(const Var& q, const Var& k, const Var& v,
                                      const std::vector<int32_t>& lengths,
                                      const std::vector<uint8_t>& mask, int heads, float dropout,
                                      Rng& rng)>;

// The per-layer form of the hook, for variants that own parameters in each layer or read the
// layer's normalized input (Linformer's length projections, Synthesizer's logits, Sinkhorn's
// sorting network). An AttentionLayerFactory is called once per encoder layer, at
// construction and before the layer's q, k, v projections are made, with the model's
// ParamStore, the layer's attention prefix ("layers.{i}.attn": name parameters
// prefix + ".name"), and the shapes below; it returns the layer's attention and which of the
// standard projections it reads (an unread projection is not created: no unused parameters).
struct AttentionLayerShape {
  int d_model;  // width of the normalized input h
  int qkv_dim;  // width of q, k, v and of the attention's result
  int heads;
  int max_len;  // the longest sequence the layer sees: max_len, + 1 with the CLS row
};

// One call's inputs. q, k, v: [B, L, qkv_dim], or undefined (Var{}) for a projection the
// layer said it does not read. h: LN1(x) [B, L, d_model]. lengths, mask, dropout, rng: as
// AttentionFn's (dropout is 0 outside training).
struct AttentionInputs {
  const Var& h;
  const Var& q;
  const Var& k;
  const Var& v;
  const std::vector<int32_t>& lengths;
  const std::vector<uint8_t>& mask;
  int heads;
  float dropout;
  bool training;
  Rng& rng;
};

struct LayerAttention {
  // Returns [B, L, qkv_dim], which the layer's output projection maps back to d_model.
  std::function<Var(const AttentionInputs&)> forward;
  bool use_q = true, use_k = true, use_v = true;
};

using AttentionLayerFactory = std::function<LayerAttention(
    ParamStore& ps, const std::string& prefix, const AttentionLayerShape& shape)>;

// The Transformer of this file from its options: TransformerOptions(), of which a variant may
// drop "attention" (then `attention` must be set) and "attention_dropout" (then 0) and add its
// own. A null `attention` uses
// core's dense or blocked attention, as the "attention" option says. Error messages name
// `model` (the registered name).
absl::StatusOr<std::unique_ptr<Model>> CreateTransformer(const std::string& model,
                                                         const TaskInfo& task, const Options& o,
                                                         uint64_t seed,
                                                         AttentionFn attention = nullptr);

// The same with a per-layer attention (non-null `layer_attention`); the options as above
// without "attention".
absl::StatusOr<std::unique_ptr<Model>> CreateTransformerWithLayers(
    const std::string& model, const TaskInfo& task, const Options& o, uint64_t seed,
    AttentionLayerFactory layer_attention);

// The memory of one training step (harness/README.md "Memory estimate") with each query
// attending to `keys_per_query` saved probabilities per head (dense: L; local: the window;
// 0: O(L) state, as blocked attention).
MemoryEstimate EstimateTransformerEncoder(const TaskInfo& task, const Options& o, int64_t batch,
                                          int64_t length, double keys_per_query);

// The fixed sinusoidal table [length, dim]: sin on even, cos on odd features,
// div_term = exp(2i * -ln(10000) / dim) (common_layers.py sinusoidal_init at cd31e5c).
std::vector<float> SinusoidalPositions(int length, int dim);

}  // namespace lra::models::transformer

#endif  // LRA_MODELS_TRANSFORMER_TRANSFORMER_H_

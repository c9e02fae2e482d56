// "synthesizer": LRA's Synthesizer baseline (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/synthesizer/synthesizer.py SynthesizerEncoder and
// SynthesizerDualEncoder, synthesizer_attention.py SynthesizerAttention; Tay et al. 2021, arXiv
// 2005.00743): the LRA Transformer (models/transformer/transformer.h: embedding, positions, CLS
// row, pre-LN blocks, encoder_norm, the LRA heads, initialisation) with each block's attention
// logits synthesized (core/ops/synthesizer_attention.h):
//   random: a learned [heads, P, P] matrix layers.{i}.attn.random, sliced to [L, L]
//           (P = max_len, + 1 with the CLS row as SynthesizerEncoder's `max_len += 1`);
//   dense:  per token, relu(h W1) per head [d] times W2 [d, P], sliced to L keys
//           (layers.{i}.attn.dense_syn.w [D, heads * d], layers.{i}.attn.dense_syn_len.w [d, P]);
//   plus q.k / sqrt(d) unless ignore_dot_product (then no q and k projections exist).
// Defaults are what every released run used: SynthesizerBlock's synthesizer_mode='random' and
// ignore_dot_product=False (text_classification/configs/synthesizer_base.py sets
// ignore_dot_product, synthesizer_mode 'factorized_random' and k outside config.model, which
// train.py never hands to the model; the image configs set model.synthesizer_mode 'random').
// Every kernel is flax's xavier_uniform without bias (SynthesizerBlock: bias=False,
// kernel_init=xavier_uniform()); for [heads, P, P] flax's fans are P * heads each
// (receptive field = heads), so U(+-sqrt(3 / (P heads))). One departure: the released dense
// branch reshapes its [B, L, heads, P] logits to [B, heads, L, P] (its "TODO(yitay) check if
// this reshape is needed"), which hands head h's query i the logits of another position and
// makes them depend on the padded length; here head h's row i is position i's own (a
// transpose), as the Synthesizer paper defines B_i = F(X_i).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ops/ops.h"
#include "core/ops/synthesizer_attention.h"
#include "core/random.h"
#include "models/common/layers.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::synthesizer {
namespace {

std::vector<OptionSpec> SynthesizerOptions() {
  std::vector<OptionSpec> o = transformer::TransformerOptionsWithout({"attention"});
  o.push_back({"synthesizer_mode", "random",
               "random (a learned [heads, P, P] logit matrix; SynthesizerBlock's default, what "
               "every LRA run used), dense (logits predicted per token) or dense+random",
               OptionType::kString, {"random", "dense", "dense+random"}});
  o.push_back({"attention_state", "logsumexp",
               "what the attention keeps for backward: logsumexp (the row logsumexp; backward "
               "recomputes the probabilities block by block: no L x L state) or probs (the "
               "[B, heads, L, L] probabilities, as the Transformer's dense attention)",
               OptionType::kString, {"logsumexp", "probs"}});
  o.push_back({"ignore_dot_product", "false",
               "drop the q.k / sqrt(d) term and the q, k projections (LRA's default false: the "
               "synthetic logits are added to the dot product)"});
  return o;
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  const std::string mode = o.String("synthesizer_mode");
  const bool random = mode != "dense", dense = mode != "random";
  const bool ignore_dot = o.Bool("ignore_dot_product");
  const kernels::SynthesizerSaved state = o.String("attention_state") == "probs"
                                              ? kernels::SynthesizerSaved::kProbs
                                              : kernels::SynthesizerSaved::kLogsumexp;
  return transformer::CreateTransformerWithLayers(
      "synthesizer", task, o, seed,
      [random, dense, ignore_dot, state](ParamStore& ps, const std::string& prefix,
                                  const transformer::AttentionLayerShape& s) {
        const int p = s.max_len, heads = s.heads, d = s.qkv_dim / s.heads;
        Var r;
        if (random) {
          const float limit = static_cast<float>(std::sqrt(3.0 / (double(p) * heads)));
          r = ps.Add(prefix + ".random", RandomUniform({heads, p, p}, -limit, limit, ps.init_rng()));
        }
        LinearLayer w1, w2;
        if (dense) {
          w1 = LinearLayer(ps, prefix + ".dense_syn", s.d_model, s.qkv_dim, false,
                           InitKind::kXavier);
          w2 = LinearLayer(ps, prefix + ".dense_syn_len", d, p, false, InitKind::kXavier);
        }
        transformer::LayerAttention la;
        la.use_q = la.use_k = !ignore_dot;
        la.forward = [r, w1, w2, dense, heads, d, state](const transformer::AttentionInputs& in) {
          const int64_t b = in.h.dim(0), l = in.h.dim(1);
          // random: the [heads, P, P] parameter itself, read in place by the op (its top-left
          // L x L block); no [heads, L, L] slice or per-example copy is formed.
          Var ds;
          if (dense) {  // [B, L, heads, d] -> [B, L, heads, P] -> [B, heads, L, L]
            Var t = Relu(Reshape(w1.Forward(in.h), {b, l, heads, d}));
            ds = Permute(Slice(w2.Forward(t), 3, 0, l), {0, 2, 1, 3});
          }
          return SynthesizerAttention(in.q, in.k, in.v, r, ds, in.lengths, in.mask, heads,
                                      in.dropout, &in.rng, state);
        };
        return la;
      });
}

// The Transformer's estimate (models/transformer/transformer.cc EstimateTransformerEncoder) with
// what the synthetic logits add, counted from what the op and the layers hold
// (core/kernels/synthesizer_attention.h):
//  - parameters per layer: random heads P^2 (each with its gradient and two AdamW moments, as
//    every parameter: 4 x 4 bytes), dense D Dq + d P;
//  - attention state per layer: attention_state=probs keeps the [B, heads, L, L] probabilities
//    (the Transformer's dense count, 2 per pair: the saved matrix and one transient); logsumexp
//    keeps O(L) (counted in the Transformer's per-token terms), and the backward of one layer at
//    a time holds dS of G = min(B, max(1, threads / heads)) examples for the shared gradient
//    (G heads L^2) and per-thread R x L blocks (a few MB);
//  - dense mode per layer: the [B, L, heads, P] W2 output, its [B, L, heads, L] slice and the
//    [B, heads, L, L] logits kept for backward (3 B heads L P), and in one layer's backward
//    their gradients (3 B heads L P more).
MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  const double l = double(length) + (o.Bool("cls") ? 1 : 0);
  const bool probs = o.String("attention_state") == "probs";
  MemoryEstimate e = transformer::EstimateTransformerEncoder(task, o, batch, length, probs ? l : 0);
  const double p = (o.Int("max_len") > 0 ? o.Int("max_len") : task.max_length) +
                   (o.Bool("cls") ? 1 : 0);
  const double h = o.Int("d_model"), heads = o.Int("heads"), layers = o.Int("n_layers");
  const double q = o.Int("qkv_dim") > 0 ? o.Int("qkv_dim") : h;
  const double docs = task.pair ? 2 : 1, examples = docs * double(batch);
  const std::string mode = o.String("synthesizer_mode");
  double per_layer = 0;
  if (mode != "dense") per_layer += heads * p * p;
  if (mode != "random") per_layer += h * q + q / heads * p;
  if (o.Bool("ignore_dot_product")) per_layer -= 2 * h * q;
  e.parameters += layers * per_layer;
  if (mode != "random") e.activations += (3 * layers + 3) * examples * heads * l * p;
  if (!probs && mode != "dense") {
    const double g = std::min(examples, std::max(1.0, std::floor(omp_get_max_threads() / heads)));
    e.activations += g * heads * l * l;
  }
  return e;
}

ModelInfo Info() {
  ModelInfo info;
  info.name = "synthesizer";
  info.description =
      "LRA Synthesizer: the LRA Transformer with synthesized attention logits (random: a "
      "learned [heads, L, L] matrix, LRA's default; dense: predicted per token) added to the "
      "dot product; google-research/long-range-arena cd31e5c models/synthesizer";
  info.options = SynthesizerOptions();
  info.create = Create;
  info.estimate = Estimate;
  return info;
}

}  // namespace
}  // namespace lra::models::synthesizer

LRA_REGISTER_MODEL(lra::models::synthesizer::Info());

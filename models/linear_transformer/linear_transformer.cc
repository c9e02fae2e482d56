// "linear_transformer": LRA's Linear Transformer baseline (google-research/long-range-arena
// cd31e5c, lra_benchmarks/models/linear_transformer/linear_transformer.py
// LinearTransformerEncoder and LinearTransformerDualEncoder; Katharopoulos et al. 2020, arXiv
// 2006.16236): the LRA Transformer (models/transformer/transformer.h: embedding, positions, CLS
// row, pre-LN blocks, encoder_norm, the LRA heads, initialisation) with each block's attention
// replaced by linear attention with the elu + 1 feature map (core/kernels/linear_attention.h:
// O(L d^2), never an L x L matrix). As in LRA, the attention takes no token mask and no
// dropout (linear_attention.py deletes its dropout arguments), so the options have no
// `attention_dropout`; unlike LRA, keys past an example's length are left out of the sums, so
// padding does not change an example's logits.
#include <memory>
#include <vector>

#include "core/ops/linear_attention.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::linear_transformer {
namespace {

std::vector<OptionSpec> LinearOptions() {
  return transformer::TransformerOptionsWithout({"attention", "attention_dropout"});
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  return transformer::CreateTransformer(
      "linear_transformer", task, o, seed,
      [](const Var& q, const Var& k, const Var& v, const std::vector<int32_t>& lengths,
         const std::vector<uint8_t>& /*mask: none, as LRA*/, int heads, float /*dropout*/,
         Rng& /*rng*/) { return LinearAttention(q, k, v, lengths, heads); });
}

// The Transformer's estimate without saved probabilities: the state is KV and the key sum,
// heads * (d^2 + d) per example and layer, inside the per-token terms' slack.
MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  return transformer::EstimateTransformerEncoder(task, o, batch, length, 0);
}

ModelInfo Info() {
  ModelInfo info;
  info.name = "linear_transformer";
  info.description =
      "LRA Linear Transformer: the LRA Transformer with elu+1 linear attention (O(L), no L x L "
      "matrix); google-research/long-range-arena cd31e5c models/linear_transformer";
  info.options = LinearOptions();
  info.create = Create;
  info.estimate = Estimate;
  return info;
}

}  // namespace
}  // namespace lra::models::linear_transformer

LRA_REGISTER_MODEL(lra::models::linear_transformer::Info());

// "performer": LRA's Performer baseline (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/performer/performer.py PerformerEncoder and PerformerDualEncoder;
// Choromanski et al. 2021, arXiv 2009.14794): the LRA Transformer
// (models/transformer/transformer.h: embedding, positions, CLS row, pre-LN blocks, encoder_norm,
// the LRA heads, initialisation) with each block's attention replaced by the performer
// library's fast attention (core/ops/performer_attention.h: O(L), never an L x L matrix).
// feature_map relu is performer.py's default attention class ('generalized': relu(x) + 0.001
// features, nothing random); favor is the 'softmax' class (FAVOR+ positive orthogonal random
// features, `features` of them), which only listops/configs/performer_base.py selects, with
// nb_features 2. redraw query is the released redraw_features=True (a projection drawn at every
// call from the queries' values; per example here), fixed draws one projection per layer at
// construction (the buffer layers.{i}.attn.projection). As in LRA the attention takes no token
// mask and no dropout (FastAttention ignores both), so the options have no attention_dropout;
// unlike LRA, keys past an example's length are left out, so padding does not change an
// example's logits.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ops/performer_attention.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::performer {
namespace {

std::vector<OptionSpec> PerformerOptions() {
  std::vector<OptionSpec> o =
      transformer::TransformerOptionsWithout({"attention", "attention_dropout"});
  o.push_back({"feature_map", "relu",
               "relu (performer.py's default 'generalized' attention: relu(x) + 0.001, no "
               "random features) or favor (the 'softmax' class: FAVOR+ positive orthogonal "
               "random features; LRA's ListOps config)",
               OptionType::kString, {"relu", "favor"}});
  o.push_back(OptionSpec{"features", "256",
                         "FAVOR+ random features m (make_fast_softmax_attention nb_features, "
                         "default 256; LRA ListOps 2); feature_map=favor only"}
                  .Min(1));
  o.push_back({"redraw", "query",
               "FAVOR+ projection: query (LRA's redraw_features=True: redrawn at every call, "
               "seeded by the queries' values, per example) or fixed (drawn once per layer)",
               OptionType::kString, {"query", "fixed"}});
  return o;
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  PerformerConfig base;
  base.feature_map = o.String("feature_map") == "favor" ? PerformerFeatureMap::kFavor
                                                        : PerformerFeatureMap::kRelu;
  base.features = o.Int("features");
  base.redraw = o.String("redraw") == "fixed" ? PerformerRedraw::kFixed : PerformerRedraw::kQuery;
  return transformer::CreateTransformerWithLayers(
      "performer", task, o, seed,
      [base](ParamStore& ps, const std::string& prefix, const transformer::AttentionLayerShape& s) {
        PerformerConfig c = base;
        c.heads = s.heads;
        const Tensor* w = nullptr;  // the buffer: a restored checkpoint replaces its value
        if (c.feature_map == PerformerFeatureMap::kFavor && c.redraw == PerformerRedraw::kFixed)
          w = ps.AddBuffer(prefix + ".projection",
                           DrawFavorProjection(c.features, s.qkv_dim / s.heads, ps.init_rng()));
        transformer::LayerAttention la;
        la.forward = [c, w](const transformer::AttentionInputs& in) {
          PerformerConfig cw = c;
          if (w) cw.projection = *w;
          return PerformerAttention(in.q, in.k, in.v, in.lengths, cw);
        };
        return la;
      });
}

// The Transformer's estimate with the saved features instead of probabilities: q and k
// features [heads, m] per token (m = d for relu), counted as m "keys" per query and head.
MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  const int64_t q = o.Int("qkv_dim") > 0 ? o.Int("qkv_dim") : o.Int("d_model");
  const double m = o.String("feature_map") == "favor" ? o.Int("features") : q / o.Int("heads");
  return transformer::EstimateTransformerEncoder(task, o, batch, length, m);
}

ModelInfo Info() {
  ModelInfo info;
  info.name = "performer";
  info.description =
      "LRA Performer: the LRA Transformer with the performer library's fast attention (relu "
      "features by default, FAVOR+ positive random features with feature_map=favor; O(L), no "
      "L x L matrix); google-research/long-range-arena cd31e5c models/performer";
  info.options = PerformerOptions();
  info.create = Create;
  info.estimate = Estimate;
  return info;
}

}  // namespace
}  // namespace lra::models::performer

LRA_REGISTER_MODEL(lra::models::performer::Info());

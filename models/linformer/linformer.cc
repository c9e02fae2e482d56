// "linformer": LRA's Linformer baseline (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/linformer/linformer.py LinformerEncoder and LinformerDualEncoder; Wang et
// al. 2020, arXiv 2006.04768): the LRA Transformer (models/transformer/transformer.h: embedding,
// positions, CLS row, pre-LN blocks, encoder_norm, the LRA heads, initialisation) with each
// block's attention replaced by Linformer's low-rank attention (core/ops/linformer_attention.h):
// keys and values projected along the length by one learned kernel per layer,
// layers.{i}.attn.lr_kernel [max_len (+1 with the CLS row, as LinformerEncoder's
// `max_len += 1`), low_rank_features], flax's xavier_uniform like the block's other kernels
// (LinformerBlock passes kernel_init=xavier_uniform()). low_rank_features 16 is
// LinformerAttention's default, which every released run used: LinformerBlock passes none, and
// text_classification/configs/linformer_base.py's `config.low_rank_features = 32` sits outside
// config.model, so train.py never hands it to the model. Padding: rows past an example's length
// are zeroed before the projection (the released code mixes them in); no token mask, as the
// released code.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/ops/linformer_attention.h"
#include "core/random.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::linformer {
namespace {

std::vector<OptionSpec> LinformerOptions() {
  std::vector<OptionSpec> o = transformer::TransformerOptionsWithout({"attention"});
  o.push_back(OptionSpec{"low_rank_features", "16",
                         "k: the projected length of keys and values (LRA "
                         "linformer_attention.py low_rank_features=16, what every LRA run used)"}
                  .Min(1));
  return o;
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  const int rank = o.Int("low_rank_features");
  return transformer::CreateTransformerWithLayers(
      "linformer", task, o, seed,
      [rank](ParamStore& ps, const std::string& prefix, const transformer::AttentionLayerShape& s) {
        // xavier_uniform on [P, k]: U(+-sqrt(6 / (P + k))).
        const float limit = static_cast<float>(std::sqrt(6.0 / (s.max_len + rank)));
        Var e = ps.Add(prefix + ".lr_kernel",
                       RandomUniform({s.max_len, rank}, -limit, limit, ps.init_rng()));
        transformer::LayerAttention la;
        la.forward = [e](const transformer::AttentionInputs& in) {
          return LinformerAttention(in.q, in.k, in.v, e, in.lengths, in.heads, in.dropout,
                                    &in.rng);
        };
        return la;
      });
}

// The Transformer's estimate with low_rank_features saved probabilities per query and head
// instead of L, plus the kernel's P x k parameters per layer.
MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  MemoryEstimate e = transformer::EstimateTransformerEncoder(task, o, batch, length,
                                                             o.Int("low_rank_features"));
  const double p = (o.Int("max_len") > 0 ? o.Int("max_len") : task.max_length) +
                   (o.Bool("cls") ? 1 : 0);
  e.parameters += o.Int("n_layers") * p * o.Int("low_rank_features");
  return e;
}

ModelInfo Info() {
  ModelInfo info;
  info.name = "linformer";
  info.description =
      "LRA Linformer: the LRA Transformer with keys and values projected along the length to "
      "low_rank_features rows by a learned kernel (O(L k), no L x L matrix); "
      "google-research/long-range-arena cd31e5c models/linformer";
  info.options = LinformerOptions();
  info.create = Create;
  info.estimate = Estimate;
  return info;
}

}  // namespace
}  // namespace lra::models::linformer

LRA_REGISTER_MODEL(lra::models::linformer::Info());

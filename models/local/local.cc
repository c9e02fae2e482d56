// "local": LRA's Local Attention baseline (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/local/local.py LocalTransformerEncoder and LocalTransformerDualEncoder):
// the LRA Transformer (models/transformer/transformer.h: embedding, positions, CLS row, pre-LN
// blocks, encoder_norm, the LRA heads, flax's `inputs > 0` masking) with each block's attention
// replaced by block-local attention over windows of `block_size` positions
// (core/kernels/local_attention.h, which also says where it departs from the released code's
// strided reshape). block_size 50 is LocalTransformerEncoder's default (local.py, the
// `block_size=50` argument), which the ListOps, Text and Retrieval configs keep; the image
// configs set 64 (image/configs/*/local_base.py).
#include <algorithm>
#include <memory>
#include <vector>

#include "core/ops/local_attention.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::local {
namespace {

std::vector<OptionSpec> LocalOptions() {
  // Always block-local here.
  std::vector<OptionSpec> o = transformer::TransformerOptionsWithout({"attention"});
  o.push_back(OptionSpec{"block_size", "50",
                         "attention window: each query attends to the keys of its block of "
                         "block_size consecutive positions (LRA local.py default 50)"}
                  .Min(1));
  return o;
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  const int block = o.Int("block_size");
  return transformer::CreateTransformer(
      "local", task, o, seed,
      [block](const Var& q, const Var& k, const Var& v, const std::vector<int32_t>& lengths,
              const std::vector<uint8_t>& mask, int heads, float dropout, Rng& rng) {
        return LocalAttention(q, k, v, lengths, {heads, block, dropout}, mask, &rng);
      });
}

// The Transformer's estimate with block_size saved probabilities per query and head instead of
// L (core/kernels/local_attention.h saves [B, heads, L, block]).
MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  return transformer::EstimateTransformerEncoder(task, o, batch, length, o.Int("block_size"));
}

ModelInfo Info() {
  ModelInfo info;
  info.name = "local";
  info.description =
      "LRA Local Attention: the LRA Transformer with block-local attention (windows of "
      "block_size positions, O(L block_size)); google-research/long-range-arena cd31e5c "
      "models/local";
  info.options = LocalOptions();
  info.create = Create;
  info.estimate = Estimate;
  return info;
}

}  // namespace
}  // namespace lra::models::local

LRA_REGISTER_MODEL(lra::models::local::Info());

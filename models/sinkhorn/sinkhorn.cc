// "sinkhorn": LRA's Sparse Sinkhorn Transformer (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/sinkhorn_transformer/sinkhorn_transformer.py SinkhornTransformerEncoder
// and SinkhornTransformerDualEncoder; Tay et al. 2020, "Sparse Sinkhorn Attention", arXiv
// 2002.11296): the LRA Transformer (models/transformer/transformer.h: embedding, positions,
// pre-LN blocks, encoder_norm, heads, flax's `inputs > 0` masking) with each block's attention
// replaced by Sinkhorn attention (sinkhorn_attention.py SinkhornAttention):
//   S_n = sum of the keys of block n (w = block_size positions; LRA's sum_key)
//   R   = S_n W_sort                     one bias-free Dense per layer over head_dim, shared by
//                                        the heads, xavier_uniform (the `sort_out` DenseGeneral
//                                        with the block's kernel_init and bias=False)
//   P   = softmax_l(R)                   (sort_activation='softmax', LRA's default) or Sinkhorn
//                                        balancing in log space (sort_activation='sinkhorn',
//                                        sinkhorn_operator: n_iters=1, temp=1.0 by default)
//   out = LocalAttention(q, k, v) + attention of each block's queries to the sorted block
//         sum_l P[n, l] (K_l, V_l), each softmax normalised on its own (`x = x + sorted_x`),
//         attention dropout on both with one key (LRA passes one dropout_rng to both).
// Non-causal (the encoder passes causal_mask=False, so no "sortcut" truncation).
// core/kernels/sinkhorn_attention.h has the kernels; models/sinkhorn/README.md the departures
// from the released code (contiguous blocks, the sorting einsum, the sort network's width).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/ops/local_attention.h"
#include "core/ops/ops.h"
#include "core/ops/sinkhorn_attention.h"
#include "models/common/layers.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::sinkhorn {
namespace {

std::vector<OptionSpec> SinkhornOptions() {
  std::vector<OptionSpec> o;
  for (OptionSpec& s : transformer::TransformerOptions())
    if (s.name != "attention") o.push_back(std::move(s));  // always Sinkhorn attention here
  o.push_back(OptionSpec{"block_size", "50",
                         "block length: queries attend within their block and to one sorted "
                         "block (LRA sinkhorn_attention.py default 50)"}
                  .Min(1));
  o.push_back({"sort_activation",
               "softmax",
               "block permutation: softmax (row softmax, LRA's default) or sinkhorn (Sinkhorn "
               "balancing in log space)",
               OptionType::kString,
               {"softmax", "sinkhorn"}});
  o.push_back(OptionSpec{"sinkhorn_iters", "1",
                         "Sinkhorn (row, column) normalisation rounds, sort_activation=sinkhorn "
                         "(LRA sinkhorn_operator n_iters=1)"}
                  .Min(1));
  o.push_back(OptionSpec{"sinkhorn_temperature", "1.0",
                         "the logits are divided by it, sort_activation=sinkhorn (LRA "
                         "sinkhorn_operator temp=1.0)",
                         OptionType::kFloat}
                  .Min(0, true));
  return o;
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  const int block = o.Int("block_size");
  SinkhornNormConfig norm;
  if (o.String("sort_activation") == "sinkhorn") {
    norm.iters = o.Int("sinkhorn_iters");
    norm.temperature = static_cast<float>(o.Float("sinkhorn_temperature"));
  }
  return transformer::CreateTransformerWithLayers(
      "sinkhorn", task, o, seed,
      [block, norm](ParamStore& ps, const std::string& prefix,
                    const transformer::AttentionLayerShape& shape) {
        // One column per block of the longest sequence: LRA's max_num_blocks (25) sliced to the
        // number of blocks, here exactly as wide as that number can get.
        const int cols = (shape.max_len + block - 1) / block;
        const LinearLayer sort(ps, prefix + ".sort", shape.qkv_dim / shape.heads, cols,
                               /*bias=*/false, InitKind::kXavier);
        transformer::LayerAttention la;
        la.forward = [sort, block, norm](const transformer::AttentionInputs& in) {
          const int b = static_cast<int>(in.q.dim(0)), l = static_cast<int>(in.q.dim(1));
          Var p = SinkhornNormalize(sort.Forward(BlockKeySum(in.k, in.lengths, in.heads, block)),
                                    SinkhornExampleBlocks(in.lengths, b, l, block), norm);
          Rng same_key = in.rng;  // both terms drop the same (query, key index) pairs
          Var local = LocalAttention(in.q, in.k, in.v, in.lengths, {in.heads, block, in.dropout},
                                     in.mask, &in.rng);
          Var sorted = SortedBlockAttention(in.q, in.k, in.v, p, in.lengths,
                                            {in.heads, block, in.dropout}, in.mask, &same_key);
          return lra::Add(local, sorted);
        };
        return la;
      });
}

// The Transformer's estimate with 2 block_size saved probabilities per query and head (the
// local and the sorted term) instead of L; the sorted keys and values (2 qkv_dim per token) and
// the nb x nb permutations are small beside them.
MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  return transformer::EstimateTransformerEncoder(task, o, batch, length, 2.0 * o.Int("block_size"));
}

ModelInfo Info() {
  ModelInfo info;
  info.name = "sinkhorn";
  info.description =
      "LRA Sinkhorn Transformer: the LRA Transformer with Sparse Sinkhorn attention (block-local "
      "plus attention to softly sorted blocks, O(L block_size + (L/block_size)^2)); "
      "google-research/long-range-arena cd31e5c models/sinkhorn_transformer";
  info.options = SinkhornOptions();
  info.create = Create;
  info.estimate = Estimate;
  return info;
}

}  // namespace
}  // namespace lra::models::sinkhorn

LRA_REGISTER_MODEL(lra::models::sinkhorn::Info());

// "sparse_transformer": LRA's Sparse Transformer baseline (google-research/long-range-arena
// cd31e5c, lra_benchmarks/models/sparse_transformer/sparse_transformer.py
// SparseTransformerEncoder and SparseTransformerDualEncoder; Child et al. 2019, arXiv
// 1904.10509): the LRA Transformer (models/transformer/transformer.h: embedding, positions, CLS
// row, pre-LN blocks, encoder_norm, the LRA heads, flax's `inputs > 0` masking, initialisation;
// SparseTransformerBlock is TransformerBlock with SparseSelfAttention) with each block's
// attention restricted to the causal "fixed" pattern: a query reads the earlier positions of its
// own block of `block_size` and the summary columns (remainder 0 and the last `summary` of every
// block) before it (sparse_attention.py build_mask with Fixed1Pattern and Fixed2Pattern, lines
// 63-95). block_size 50 and summary 10 are what LRA's train_utils.py passes (lines 74-78:
// Fixed1Pattern(block_size=50), Fixed2Pattern(block_size=50, c=10)); no task config changes
// them. Position 0 reads and is read by every position when the pooled position is 0
// (SparseTransformerEncoder sets use_cls_token when classifier_pool == 'CLS', lines 159-162;
// SparseAttention then builds the mask over positions 1.. and pads ones in front, lines
// 185-191): here when pool is cls or first.
//
// The released code masks dense attention (an L x L bias); here the pattern runs sparsely
// (core/kernels/block_sparse_attention.h SparseFixedLayout, whose kept set equals the released
// mask: block_sparse_attention_test). A masked query attends uniformly to its pattern (flax:
// to all L positions), as models/local does within its window; this changes no valid position.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ops/block_sparse_attention.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::sparse_transformer {
namespace {

std::vector<OptionSpec> SparseOptions() {
  std::vector<OptionSpec> o;
  for (OptionSpec& s : transformer::TransformerOptions())
    if (s.name != "attention") o.push_back(std::move(s));  // always the sparse pattern here
  o.push_back(OptionSpec{"block_size", "50",
                         "Fixed1 block: a query reads the earlier positions of its block "
                         "(LRA train_utils.py: 50)"}
                  .Min(1));
  o.push_back(OptionSpec{"summary", "10",
                         "Fixed2 c: a query also reads remainder 0 and the last `summary` "
                         "positions of every earlier block (LRA train_utils.py: 10)"}
                  .Min(0));
  return o;
}

// SparseTransformerEncoder's use_cls_token: the pooled position is 0.
bool ClsGlobal(const TaskInfo& task, const Options& o) {
  std::string pool = o.String("pool");
  if (pool.empty()) pool = task.pooling.empty() ? "mean" : task.pooling;
  return pool == "cls" || pool == "first";
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  const int block = o.Int("block_size"), summary = o.Int("summary");
  if (summary > block)
    return absl::InvalidArgumentError(absl::StrCat(
        "sparse_transformer: summary (", summary, ") must be at most block_size (", block,
        "); set --model_option=summary=<0.." , block, ">"));
  const bool cls_global = ClsGlobal(task, o);
  return transformer::CreateTransformer(
      "sparse_transformer", task, o, seed,
      [block, summary, cls_global](const Var& q, const Var& k, const Var& v,
                                   const std::vector<int32_t>& lengths,
                                   const std::vector<uint8_t>& mask, int heads, float dropout,
                                   Rng& rng) {
        auto pattern = std::make_shared<kernels::BlockSparsePattern>();
        pattern->layouts.push_back(
            kernels::SparseFixedLayout(static_cast<int>(q.dim(1)), block, summary, cls_global));
        return BlockSparseAttention(q, k, v, lengths, std::move(pattern), {heads, dropout}, mask,
                                    &rng);
      });
}

// The Transformer's estimate with the saved probabilities of the pattern: a query block saves
// its own block and the summary columns of the blocks before it, block + (summary + 1) L /
// (2 block) per query on average (quadratic in L, by (summary + 1) / (2 block) of dense).
MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  const double block = o.Int("block_size"), c = o.Int("summary");
  const double keys = std::min<double>(length, block + (c + 1) * length / (2 * block));
  return transformer::EstimateTransformerEncoder(task, o, batch, length, keys);
}

ModelInfo Info() {
  ModelInfo info;
  info.name = "sparse_transformer";
  info.description =
      "LRA Sparse Transformer: the LRA Transformer with the causal fixed pattern (own block of "
      "block_size + summary columns of earlier blocks) run block-sparsely; "
      "google-research/long-range-arena cd31e5c models/sparse_transformer";
  info.options = SparseOptions();
  info.create = Create;
  info.estimate = Estimate;
  return info;
}

}  // namespace
}  // namespace lra::models::sparse_transformer

LRA_REGISTER_MODEL(lra::models::sparse_transformer::Info());

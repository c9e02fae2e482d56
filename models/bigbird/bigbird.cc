// "bigbird": LRA's BigBird baseline (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/bigbird/bigbird.py BigBirdEncoder and BigBirdDualEncoder; Zaheer et al.
// 2020, arXiv 2007.14062): the LRA Transformer (models/transformer/transformer.h: embedding,
// positions, CLS row, pre-LN blocks, encoder_norm, the LRA heads, flax's `inputs > 0` masking,
// initialisation; BigBirdBlock is TransformerBlock with BigBirdSelfAttention) with each block's
// attention cut into blocks of `block_size` positions: the first and last blocks are global
// (read and are read by every position), every other block reads its two neighbours and
// `num_rand_blocks` random blocks (bigbird_attention.py band_start_block_rand_multi_attention_pad,
// lines 130-314; core/kernels/block_sparse_attention.h BigBirdLayout and BigBirdRandomBlocks,
// whose kept set equals the released pattern: block_sparse_attention_test). block_size 64 is
// bigbird.py's _DEFAULT_BLOCK_SIZE (line 20) and the image configs' value
// (image/configs/*/bigbird_base.py line 23); num_rand_blocks 3 is BigBirdAttention's default
// (bigbird_attention.py line 415; BigBirdBlock does not pass it). The random blocks are fixed per
// layer and head, drawn from the layer index as LRA's connectivity_seed=lyr (bigbird.py line
// 207), never redrawn. As in LRA, the block-sparse path applies no attention dropout
// (sparse_dot_product_attention takes no dropout arguments, lines 317-323 and 633-640), so the
// options have no `attention_dropout`; masked query rows output 0 (`context_layer *
// seq_m_pad`, line 312).
//
// Departures, on purpose, so that padding never changes an example's logits
// (//models:batch_invariance_test):
//   * the blocks cover each example's own positions [0, n) (n its length, with the CLS row),
//     not the batch's padded length: the last global block is the example's last block, and the
//     random candidates follow the example's block count. The released code pads the batch to
//     a multiple of block_size (BigBirdAttention.apply lines 482-491; one whole extra block when
//     the length is already a multiple) and its global last block is then padding for every
//     shorter example;
//   * the released code pads the boolean padding mask with -1e9 (line 487), which casts to
//     True, so its extra positions are valid keys of value 0; here positions past the length are
//     masked keys;
//   * masked keys are left out (the released code adds -10000 to their scores, which underflows
//     to the same 0 in fp32);
//   * the random draw is Philox, not numpy's permutation, over the same candidate sets; where the
//     released code has fewer candidates than num_rand_blocks (short sequences) it repeats or
//     fails, here the row takes all candidates.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/ops/block_sparse_attention.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::bigbird {
namespace {

std::vector<OptionSpec> BigBirdOptions() {
  std::vector<OptionSpec> o;
  for (OptionSpec& s : transformer::TransformerOptions())
    if (s.name != "attention" && s.name != "attention_dropout") o.push_back(std::move(s));
  o.push_back(OptionSpec{"block_size", "64",
                         "attention block: global first/last blocks, neighbour band and random "
                         "blocks of block_size positions (LRA bigbird.py: 64)"}
                  .Min(1));
  o.push_back(OptionSpec{"num_rand_blocks", "3",
                         "random blocks each middle block reads, fixed per layer and head (LRA "
                         "bigbird_attention.py: 3)"}
                  .Min(0));
  return o;
}

// One layer's pattern for the batch: a layout per (example length, head), shared by the
// examples of equal length.
std::shared_ptr<kernels::BlockSparsePattern> Pattern(int length, int heads,
                                                     const std::vector<int32_t>& lengths,
                                                     int block, int num_rand, int layer) {
  auto p = std::make_shared<kernels::BlockSparsePattern>();
  std::map<std::pair<int, int>, int> made;  // (n, head) -> layout
  const int batch = static_cast<int>(lengths.size());
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h) {
      const int n = lengths[b];
      auto [it, fresh] = made.insert({{n, h}, static_cast<int>(p->layouts.size())});
      if (fresh) {
        const int nb = (n + block - 1) / block;
        p->layouts.push_back(kernels::BigBirdLayout(
            length, n, block,
            kernels::BigBirdRandomBlocks(nb, block, num_rand, static_cast<uint64_t>(layer), h)));
      }
      p->layout_of.push_back(it->second);
    }
  return p;
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  const int block = o.Int("block_size"), num_rand = o.Int("num_rand_blocks");
  const int layers = o.Int("n_layers");
  // The hook does not name the layer; the encoder calls it once per layer in order on every
  // pass (twice per Forward for Retrieval's two towers), so the calls count the layers.
  auto calls = std::make_shared<std::atomic<int64_t>>(0);
  return transformer::CreateTransformer(
      "bigbird", task, o, seed,
      [block, num_rand, layers, calls](const Var& q, const Var& k, const Var& v,
                                       const std::vector<int32_t>& lengths,
                                       const std::vector<uint8_t>& mask, int heads,
                                       float /*dropout: none on LRA's sparse path*/, Rng& rng) {
        const int layer = static_cast<int>(calls->fetch_add(1) % std::max(layers, 1));
        const int length = static_cast<int>(q.dim(1));
        std::vector<int32_t> lens = lengths;
        if (lens.empty()) lens.assign(q.dim(0), length);
        return BlockSparseAttention(q, k, v, lens,
                                    Pattern(length, heads, lens, block, num_rand, layer),
                                    {heads, 0.0f}, mask, &rng);
      });
}

// The Transformer's estimate with the saved probabilities of the pattern: a middle block reads
// at most (5 + num_rand) blocks, the two global blocks read all L, so per query on average
// at most (7 + num_rand) block_size keys: linear in L.
MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  const double keys =
      std::min<double>(length, (7.0 + o.Int("num_rand_blocks")) * o.Int("block_size"));
  return transformer::EstimateTransformerEncoder(task, o, batch, length, keys);
}

ModelInfo Info() {
  ModelInfo info;
  info.name = "bigbird";
  info.description =
      "LRA BigBird: the LRA Transformer with block-sparse attention (blocks of 64: global "
      "first/last, neighbour band, 3 random blocks fixed per layer and head; O(L)); "
      "google-research/long-range-arena cd31e5c models/bigbird";
  info.options = BigBirdOptions();
  info.create = Create;
  info.estimate = Estimate;
  return info;
}

}  // namespace
}  // namespace lra::models::bigbird

LRA_REGISTER_MODEL(lra::models::bigbird::Info());

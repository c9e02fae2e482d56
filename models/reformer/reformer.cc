// "reformer": LRA's Reformer (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/reformer/reformer.py ReformerEncoder and ReformerDualEncoder;
// Kitaev et al. 2020, "Reformer: The Efficient Transformer", arXiv 2001.04451): the LRA
// Transformer (models/transformer/transformer.h: embedding, CLS row, positions, pre-LN blocks,
// encoder_norm, classifier_head / classifier_head_dual, flax's `inputs > 0` masking) with each
// block's attention replaced by LSH attention (reformer_attention.py ReformerAttention and
// lsh_attention_single_head; core/kernels/lsh_attention.h):
//   shared query/key: one `query` projection serves as both (the layer has no key projection),
//     a `value` projection, both bias-free xavier_uniform (ReformerBlock's kernel_init,
//     bias=False);
//   n_hashes rounds of angular LSH into n_buckets buckets with fixed random rotations (LRA:
//     jax.random.PRNGKey(0) in every layer, head and step; here lra::LshRotations(hash_seed),
//     hash_seed 0, the same in every layer and head, as LRA), n_hashes=1 and n_buckets=10
//     (ReformerAttention's defaults, which ReformerBlock keeps);
//   sort by bucket, attention inside chunks of the sorted sequence and the chunk before
//     (circular look_one_back), hash rounds combined by their logsumexp;
//   no attention dropout (lsh_attention_single_head applies none; the option is dropped).
// chunk_len: LRA reshapes the sorted sequence into n_hashes * n_buckets chunks, so a chunk holds
// L / n_buckets items of the (padded) length; the default 0 takes that from max_len (+ CLS), and
// the paper configs set the value it has at each task's length. A fixed chunk keeps the cost
// linear in L. models/reformer/README.md lists where this departs from the released code.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ops/lsh_attention.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::reformer {
namespace {

std::vector<OptionSpec> ReformerOptions() {
  std::vector<OptionSpec> o;
  for (OptionSpec& s : transformer::TransformerOptions())
    if (s.name != "attention" && s.name != "attention_dropout") o.push_back(std::move(s));
  o.push_back(OptionSpec{"n_hashes", "1", "LSH rounds (LRA ReformerAttention n_hashes=1)"}.Min(1));
  o.push_back(OptionSpec{"n_buckets", "10",
                         "LSH buckets per round, even (LRA ReformerAttention n_buckets=10)"}
                  .Min(2));
  o.push_back(OptionSpec{"chunk_len", "0",
                         "items per chunk of the sorted sequence; each attends to its chunk and "
                         "the one before (0 = ceil((max_len + CLS) / n_buckets), LRA's chunk)"}
                  .Min(0));
  o.push_back(OptionSpec{"hash_seed", "0",
                         "seed of the fixed random rotations (LRA: jax.random.PRNGKey(0))"}
                  .Min(0));
  return o;
}

absl::StatusOr<std::unique_ptr<Model>> Create(const TaskInfo& task, const Options& o,
                                              uint64_t seed) {
  const int n_hashes = o.Int("n_hashes"), n_buckets = o.Int("n_buckets");
  const int chunk_len = o.Int("chunk_len");
  const uint64_t hash_seed = static_cast<uint64_t>(o.Int("hash_seed"));
  if (n_buckets % 2 != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("reformer: n_buckets (", n_buckets,
                     ") must be even (LSH takes the argmax over [xR, -xR])"));
  return transformer::CreateTransformerWithLayers(
      "reformer", task, o, seed,
      [=](ParamStore&, const std::string&, const transformer::AttentionLayerShape& shape) {
        const int chunk = chunk_len > 0 ? chunk_len : (shape.max_len + n_buckets - 1) / n_buckets;
        const std::vector<float> rotations =
            LshRotations(hash_seed, shape.qkv_dim / shape.heads, n_hashes, n_buckets);
        transformer::LayerAttention la;
        la.use_k = false;  // shared query/key
        la.forward = [=](const transformer::AttentionInputs& in) {
          return LshAttention(in.q, in.v, rotations, in.lengths,
                              {in.heads, n_hashes, n_buckets, chunk}, in.mask);
        };
        return la;
      });
}

int Chunk(const TaskInfo& task, const Options& o) {
  if (o.Int("chunk_len") > 0) return o.Int("chunk_len");
  const int max_len =
      (o.Int("max_len") > 0 ? o.Int("max_len") : task.max_length) + (o.Bool("cls") ? 1 : 0);
  return (max_len + o.Int("n_buckets") - 1) / o.Int("n_buckets");
}

// The Transformer's estimate with 2 chunk_len saved probabilities per query, head and round
// instead of L.
MemoryEstimate Estimate(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  return transformer::EstimateTransformerEncoder(task, o, batch, length,
                                                 2.0 * Chunk(task, o) * o.Int("n_hashes"));
}

ModelInfo Info() {
  ModelInfo info;
  info.name = "reformer";
  info.description =
      "LRA Reformer: the LRA Transformer with LSH attention (shared query/key, angular hashing, "
      "sorted chunks with look-back, O(L n_hashes chunk_len)); google-research/long-range-arena "
      "cd31e5c models/reformer";
  info.options = ReformerOptions();
  info.create = Create;
  info.estimate = Estimate;
  return info;
}

}  // namespace
}  // namespace lra::models::reformer

LRA_REGISTER_MODEL(lra::models::reformer::Info());

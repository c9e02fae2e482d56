// The Performer's attention as tape ops (LRA's `performer`: google-research/long-range-arena
// cd31e5c, lra_benchmarks/models/performer/performer.py and performer_attention.py, a fork of
// the performer library's fast_attention.py; Choromanski et al. 2021, arXiv 2009.14794):
// softmax attention approximated by a linear attention over nonnegative features of q and k,
//   out_i = sum_{j < len} (qf_i . kf_j) v_j / sum_{j < len} (qf_i . kf_j),
// computed as Z = sum_j kf_j v_j^T, T = sum_j kf_j (core/kernels/linear_attention.h
// FeatureAttention, the linear-attention kernel the Linear Transformer uses): O(L m d), never an
// L x L matrix. Two feature maps, as performer.py's two attention classes:
//   kRelu  ('generalized', performer.py's default _DEFAULT_ATTENTION_FN_CLS, which every LRA
//          config but ListOps runs): make_fast_generalized_attention with its defaults,
//          features_type 'deterministic' (no projection), kernel_fn relu, kernel_epsilon
//          0.001, normalize_data False, numerical_stabilizer 0: qf = relu(q) + 0.001,
//          kf = relu(k) + 0.001, m = d, and no redraw (there is nothing to draw).
//   kFavor ('softmax', listops/configs/performer_base.py): make_fast_softmax_attention, FAVOR+
//          positive orthogonal random features (core/kernels/favor.h) with `features` rows of a
//          Gaussian orthogonal projection (ortho_features True, ortho_scaling 0: row norms of
//          an independent Gaussian matrix), renormalized, numerical_stabilizer 1e-6.
// Redraw (kFavor): the released code's redraw_features=True draws a new projection at every
// call, seeded by the query values (`PRNGKey(ceil(sum(query) * 1e7))`), in training and
// evaluation alike, so a given input always meets the same projection. kQuery does the same per
// example: the seed is ceil(1e7 * the sum of the example's queries below its length), as an
// int32, keying a Philox stream (jax's PRNG is not reproduced), so an example's projection does
// not depend on its batchmates or padding. kFixed draws one projection when the layer is built
// (redraw_features=False). Like the released code, no token mask (FastAttention ignores the
// padding bias) and no attention dropout (ignored too); unlike it, keys past an example's length
// are left out of the sums (and of FAVOR's key max), so padding never reaches a real position.
#ifndef LRA_CORE_OPS_PERFORMER_ATTENTION_H_
#define LRA_CORE_OPS_PERFORMER_ATTENTION_H_

#include <cstdint>
#include <vector>

#include "core/random.h"
#include "core/tape.h"

namespace lra {

enum class PerformerFeatureMap { kRelu, kFavor };
enum class PerformerRedraw { kQuery, kFixed };

// generalized_kernel_feature_creator's kernel_epsilon (make_fast_generalized_attention 0.001).
inline constexpr float kPerformerReluEps = 1e-3f;

// A Gaussian orthogonal random matrix [features, head_dim] (performer_attention.py
// GaussianOrthogonalRandomMatrix, scaling 0): blocks of the Q factor of a head_dim x head_dim
// Gaussian matrix, transposed, stacked to `features` rows (the last block truncated), each row
// scaled by the norm of a row of an independent [features, head_dim] Gaussian matrix.
Tensor DrawFavorProjection(int features, int head_dim, Rng& rng);

// The per-example projections of kQuery: [B, features, d], example b's from the Philox stream
// keyed by ceil(1e7 * sum of q[b, i, :] over i < lengths[b]) as an int32 (q: [B, L, heads * d]).
Tensor DrawQuerySeededProjections(const Tensor& q, const std::vector<int32_t>& lengths,
                                  int features, int head_dim);

// FAVOR+ features (core/kernels/favor.h) of x [B, L, heads * d] under w ([m, d] shared or
// [B, m, d] per example): [B, L, heads * m]. Keys (is_query false): rows past the length are 0.
// w is a constant (no gradient).
Var FavorFeatures(const Var& x, const Tensor& w, const std::vector<int32_t>& lengths, int heads,
                  bool is_query);

// Linear attention over given features (core/kernels/linear_attention.h FeatureAttention): qf,
// kf [B, L, heads * m], v [B, L, heads * dv] -> [B, L, heads * dv].
Var FeatureAttention(const Var& qf, const Var& kf, const Var& v,
                     const std::vector<int32_t>& lengths, int heads, float stabilizer);

struct PerformerConfig {
  int heads = 1;
  PerformerFeatureMap feature_map = PerformerFeatureMap::kRelu;
  int features = 256;  // kFavor: m (make_fast_softmax_attention's nb_features default 256)
  PerformerRedraw redraw = PerformerRedraw::kQuery;
  Tensor projection;   // kFavor with kFixed: [features, d]
};

// q, k, v: [B, L, heads * d]; lengths: empty or B values in [0, L]. Returns [B, L, heads * d].
Var PerformerAttention(const Var& q, const Var& k, const Var& v,
                       const std::vector<int32_t>& lengths, const PerformerConfig& config);

}  // namespace lra

#endif  // LRA_CORE_OPS_PERFORMER_ATTENTION_H_

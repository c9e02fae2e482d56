// Linear attention with the elu + 1 feature map (Katharopoulos et al. 2020, "Transformers are
// RNNs", arXiv 2006.16236), forward and backward, as LRA's Linear Transformer computes it
// (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/linear_transformer/linear_attention.py linear_attention and
// elu_feature_map): per (b, head), with phi(x) = elu(x) + 1 (x + 1 for x > 0, exp(x) else),
//   KV = sum_j phi(k_j) v_j^T   [d x d],     ksum = sum_j phi(k_j)   [d],
//   out_i = (KV^T phi(q_i)) / (phi(q_i) . ksum + eps),   eps = 1e-6 (linear_attention's).
// No L x L matrix is ever formed: O(L d^2) time, and the saved state is KV and ksum,
// B * heads * (d^2 + d) floats.
//
// Masking. LRA's linear_attention takes no mask at all (LinearAttention receives padding_mask
// and never uses it), so there padded keys enter KV and ksum and an example's output depends on
// the length it is padded to. Here the sums run over j < lengths[b] only, so padding never
// reaches a real position; there is no token mask (as in LRA, a token such as a black pixel
// that LRA's `inputs > 0` would mask for the Transformer is an ordinary key). Every query,
// padded ones included, gets the formula above (padded rows are never read by valid ones). An
// example of length 0 has KV = 0, ksum = 0 and out = 0. No attention dropout: LRA's
// linear_attention deletes its dropout arguments.
//
// Layouts: q, k, v, out and their gradients [B, L, heads, d] row-major (a [B*L, heads*d]
// projection). Threads: OpenMP over (batch, head); Eigen GEMMs on strided views inside.
#ifndef LRA_CORE_KERNELS_LINEAR_ATTENTION_H_
#define LRA_CORE_KERNELS_LINEAR_ATTENTION_H_

#include <cstdint>

namespace lra {
namespace kernels {

struct LinearAttentionShape {
  int batch = 0;     // B >= 1
  int length = 0;    // L >= 1
  int heads = 0;     // >= 1
  int head_dim = 0;  // d >= 1
};

// linear_attention's eps (linear_attention.py, eps=1e-6).
inline constexpr float kLinearAttentionEps = 1e-6f;

// Floats of `saved`: B * heads * (d * d + d) (KV, then ksum, per (b, head)).
int64_t LinearAttentionSavedFloats(const LinearAttentionShape& shape);

// out and saved are overwritten. lengths [B] (each in [0, L]) may be null (no padding).
void LinearAttentionForward(const LinearAttentionShape& shape, const float* q, const float* k,
                            const float* v, const int* lengths, float* out, float* saved);

// OVERWRITES dq, dk, dv with the gradients of <out, dout>; `out` and `saved` are Forward's.
void LinearAttentionBackward(const LinearAttentionShape& shape, const float* q, const float* k,
                             const float* v, const int* lengths, const float* out,
                             const float* saved, const float* dout, float* dq, float* dk,
                             float* dv);

// The same attention over features computed outside (the Performer's, core/kernels/favor.h
// and core/ops/performer_attention.h): per (b, head), with qf, kf [L, m] and v [L, dv],
//   Z = sum_{j < len} kf_j v_j^T   [m x dv],     T = sum_{j < len} kf_j   [m],
//   R_i = qf_i . T,   out_i = Z^T qf_i / (R_i + 2 s [|R_i| <= s])
// with the stabilizer s of the performer library's FastAttentionviaLowRankDecomposition
// (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/performer/performer_attention.py dot_product_attention, the
// bidirectional renormalized branch: `R + 2 * numerical_stabilizer * (abs(R) <= stabilizer)`;
// s = 0 is a plain division). The indicator is piecewise constant: it passes no gradient, as in
// jax. O(L m dv) time; the saved state is Z and T, B * heads * (m dv + m) floats. Masking and
// zero-length examples as above (keys j >= len are left out; their dkf, dv are 0).
struct FeatureAttentionShape {
  int batch = 0;        // B >= 1
  int length = 0;       // L >= 1
  int heads = 0;        // >= 1
  int feature_dim = 0;  // m >= 1: qf, kf are [B, L, heads, m]
  int value_dim = 0;    // dv >= 1: v, out are [B, L, heads, dv]
};

int64_t FeatureAttentionSavedFloats(const FeatureAttentionShape& shape);

void FeatureAttentionForward(const FeatureAttentionShape& shape, const float* qf, const float* kf,
                             const float* v, const int* lengths, float stabilizer, float* out,
                             float* saved);

// OVERWRITES dqf, dkf, dv with the gradients of <out, dout>.
void FeatureAttentionBackward(const FeatureAttentionShape& shape, const float* qf,
                              const float* kf, const float* v, const int* lengths,
                              float stabilizer, const float* out, const float* saved,
                              const float* dout, float* dqf, float* dkf, float* dv);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_LINEAR_ATTENTION_H_

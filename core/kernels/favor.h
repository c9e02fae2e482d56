// FAVOR+ positive random features for softmax attention (Choromanski et al. 2021, "Rethinking
// Attention with Performers", arXiv 2009.14794, section 2.3, Lemma 1), forward and backward,
// as the Performer of LRA computes them: google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/performer/performer_attention.py
// nonnegative_softmax_kernel_feature_creator (a fork of the performer library's
// fast_attention.py, which its docstring names). Per (b, head), for x [L, d] (queries or keys)
// and the projection W [m, d] (m random features):
//   c = d^(-1/4) (normalize_data), u_ir = c x_i . w_r, g_i = c^2 |x_i|^2 / 2, rho = m^(-1/2),
//   queries: phi_ir = rho (exp(u_ir - g_i - max_r' u_ir') + eps)
//   keys:    phi_jr = rho (exp(u_jr - g_j - max_{j' < len, r'} u_j'r') + eps)
// with eps = numerical_stabilizer = 1e-6 (make_fast_softmax_attention's default). The query
// max runs over the features of one position, the key max over the features and positions of
// one (example, head), as the released code's `jnp.max(..., axis=last_dims_t +
// attention_dims_t)`; here the key max and the key features cover j < len only (keys past an
// example's length are 0 and pass no gradient), so padding does not change an example's
// features. As in jax, the max passes gradient to its argmax (the first one on ties).
//
// Layouts: x, dx [B, L, heads, d]; features [B, L, heads, m]; W: B matrices [m, d] at
// w + b * w_batch_stride (w_batch_stride 0: one shared matrix). Threads: OpenMP over (b, head).
#ifndef LRA_CORE_KERNELS_FAVOR_H_
#define LRA_CORE_KERNELS_FAVOR_H_

#include <cstdint>

namespace lra {
namespace kernels {

struct FavorShape {
  int batch = 0;     // B >= 1
  int length = 0;    // L >= 1
  int heads = 0;     // >= 1
  int head_dim = 0;  // d >= 1
  int features = 0;  // m >= 1
};

// make_fast_softmax_attention's numerical_stabilizer (performer_attention.py, 0.000001).
inline constexpr float kFavorEps = 1e-6f;

// features is overwritten. lengths [B] (each in [0, L]) may be null (no padding); for queries
// they are unused.
void FavorFeaturesForward(const FavorShape& shape, const float* x, const float* w,
                          int64_t w_batch_stride, const int* lengths, bool is_query,
                          float* features);

// OVERWRITES dx with the gradient of <features, dfeatures> (W is a constant).
void FavorFeaturesBackward(const FavorShape& shape, const float* x, const float* w,
                           int64_t w_batch_stride, const int* lengths, bool is_query,
                           const float* dfeatures, float* dx);

// performer_attention.py GaussianOrthogonalRandomMatrix(features, d, scaling=0).get_2d_array()
// from given standard normal draws: blocks = ceil(m / d) matrices [d, d] (row-major), each
// replaced by the transpose of its Q factor (Householder QR), stacked and truncated to m rows;
// row r is then scaled by the norm of row r of `norms` [m, d]. w: [m, d], overwritten.
void OrthogonalRandomMatrix(int features, int head_dim, const float* blocks, const float* norms,
                            float* w);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_FAVOR_H_

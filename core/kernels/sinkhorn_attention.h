// Sparse Sinkhorn attention (Tay et al. 2020, "Sparse Sinkhorn Attention", arXiv 2002.11296), as
// LRA's `sinkhorn` model uses it (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/sinkhorn_transformer/sinkhorn_attention.py SinkhornAttention): the
// sequence is cut into blocks of w positions; a sorting network scores, for every block n, each
// block l as the source of n's "sorted" keys; the scores become a soft permutation P (a row
// softmax, LRA's default sort_activation='softmax', or Sinkhorn balancing in log space); each
// query block then attends to its own block (core/kernels/local_attention.h) and, separately
// normalised, to the sorted block sum_l P[n, l] K_l, V_l; the two outputs are added (LRA:
// `x = x + sorted_x`). This file holds the two kernels that are new: the normalisation and the
// attention to the sorted blocks. Time and memory per (batch, head): O(L w d) for the attention
// and O(nb^2 w d) = O(L nb d) for the mixing, nb = ceil(L / w): no L x L matrix.
//
// Blocks are contiguous, [0, w), [w, 2w), ... (the last one shorter when w does not divide L),
// and a sequence of length len has nb_b = ceil(len / w) blocks; only those take part, so padding
// past the length never reaches a real position (see models/sinkhorn/README.md for where this
// departs from the released code's strided reshape and its sorting einsum).
//
// SinkhornNormalize*: logits R [B, heads, nbL, C] (nbL = ceil(L / w), C >= every nb_b: the sort
// network's width, LRA's max_num_blocks) -> P [B, heads, nbL, nbL]. For n, l < nb_b:
//   X = R[n, l] / temperature;
//   softmax (iters = 0):  P[n, :] = softmax_l(X[n, :])        (LRA: jax.nn.softmax(sort_out, -1))
//   sinkhorn (iters >= 1): iters times { X -= logsumexp over l (rows); X -= logsumexp over n
//                          (columns) }, P = exp(X)           (sinkhorn_operator, non-causal)
// Every other entry of P is 0. Backward: each step y = x - lse(x) has dx = dy - softmax(x)
// sum(dy) along its axis; the forward steps are recomputed (nb^2 per step).
//
// SortedBlockAttention*: q, k, v [B, L, heads, d], P as above, per (b, head):
//   position t valid: t < len_b and (mask null or mask[b * L + t] != 0);
//   Ks[n, j] = sum_{l < nb_b, l w + j valid} P[n, l] K[l w + j],  Vs likewise (slot j < w);
//   slot (n, j) valid: n < nb_b and some l < nb_b has l w + j valid;
//   query i in block n = i / w, valid: out_i = sum_{valid slots j} softmax_j(s_ij) Vs[n, j],
//     s_ij = <q_i, Ks[n, j]> / sqrt(d);
//   invalid query (flax's -1e10 on the whole row): uniform over the w slots, backward as
//     flax's autodiff (dS = P (dP - D), as core/kernels/local_attention.h).
// Dropout (rate p): core/kernels/window_dropout.h's mask (local_attention.h's) for query i and
// key index n w + j (Philox counter ((n w + j) / 4, i, head, b), key (seed low, seed high), word
// (n w + j) % 4), so with the local term's key both terms drop the same (query, slot) pairs, as
// LRA's two local_dot_product_attention calls share one dropout_rng.
// Saved: the undropped probabilities [B, heads, L, w] and Ks, Vs [B, heads, nbL, w, d].
// Layouts: q, k, v, out and their gradients [B, L, heads, d] row-major; P [B, heads, nbL, nbL].
// Threads: OpenMP over (batch, head); Eigen GEMMs inside.
#ifndef LRA_CORE_KERNELS_SINKHORN_ATTENTION_H_
#define LRA_CORE_KERNELS_SINKHORN_ATTENTION_H_

#include <cstdint>

namespace lra {
namespace kernels {

struct SinkhornShape {
  int batch = 0;     // B >= 1
  int length = 0;    // L >= 1
  int heads = 0;     // >= 1
  int head_dim = 0;  // d >= 1
  int block = 0;     // w >= 1
};

// nbL = ceil(L / w).
int SinkhornBlocks(const SinkhornShape& shape);

// --- Normalisation of `count` matrices [nbl, cols] (count = B * heads; matrix c belongs to
// example c / heads). blocks [B]: nb_b, each in [0, min(nbl, cols)]. iters 0: softmax.
struct SinkhornNormShape {
  int batch = 0, heads = 0, nbl = 0, cols = 0;  // all >= 1
  int iters = 0;                                // 0: row softmax; >= 1: Sinkhorn iterations
  float temperature = 1.0f;                     // > 0
};
void SinkhornNormalizeForward(const SinkhornNormShape& shape, const int* blocks,
                              const float* logits, float* perm);
// OVERWRITES dlogits [B, heads, nbl, cols].
void SinkhornNormalizeBackward(const SinkhornNormShape& shape, const int* blocks,
                               const float* logits, const float* dperm, float* dlogits);

// --- Attention to the sorted blocks.
// Floats of `saved`: B * heads * (L * w + 2 * nbL * w * d).
int64_t SortedBlockAttentionSavedFloats(const SinkhornShape& shape);

// lengths [B] (each in [0, L]) and mask [B, L] may be null. dropout_rate in [0, 1).
void SortedBlockAttentionForward(const SinkhornShape& shape, const float* q, const float* k,
                                 const float* v, const float* perm, const int* lengths,
                                 const uint8_t* mask, float dropout_rate, uint64_t dropout_seed,
                                 float* out, float* saved);

// OVERWRITES dq, dk, dv, dperm with the gradients of <out, dout>; `saved` is Forward's.
void SortedBlockAttentionBackward(const SinkhornShape& shape, const float* q, const float* k,
                                  const float* v, const float* perm, const int* lengths,
                                  const uint8_t* mask, float dropout_rate, uint64_t dropout_seed,
                                  const float* saved, const float* dout, float* dq, float* dk,
                                  float* dv, float* dperm);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_SINKHORN_ATTENTION_H_

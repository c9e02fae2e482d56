// Block-local multi-head attention, forward and backward: the sequence is cut into windows of
// `block` consecutive positions, [0, w), [w, 2w), ... (the last one shorter when w does not
// divide L), and each query attends only to the keys of its own window. Time and memory are
// O(L w d) per (batch, head): only the kept w x w blocks are ever formed.
//
// This is the attention of LRA's `local` model (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/local/local_attention.py LocalAttention: windows of block_size keys, a
// flax padding mask turned into a -1e10 bias per window) with two deliberate differences:
//   * windows are contiguous. The released code reshapes q/k/v [B, Lp, heads, d] to
//     [B, block_size, Lp / block_size, heads, d] and attends over axis 1, so its "window" c is
//     the strided set {c, c + n, c + 2n, ...} (n = Lp / block_size), while its padding mask is
//     reshaped to [B * n, block_size] (contiguous). The windows, and which mask entry applies
//     to which position, then depend on the padded length Lp = L + block_size - L % block_size,
//     so an example's logits change with the batch it is padded to; contiguous windows
//     (block-local attention as the model is named) keep padding away from real positions.
//   * no padding to a multiple of the block: the last window is simply shorter.
//
// Semantics, per (b, head), scale = 1/sqrt(d), window W(i) = [w floor(i/w), min(w floor(i/w)
// + w, L)): those of core/kernels/attention.h restricted to the window.
//   Position t of batch b is valid when t < lengths[b] and (mask null or mask[b * L + t] != 0).
//   A valid query i: out_i = sum_{j in W(i), j valid} softmax_j(s_i) v_j, s_ij = scale <q_i, k_j>.
//   An invalid query i (flax's -1e10 bias on the whole row): uniform over its window,
//     out_i = (1/|W(i)|) sum_{j in W(i)} v_j; backward as flax's autodiff, dS_ij = P_ij (dP_ij -
//     D_i) with P_ij = 1/|W(i)|, passed on to dq_i and every dk_j of the window.
//   With block >= L this is exactly core/kernels/attention.h's dense attention (the window is
//   the whole sequence), dropout included.
// Dropout (rate p in [0, 1)): the same mask as core/kernels/attention.h, a pure function of
// (seed, b, head, i, j) for global positions i, j (Philox4x32-10, counter (j / 4, i, head, b),
// key (seed low, seed high), word j % 4; kept iff word >= round(p 2^32)), regenerated in
// backward.
//
// Layouts: q, k, v, out and their gradients [B, L, heads, d] row-major (a [B*L, heads*d]
// projection). Saved state: the undropped probabilities of each window, |W| x |W| floats per
// (batch, head, window), at most B*heads*L*block floats: linear in L.
//
// Implementation: core/kernels/block_sparse_attention.h with LocalLayout (the windows are its
// query blocks, each reading itself). Threads: OpenMP over (batch, head, window); each window's
// products are Eigen GEMMs on in-place strided views (vectorised, single-threaded inside the
// parallel region).
#ifndef LRA_CORE_KERNELS_LOCAL_ATTENTION_H_
#define LRA_CORE_KERNELS_LOCAL_ATTENTION_H_

#include <cstdint>

namespace lra {
namespace kernels {

struct LocalAttentionShape {
  int batch = 0;     // B >= 1
  int length = 0;    // L >= 1
  int heads = 0;     // >= 1
  int head_dim = 0;  // d >= 1
  int block = 0;     // window w >= 1
};

// Floats of `saved` that LocalAttentionForward writes: sum over windows of |W|^2, times B * heads.
int64_t LocalAttentionSavedFloats(const LocalAttentionShape& shape);

// out = local attention(q, k, v); out and saved are overwritten. lengths [B] (each in [0, L])
// and mask [B, L] may be null. dropout_rate in [0, 1); dropout_seed is the Philox key.
void LocalAttentionForward(const LocalAttentionShape& shape, const float* q, const float* k,
                           const float* v, const int* lengths, const uint8_t* mask,
                           float dropout_rate, uint64_t dropout_seed, float* out, float* saved);

// OVERWRITES dq, dk, dv with the gradients of <out, dout>; `saved` is Forward's, for the same
// inputs, lengths, mask and dropout.
void LocalAttentionBackward(const LocalAttentionShape& shape, const float* q, const float* k,
                            const float* v, const int* lengths, const uint8_t* mask,
                            float dropout_rate, uint64_t dropout_seed, const float* saved,
                            const float* dout, float* dq, float* dk, float* dv);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_LOCAL_ATTENTION_H_

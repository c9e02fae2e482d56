// Multi-head scaled dot-product attention, forward and backward, two exact implementations:
//
//   kDense   materialises the L x L probabilities per (batch, head), as the LRA Transformer
//            does, and keeps them for backward: B*heads*L*L floats of saved state.
//   kBlocked streams over key blocks with an online softmax (flash-attention style): saves only
//            the per-row logsumexp (B*heads*L floats) and recomputes scores blockwise in
//            backward. Memory is O(L) per (batch, head) beyond the inputs and outputs.
//
// Raw-pointer kernel: float arrays and int shapes, no tensor library.
//
// Layouts (row-major, contiguous): q, k, v, out and their gradients are [B, L, heads, d], which
// is what a [B*L, heads*d] projection produces, so no transpose is needed. The matrices of one
// (batch, head) are read in place with row stride heads*d.
//
// Semantics, per (b, head), with scale = 1/sqrt(d):
//   s_ij = scale * <q_i, k_j>, masked (excluded) when j >= lengths[b] (key padding) or, if
//   causal, when j > i. out_i = sum_j softmax_j(s_i) v_j over the unmasked j.
//   Queries are never masked: a query at a padded position still attends to the valid keys.
//   A row with every key masked (lengths[b] == 0) has out_i = 0, and its gradients are 0 (its
//   output does not depend on q, k or v). Keys at j >= lengths[b] get dk = dv = 0.
// lengths may be null (no padding); otherwise lengths[b] must lie in [0, L].
//
// Key mask (optional, `key_mask` [B, L] bytes, null = none): key j of batch b is also excluded
// where key_mask[b * L + j] == 0, on top of lengths and causality (LRA's `inputs > 0` padding
// mask, which masks black pixels inside an image; LRA.md 1.5). A row whose every visible key
// is masked follows the rule above: out_i = 0 and no gradient flows through it. A masked key
// inside the length gets dk = dv = 0.
//
// Dropout (optional, rate p in [0, 1); p = 0 is off): the probabilities are dropped after the
// softmax, as flax's dot_product_attention does; every b draws its own mask, as LRA's
// TransformerBlock asks with broadcast_dropout=False (flax's default would share one),
//   out_i = sum_j M_ij P_ij / (1 - p) v_j,   M_ij in {0, 1}, P(M_ij = 1) = 1 - p,
// so E[out] is the undropped output. M is not stored: it is a pure function of (seed, b, head,
// i, j) (Philox4x32-10 of core/kernels/philox.h, counter (j / 4, i, head, b), key (seed low
// 32 bits, seed high 32 bits), output word j % 4; M_ij = 1 iff that word >= round(p 2^32)), so
// Backward regenerates the same M, and dense, blocked and every thread count draw the same
// mask. Backward uses D_i = <dO_i, O_i> = sum_j (M P / (1 - p))_ij dP~_ij, which holds for the
// dropped output, so the softmax backward keeps its one-pass form: dS = P~ o dP~ - P o D with
// P~ the dropped probabilities and dP~ = dO V^T. Cost when on: one Philox block per 4 probabilities,
// in forward and again in backward (vectorized), plus (dense) one R x L scratch block per
// thread for P~; measured 1.43x (dense) and 1.25x (blocked) the fwd+bwd time at L = 1K,
// B = 8, 4 heads, d = 32, p = 0.1 (seq_benchmark, 2 threads). The key mask costs 1-9%.
//
// Threads: the loops over (batch, head) run under OpenMP; the GEMMs inside run single-threaded
// within the parallel region (TOOLCHAIN.md §4, cases E and I): oneDNN's sgemm for kDense (which
// also works through each pair in blocks of query rows so P stays in L2) and for kBlocked's
// tiles; Eigen only for small element-wise steps.
#ifndef LRA_CORE_KERNELS_ATTENTION_H_
#define LRA_CORE_KERNELS_ATTENTION_H_

#include <cstdint>
#include <memory>

namespace lra {
namespace kernels {

enum class AttentionAlgorithm { kDense, kBlocked };

struct AttentionShape {
  int batch = 0;     // B >= 1
  int length = 0;    // L >= 1 (queries and keys)
  int heads = 0;     // >= 1
  int head_dim = 0;  // d >= 1
  bool causal = false;
};

struct AttentionOptions {
  AttentionAlgorithm algorithm = AttentionAlgorithm::kDense;
  // Blocked only: query rows and key rows per block. 64 x 64 keeps a block's scores (16 KiB)
  // and the q/k/v/o tiles of d <= 64 in L1/L2.
  int query_block = 64;
  int key_block = 64;
};

// Probability dropout for one call; the default is off.
struct AttentionDropout {
  float rate = 0.0f;  // p in [0, 1)
  uint64_t seed = 0;  // Philox key: a fresh value per call (per layer and step) from the caller
};

class Attention {
 public:
  explicit Attention(AttentionOptions options = {});
  ~Attention();
  Attention(const Attention&) = delete;
  Attention& operator=(const Attention&) = delete;

  // Floats of state that Forward writes into `saved` and Backward reads back: the probabilities
  // [B, heads, L, L] (dense) or the row logsumexp [B, heads, L] (blocked). The caller owns it,
  // one per op instance, so a single Attention object can serve every layer.
  int64_t SavedFloats(const AttentionShape& shape) const;

  // out = attention(q, k, v); out and saved are overwritten. lengths [B] and key_mask [B, L]
  // may be null.
  void Forward(const AttentionShape& shape, const float* q, const float* k, const float* v,
               const int* lengths, const uint8_t* key_mask, const AttentionDropout& dropout,
               float* out, float* saved);

  // OVERWRITES dq, dk, dv with the gradients of <out, dout>. `out` and `saved` are Forward's
  // results for the same inputs, lengths, key_mask and dropout (same seed).
  void Backward(const AttentionShape& shape, const float* q, const float* k, const float* v,
                const int* lengths, const uint8_t* key_mask, const AttentionDropout& dropout,
                const float* out, const float* saved, const float* dout, float* dq, float* dk,
                float* dv);

  // Bytes of per-thread scratch held by this object (excludes `saved`). Grows to the largest
  // shape seen; no allocation in a call whose shape fits.
  int64_t WorkspaceBytes() const;

  const AttentionOptions& options() const { return options_; }

 private:
  float* Scratch(int64_t per_thread, int threads);
  void DenseForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                    const int* lengths, const uint8_t* key_mask, const AttentionDropout& drop,
                    float* out, float* saved);
  void DenseBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                     const int* lengths, const uint8_t* key_mask, const AttentionDropout& drop,
                     const float* out, const float* saved, const float* dout, float* dq,
                     float* dk, float* dv);
  void BlockedForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                      const int* lengths, const uint8_t* key_mask, const AttentionDropout& drop,
                      float* out, float* saved);
  void BlockedBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       const int* lengths, const uint8_t* key_mask, const AttentionDropout& drop,
                       const float* out, const float* saved, const float* dout, float* dq,
                       float* dk, float* dv);

  AttentionOptions options_;
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> scratch_;
  int64_t scratch_floats_ = 0;
};

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_ATTENTION_H_

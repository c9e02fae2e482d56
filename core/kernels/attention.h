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

  // out = attention(q, k, v); out and saved are overwritten.
  void Forward(const AttentionShape& shape, const float* q, const float* k, const float* v,
               const int* lengths, float* out, float* saved);

  // OVERWRITES dq, dk, dv with the gradients of <out, dout>. `out` and `saved` are Forward's
  // results for the same inputs.
  void Backward(const AttentionShape& shape, const float* q, const float* k, const float* v,
                const int* lengths, const float* out, const float* saved, const float* dout,
                float* dq, float* dk, float* dv);

  // Bytes of per-thread scratch held by this object (excludes `saved`). Grows to the largest
  // shape seen; no allocation in a call whose shape fits.
  int64_t WorkspaceBytes() const;

  const AttentionOptions& options() const { return options_; }

 private:
  float* Scratch(int64_t per_thread, int threads);
  void DenseForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                    const int* lengths, float* out, float* saved);
  void DenseBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                     const int* lengths, const float* out, const float* saved,
                     const float* dout, float* dq, float* dk, float* dv);
  void BlockedForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                      const int* lengths, float* out, float* saved);
  void BlockedBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       const int* lengths, const float* out, const float* saved,
                       const float* dout, float* dq, float* dk, float* dv);

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

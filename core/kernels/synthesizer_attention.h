// The Synthesizer's attention (core/ops/synthesizer_attention.h has the semantics and the
// upstream citations), forward and backward on raw float arrays, lean in memory:
//
//   S = [scale Q K^T] + shared[h, :L, :L] + per_example[b, h]     (each term optional)
//   P = softmax(S + flax's mask bias),  out = (M o P / (1 - p)) V
//
// The only [B, heads, L, L] state is P (`probs`), which Forward writes and Backward reads and
// then overwrites with dS (in place), so a layer holds one L x L matrix per (example, head)
// from forward to the end of its backward. The shared logits (the `random` mode's learned
// [heads, P, P] matrix) are read in place with row stride P (no [heads, L, L] slice, no
// per-example broadcast), and their gradient is summed from dS straight into [heads, P, P]. The
// dropout mask M is not stored: it is Philox's, a pure function of (seed, b, head, i, j), the
// one of core/kernels/attention.h (core/kernels/window_dropout.h), regenerated in Backward.
//
// Masking, as core/kernels/attention.h documents for flax's bias of -1e10: position t of
// example b is valid when t < lengths[b] and (mask null or mask[b L + t] != 0); a valid query
// attends to the valid keys, an invalid query's row is uniform (1/L) over all L keys, and its
// backward passes dS = P (dP - D) on as flax's autodiff does.
//
// Layouts: q, k [B, L, heads, d]; v, out [B, L, heads, dv] (what a [B L, heads d] projection
// gives); shared [heads, P, P] (P >= L; the top-left L x L block is used); per_example and probs
// [B, heads, L, L].
//
// Determinism and batch independence: each (b, head) is computed by the same sequence of
// single-threaded oneDNN sgemm calls and vectorized loops whatever the thread count and the
// rest of the batch, so an example's output does not depend on its batch; the shared gradient
// is summed over b in a fixed order. Threads: OpenMP over (b, head) pairs (over (head, query
// row) for the shared gradient); the GEMMs run on the calling thread.
#ifndef LRA_CORE_KERNELS_SYNTHESIZER_ATTENTION_H_
#define LRA_CORE_KERNELS_SYNTHESIZER_ATTENTION_H_

#include <cstdint>

namespace lra {
namespace kernels {

struct SynthesizerShape {
  int batch = 0;         // B >= 1
  int length = 0;        // L >= 1
  int heads = 0;         // >= 1
  int qk_dim = 0;        // d: 0 = no dot product (q and k null)
  int v_dim = 0;         // dv >= 1
  int shared_size = 0;   // P >= L of shared [heads, P, P]; 0 = no shared logits
  bool per_example = false;  // per_example [B, heads, L, L] logits given
};

struct SynthesizerDropout {
  float rate = 0.0f;  // p in [0, 1); 0 is off
  uint64_t seed = 0;  // Philox key (a fresh value per call)
};

// Floats of `probs`: B * heads * L * L.
int64_t SynthesizerProbsFloats(const SynthesizerShape& s);

// Writes out and probs. lengths [B] and mask [B, L] may be null.
void SynthesizerForward(const SynthesizerShape& s, const float* q, const float* k,
                        const float* v, const float* shared, const float* per_example,
                        const int* lengths, const uint8_t* mask, const SynthesizerDropout& drop,
                        float* out, float* probs);

// Gradients of <out, dout>. `probs` (Forward's) is consumed: on return it holds dS unless
// `dlogits` is non-null, in which case dS is written to dlogits ([B, heads, L, L], overwritten;
// the gradient of per_example) and probs is left as it was. dq, dk, dv are overwritten (each may
// be null when not needed; dq and dk must be null without a dot product). dshared, when
// non-null, is ADDED to: dshared[h, i, j] += sum_b dS[b, h, i, j] for i, j < L.
void SynthesizerBackward(const SynthesizerShape& s, const float* q, const float* k,
                         const float* v, const int* lengths, const uint8_t* mask,
                         const SynthesizerDropout& drop, const float* out, float* probs,
                         const float* dout, float* dq, float* dk, float* dv, float* dlogits,
                         float* dshared);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_SYNTHESIZER_ATTENTION_H_

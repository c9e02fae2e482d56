// The Synthesizer's attention (core/ops/synthesizer_attention.h has the semantics and the
// upstream citations), forward and backward on raw float arrays, lean in memory:
//
//   S = [scale Q K^T] + shared[h, :L, :L] + per_example[b, h]     (each term optional)
//   P = softmax(S + flax's mask bias),  out = (M o P / (1 - p)) V
//
// What Forward saves for Backward (`saved`, the caller's):
//   kLogsumexp  the row logsumexp [B, heads, L] only: Backward recomputes S and P block by
//               block (P = exp(S - lse)), so no [B, heads, L, L] state outlives a call; each
//               R x L block of P, dP and dS lives in a per-thread L2-sized scratch. Costs one
//               more Q K^T product and exponential per pair in backward.
//   kProbs      P itself [B, heads, L, L], as core/kernels/attention.h's dense path; Backward
//               overwrites it with dS (in place) unless dlogits is given.
// The shared logits (the `random` mode's learned [heads, P, P] matrix) are read in place with row
// stride P (no [heads, L, L] slice, no per-example broadcast), and their gradient is summed from
// dS straight into [heads, P, P]. The dropout mask M is not stored: it is Philox's, a pure
// function of (seed, b, head, i, j), the one of core/kernels/attention.h
// (core/kernels/window_dropout.h), regenerated in Backward.
//
// Masking, as core/kernels/attention.h documents for flax's bias of -1e10: position t of
// example b is valid when t < lengths[b] and (mask null or mask[b L + t] != 0); a valid query
// attends to the valid keys, an invalid query's row is uniform (1/L) over all L keys, and its
// backward passes dS = P (dP - D) on as flax's autodiff does.
//
// Layouts: q, k [B, L, heads, d]; v, out [B, L, heads, dv] (what a [B L, heads d] projection
// gives); shared [heads, P, P] (P >= L; the top-left L x L block is used); per_example
// [B, heads, L, L].
//
// Determinism and batch independence: each (b, head) is computed by the same sequence of
// single-threaded oneDNN sgemm calls and vectorized loops whatever the thread count and the
// rest of the batch, so an example's output does not depend on its batch; the shared gradient
// is summed over b in a fixed order. Threads: OpenMP over (b, head) pairs (over (head, query
// row) for the shared gradient); the GEMMs run on the calling thread. With kLogsumexp and a
// shared gradient, Backward holds dS of G = max(1, min(B, threads / heads)) examples at a time
// (G heads L^2 floats, transient) and sums them into dshared in b order.
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

enum class SynthesizerSaved { kLogsumexp, kProbs };

// Floats of `saved`: B * heads * L (kLogsumexp) or B * heads * L * L (kProbs).
int64_t SynthesizerSavedFloats(const SynthesizerShape& s, SynthesizerSaved kind);

// Writes out and saved. lengths [B] and mask [B, L] may be null.
void SynthesizerForward(const SynthesizerShape& s, SynthesizerSaved kind, const float* q,
                        const float* k, const float* v, const float* shared,
                        const float* per_example, const int* lengths, const uint8_t* mask,
                        const SynthesizerDropout& drop, float* out, float* saved);

// Gradients of <out, dout>, from Forward's inputs, out and saved (same kind, lengths, mask and
// dropout seed). With kProbs `saved` is consumed: on return it holds dS unless dlogits is given.
// dlogits ([B, heads, L, L], the gradient of per_example), dq, dk, dv are overwritten (each may
// be null when not needed; dq and dk must be null without a dot product). dshared, when
// non-null, is ADDED to: dshared[h, i, j] += sum_b dS[b, h, i, j] for i, j < L.
void SynthesizerBackward(const SynthesizerShape& s, SynthesizerSaved kind, const float* q,
                         const float* k, const float* v, const float* shared,
                         const float* per_example, const int* lengths, const uint8_t* mask,
                         const SynthesizerDropout& drop, const float* out, float* saved,
                         const float* dout, float* dq, float* dk, float* dv, float* dlogits,
                         float* dshared);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_SYNTHESIZER_ATTENTION_H_

// The Synthesizer's attention as a tape op (LRA's `synthesizer`: google-research/long-range-arena
// cd31e5c, lra_benchmarks/models/synthesizer/synthesizer_attention.py synthetic_attention; Tay
// et al. 2021, "Synthesizer", arXiv 2005.00743): softmax attention whose logits are synthetic
// weights S [.., L, L] (per head; learned, random or predicted from each token, formed by the
// model), plus, unless the dot product is ignored, the usual Q K^T / sqrt(d):
//   logits = [Q K^T / sqrt(d)] + S + bias,   out = Dropout(softmax(logits)) V
// with flax's masking as the released code builds it (make_padding_mask on queries and keys):
// bias = -1e10 where the query or the key is masked (past the length, or a 0 in `mask`), so a
// masked query's row is uniform over all L positions in fp32, as in flax; dropout on the
// probabilities per element (SynthesizerBlock passes broadcast_dropout=False). The logits are an
// L x L matrix per head, as in the released code: the Synthesizer is not an O(L) model (LRA
// Table 2 reports it 1.4x faster than the Transformer at 4K, not linear).
#ifndef LRA_CORE_OPS_SYNTHESIZER_ATTENTION_H_
#define LRA_CORE_OPS_SYNTHESIZER_ATTENTION_H_

#include <cstdint>
#include <vector>

#include "core/kernels/synthesizer_attention.h"
#include "core/random.h"
#include "core/tape.h"

namespace lra {

// q, k: [B, L, heads * d] or both undefined (ignore_dot_product); v: [B, L, heads * dv];
// shared: [heads, P, P] with P >= L, the same for every example, of which the top-left L x L
// block is used (the `random` mode's parameter, read in place: no slice is formed), or
// undefined; per_example: [B, heads, L, L] (the `dense` mode's logits) or undefined; at least
// one of q and k, shared, per_example. lengths: empty or B values in [0, L]; mask: empty or
// [B, L] (0 = masked query and key). dropout on the probabilities (0: none; rng may then be null
// and is not drawn from). Returns [B, L, heads * dv].
//
// Runs on core/kernels/synthesizer_attention.h. What it keeps for backward besides its inputs
// and output: `saved` kLogsumexp (default) the row logsumexp [B, heads, L], and backward
// recomputes the probabilities block by block; kProbs the probabilities [B, heads, L, L] (one
// such tensor, which backward overwrites with the logits' gradient). The dropout mask is
// regenerated from a 64-bit seed (one draw from rng per call with dropout on), and the gradient
// of `shared` is summed straight into its [heads, P, P] buffer.
Var SynthesizerAttention(const Var& q, const Var& k, const Var& v, const Var& shared,
                         const Var& per_example, const std::vector<int32_t>& lengths,
                         const std::vector<uint8_t>& mask, int heads, float dropout, Rng* rng,
                         kernels::SynthesizerSaved saved = kernels::SynthesizerSaved::kLogsumexp);

}  // namespace lra

#endif  // LRA_CORE_OPS_SYNTHESIZER_ATTENTION_H_

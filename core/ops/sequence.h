// Sequence-mixing ops: FFT long convolution (S4) and multi-head attention, wrapping the raw
// kernels in core/kernels/fft_conv.h and core/kernels/attention.h (read those for the exact
// math, layouts and masking rules).
#ifndef LRA_CORE_OPS_SEQUENCE_H_
#define LRA_CORE_OPS_SEQUENCE_H_

#include <cstdint>
#include <vector>

#include "core/kernels/attention.h"
#include "core/kernels/fft_conv.h"
#include "core/random.h"
#include "core/tape.h"

namespace lra {

using kernels::AttentionAlgorithm;
using kernels::ConvDirection;

// y = conv(u, k). u: [B, L, H]; k: [H, L] (kCausal) or [2, H, L] (kBidirectional: forward
// kernel, then backward kernel). Both u and k may require gradients (k usually comes from an
// SSM kernel generator). `engine` holds FFTW plans and scratch; null uses a process-wide one
// with the default, reproducible FftRigor::kEstimate plans (core/kernels/fft_conv.h). A caller's
// own engine must outlive Backward.
Var FftConv(const Var& u, const Var& k, ConvDirection direction,
            kernels::FftConv* engine = nullptr);

// The S4 block's y = TiedDropout(gelu_erf(FftConv(u, k) + u * d), p, axis 1) in one fused op
// (kernels::FftConv::ForwardSkipGelu): u [B, L, H], k as FftConv, d [H]. `dropout` is the tied
// dropout rate; the mask is drawn from rng only when training and dropout > 0, with the same
// draws as TiedDropout. The output and the gradients of u and k are bitwise those of the unfused
// ops; d's gradient comes from the FFT spectra (Parseval) instead of a sum over [B*L, H], equal
// to the unfused one within both methods' rounding (tested in sequence_test.cc). Saves u, k,
// the mask, gelu'(v) for v = conv + u * d ([B, L, H]) and, when k needs a gradient, the rfft of
// u's blocks.
Var FftConvSkipGelu(const Var& u, const Var& k, const Var& d, ConvDirection direction,
                    float dropout, bool training, Rng& rng, kernels::FftConv* engine = nullptr);

struct AttentionConfig {
  int heads = 1;
  bool causal = false;
  AttentionAlgorithm algorithm = AttentionAlgorithm::kDense;
  // Probability dropout rate p in [0, 1) (core/kernels/attention.h). It is applied whenever
  // p > 0, so a model passes its rate in training and 0 otherwise (as for Dropout's `training`).
  float dropout = 0.0f;
};

// Multi-head scaled dot-product attention with flax's masking (core/kernels/attention.h).
// q, k, v: [B, L, heads * d] (as one [B*L, heads*d] projection produces; no transposes).
// lengths: empty (no padding) or B lengths in [0, L]. mask: empty or B * L bytes, position j of
// batch b masked where mask[b * L + j] == 0 (on top of lengths; e.g. LRA's `inputs > 0`
// mask). A masked or padded position is masked as a key and as a query: its query row attends
// uniformly to all L positions, as in flax. rng: the model's dropout stream
// (RngStream::kDropout), needed only when config.dropout > 0: each such call draws one
// NextU64() as the kernel's Philox key, so the mask is reproducible from the stream's state
// and Backward regenerates it instead of storing it. Returns [B, L, heads * d].
Var Attention(const Var& q, const Var& k, const Var& v, const std::vector<int32_t>& lengths,
              const AttentionConfig& config, const std::vector<uint8_t>& mask = {},
              Rng* rng = nullptr);

}  // namespace lra

#endif  // LRA_CORE_OPS_SEQUENCE_H_

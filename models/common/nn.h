// Autodiff layers shared by every model in models/: the few ops core/ops does not (yet) provide,
// each a custom tape op (MakeOp) with its Backward beside its Forward in nn.cc. They are tested
// against double-precision references with finite-difference gradient checks in nn_test.cc.
//
// Layout conventions: activations are row-major with the feature axis last, so a [B, L, H]
// tensor is also a [B*L, H] matrix; Linear weights are [in, out] (flax's `kernel`), biases [out].
//
//   Var h = Embedding(tokens, B, L, table);          // [B, L, H]
//   Var y = Linear(LayerNorm(h, g, b), w, bias);     // [B, L, H']
//   Var pooled = MeanPool(y, lengths);               // [B, H']
#ifndef LRA_MODELS_COMMON_NN_H_
#define LRA_MODELS_COMMON_NN_H_

#include <cstdint>
#include <vector>

#include "core/tape.h"
#include "core/tensor.h"

namespace lra::models::nn {

// y = x w (+ b): x [..., in], w [in, out], b [out] or undefined (core/ops/matmul.h, oneDNN).
Var Linear(const Var& x, const Var& w, const Var& b);

// Elementwise, same shapes.
Var Add(const Var& a, const Var& b);
Var Sub(const Var& a, const Var& b);
Var Mul(const Var& a, const Var& b);
// y = s * x.
Var Scale(const Var& x, float s);

// GELU: exact erf form (PyTorch nn.GELU, used by S4) or the tanh approximation (flax nn.gelu,
// used by the LRA Transformer).
Var Gelu(const Var& x, bool tanh_approx = false);
Var Relu(const Var& x);
// GLU over the last axis: [..., 2H] -> [..., H], y = a * sigmoid(g) with a the first half.
Var Glu(const Var& x);

// LayerNorm over the last axis: gamma, beta [H]; biased variance; eps inside the sqrt.
Var LayerNorm(const Var& x, const Var& gamma, const Var& beta, float eps = 1e-5f);

// BatchNorm1d over channels (the last axis), statistics pooled over every other axis (B*L rows).
// training: batch statistics (biased variance normalizes; the running variance gets the unbiased
// one, as PyTorch does) and running stats updated with `momentum`; eval: running statistics.
Var BatchNorm(const Var& x, const Var& gamma, const Var& beta, Tensor& running_mean,
              Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

// table [V, H], tokens [B*L] in [0, V) -> [B, L, H]. Out-of-range ids abort (a data bug).
Var Embedding(const int32_t* tokens, int64_t batch, int64_t length, const Var& table);

// x [B, L, H] + p[:L] for p [Lmax, H] (broadcast over the batch).
Var AddPositions(const Var& x, const Var& p);
// [B, L, H] with row `cls` [H] prepended: [B, L+1, H].
Var PrependRow(const Var& x, const Var& cls);

// Dropout with the mask drawn from a counter-based hash of (seed, index), scaled by 1/(1-p).
// tied: one mask per (batch, channel) shared across the length axis (S4's tie_dropout, i.e.
// Dropout1d on [B, H, L]); x must be [B, L, H]. p == 0 returns x.
Var Dropout(const Var& x, float p, uint64_t seed, bool tied = false);

// Mean over the length axis of [B, L, H]: rows t < lengths[b] (all L when lengths is null).
Var MeanPool(const Var& x, const int32_t* lengths);
// Row `position` of each batch element: [B, L, H] -> [B, H].
Var SelectRow(const Var& x, int64_t position);

// Concatenation along the last axis of equally-shaped-but-last tensors.
Var ConcatLast(const std::vector<Var>& xs);
// Stacks [B1, ...] and [B2, ...] along the first axis, and the inverse slice.
Var ConcatFirst(const Var& a, const Var& b);
Var SliceFirst(const Var& x, int64_t begin, int64_t end);

// x [B, L, H] * d [H] (per-channel scale, e.g. S4's D skip).
Var MulChannel(const Var& x, const Var& d);

// Mean softmax cross-entropy of logits [B, K] with labels [B]; a [1] tensor.
Var CrossEntropy(const Var& logits, const int32_t* labels);

// FFT long convolution (core/kernels/fft_conv.h): u [B, L, H], k [H, L] (causal) or
// [2, H, L] (bidirectional). One shared FftConv object per thread.
Var FftConv(const Var& u, const Var& k, bool bidirectional);

// Multi-head attention (core/kernels/attention.h) on q, k, v [B, L, heads*d]; key padding from
// lengths (may be null). blocked: the online-softmax algorithm (O(L) memory per head).
Var Attention(const Var& q, const Var& k, const Var& v, int heads, const int32_t* lengths,
              bool causal, bool blocked);

}  // namespace lra::models::nn

#endif  // LRA_MODELS_COMMON_NN_H_

// Pointwise activations (float32).
#ifndef LRA_CORE_OPS_ACTIVATION_H_
#define LRA_CORE_OPS_ACTIVATION_H_

#include "core/tape.h"

namespace lra {

Var Relu(const Var& x);

enum class GeluKind { kErf, kTanh };
// kErf: x * Phi(x) (exact; PyTorch's default, used by the S4 code). kTanh: the tanh
// approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (JAX's default, so the original
// LRA Transformer's).
Var Gelu(const Var& x, GeluKind kind = GeluKind::kErf);

// Gated linear unit over the last axis: x = [a | b] (halves of size H) -> a * sigmoid(b), [.., H].
Var Glu(const Var& x);

// x + Glu(Linear(y, w, b)) [* mask]: the output Linear, GLU, tied dropout and residual add of an
// S4 block (models/s4) as one op. y [..., K], w [K, 2H], b [2H] (required), x [..., H] with y's
// leading dims. mask (optional; x must then be [B, L, H]) is [B, H], the scaled keep mask of a
// TiedDropout over the length axis (0 or 1/(1-p) per (batch, channel)), applied to the GLU's
// output before the add. The GEMM is
// Linear's (core/ops/matmul.h) and the GLU and the add run in one pass, so the GLU's [.., H]
// output is never stored; backward writes the GLU's input gradient and the bias gradient's
// 256-row partial sums in one pass, and hands dL/dr to x as its gradient without a copy when x
// has none yet and no one else holds dL/dr's buffer (the tape reads the output's gradient only
// in this op's backward). Every value
// and gradient is bitwise that of Add(x, Glu(Linear(y, w, b))), with the mask that of
// Add(x, TiedDropout(Glu(...), p, 1, true, rng)) for the same draws (activation_test checks it).
//
// next_stats (optional): receives the LayerNorm statistics of the output r, [2, rows] as
// core/ops/norm.h's LayerNormStats(r, next_eps) returns them (bitwise), each row's taken while
// the row is in cache: the next pre-norm S4 block reads them instead of passing over r again
// (models/s4/prenorm_conv.h).
Var LinearGluResidual(const Var& x, const Var& y, const Var& w, const Var& b,
                      const Tensor& mask = Tensor(), Tensor* next_stats = nullptr,
                      float next_eps = 1e-5f);

}  // namespace lra

#endif  // LRA_CORE_OPS_ACTIVATION_H_

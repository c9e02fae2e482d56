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

}  // namespace lra

#endif  // LRA_CORE_OPS_ACTIVATION_H_

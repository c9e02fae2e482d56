// Elementwise arithmetic with NumPy broadcasting, unary math, and reductions (float32).
//
// Broadcasting aligns shapes on the right; a dim of 1 (or a missing leading dim) repeats.
// Add(x [B, L, H], bias [H]) and Mul(x [B, L, H], gate [B, 1, H]) are the common cases and have
// fast paths; any broadcast is correct. The gradient of a broadcast input is the sum of dout
// over the repeated dims, in a fixed order (deterministic).
#ifndef LRA_CORE_OPS_ELEMENTWISE_H_
#define LRA_CORE_OPS_ELEMENTWISE_H_

#include "core/tape.h"

namespace lra {

Shape BroadcastShapes(const Shape& a, const Shape& b);  // aborts if incompatible

Var Add(const Var& a, const Var& b);
Var Sub(const Var& a, const Var& b);
Var Mul(const Var& a, const Var& b);
Var Div(const Var& a, const Var& b);

Var Scale(const Var& x, float s);      // s * x
Var AddScalar(const Var& x, float s);  // x + s
Var Neg(const Var& x);
Var Exp(const Var& x);
Var Log(const Var& x);
Var Tanh(const Var& x);
Var Sigmoid(const Var& x);
Var Square(const Var& x);
Var Sqrt(const Var& x);

Var Sum(const Var& x);   // all elements -> shape [] (1 element)
Var Mean(const Var& x);  // all elements -> shape []
// Sum over one axis; keepdim keeps it as size 1.
Var SumAxis(const Var& x, int axis, bool keepdim = false);

// Tensor-level helpers (no tape): dst = sum of src over broadcast dims so it has `shape`.
Tensor SumToShape(const Tensor& src, const Shape& shape);

}  // namespace lra

#endif  // LRA_CORE_OPS_ELEMENTWISE_H_

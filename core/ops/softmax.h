// Softmax over the last axis, with an optional mask.
#ifndef LRA_CORE_OPS_SOFTMAX_H_
#define LRA_CORE_OPS_SOFTMAX_H_

#include "core/tape.h"

namespace lra {

// x: [..., n]. mask: undefined (no mask) or a float tensor whose last dim is n and whose rows
// repeat cyclically over x's rows (x viewed as [rows, n], row r uses mask row r % mask_rows):
// so a [n] mask is shared by all rows, an [L, n] causal mask by every batch and head, and a
// mask of x's own shape is per element. Nonzero = keep. Masked positions get probability 0;
// a fully masked row is all zeros (and passes no gradient), never NaN.
Var Softmax(const Var& x, const Tensor& mask = Tensor());

}  // namespace lra

#endif  // LRA_CORE_OPS_SOFTMAX_H_

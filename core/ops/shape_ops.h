// Shape manipulation: reshape (no copy), permute/transpose, concatenation, slicing.
#ifndef LRA_CORE_OPS_SHAPE_OPS_H_
#define LRA_CORE_OPS_SHAPE_OPS_H_

#include <vector>

#include "core/tape.h"

namespace lra {

// Same storage, new shape; one dim may be -1.
Var Reshape(const Var& x, const std::vector<int64_t>& dims);
// out.dim(i) = x.dim(perm[i]); copies into the new row-major order.
Var Permute(const Var& x, const std::vector<int>& perm);
// Swaps two axes (a Permute).
Var Transpose(const Var& x, int axis0, int axis1);
// Concatenates along `axis`; all other dims must match.
Var Concat(const std::vector<Var>& xs, int axis);
// x[..., start:start+length, ...] along `axis`.
Var Slice(const Var& x, int axis, int64_t start, int64_t length);

}  // namespace lra

#endif  // LRA_CORE_OPS_SHAPE_OPS_H_

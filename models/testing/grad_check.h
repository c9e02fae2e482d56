// Test helper: checks a float autodiff op (or a whole model) against a double-precision
// reference of the same equations. Forward: the op's output vs the reference. Backward: the
// gradient of <y, r> (r a fixed random cotangent) from the tape vs central finite differences of
// the double reference, h = 1e-5 (truncation error O(h^2) ~ 1e-10, far below float rounding).
//
// Tolerance (derived): a float op of depth ~d whose outputs are sums of n terms has errors up to
// ~ c * sqrt(n) * eps_f32 * (typical magnitude); we compare max |a - b| against
// tol * (1 + max |b|) with tol given per case (a few 1e-5 for single ops, 1e-4 for whole models,
// which chain ~20 ops).
#ifndef LRA_MODELS_TESTING_GRAD_CHECK_H_
#define LRA_MODELS_TESTING_GRAD_CHECK_H_

#include <functional>
#include <vector>

#include "core/tape.h"

namespace lra::models::testing {

using Vec = std::vector<double>;
using RefFn = std::function<Vec(const std::vector<Vec>&)>;
using OpFn = std::function<Var(const std::vector<Var>&)>;

struct GradCheckResult {
  double forward_err = 0, forward_scale = 0;  // max |y - y_ref|, max |y_ref|
  double grad_err = 0, grad_scale = 0;        // over every input
};

// inputs: initial values (float); each becomes a Parameter. requires[i] false: a constant.
GradCheckResult CheckOp(const std::vector<Tensor>& inputs, const OpFn& op, const RefFn& ref,
                        uint64_t seed = 7, std::vector<bool> requires = {});

// Values of a tensor as doubles.
Vec ToDouble(const Tensor& t);

}  // namespace lra::models::testing

#endif  // LRA_MODELS_TESTING_GRAD_CHECK_H_

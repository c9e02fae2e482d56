// Helpers shared by the elementwise ops in core/ops (not part of the public API).
#ifndef LRA_CORE_OPS_UNARY_INTERNAL_H_
#define LRA_CORE_OPS_UNARY_INTERNAL_H_

#include <type_traits>

#include "core/parallel.h"
#include "core/tape.h"

namespace lra {
namespace ops_internal {

// y = f(x) elementwise; backward dx += dout * df(x, y). Saves x and y (shared, no copy).
// `cost` is the work per element relative to an add, for the parallel threshold.
// `f` is either float(float) or a vector kernel void(const float* x, float* y, int64_t n).
template <typename F, typename DF>
Var Unary(const char* name, const Var& x, F f, DF df, int64_t cost = 4) {
  const Tensor& xv = x.value();
  Tensor y = Tensor::Empty(xv.shape());
  const float* xp = xv.data<float>();
  float* yp = y.data<float>();
  ParallelFor(
      xv.numel(), [&](int64_t b, int64_t e) {
        if constexpr (std::is_invocable_v<F, const float*, float*, int64_t>) {
          f(xp + b, yp + b, e - b);
        } else {
          for (int64_t i = b; i < e; ++i) yp[i] = f(xp[i]);
        }
      },
      cost);
  if (!NeedsGrad({x})) return Constant(y);
  Tensor xs = xv;
  return MakeOp(name, y, {x}, [x, xs, y, df, cost](const Tensor& dout) {
    bool overwrite;
    Tensor& g = x.GradForWrite(&overwrite);
    float* gp = g.data<float>();
    const float* xp = xs.data<float>();
    const float* yp = y.data<float>();
    const float* dp = dout.data<float>();
    ParallelFor(
        xs.numel(), [&](int64_t b, int64_t e) {
          if (overwrite) {
            for (int64_t i = b; i < e; ++i) gp[i] = dp[i] * df(xp[i], yp[i]);
          } else {
            for (int64_t i = b; i < e; ++i) gp[i] += dp[i] * df(xp[i], yp[i]);
          }
        },
        cost);
  });
}

}  // namespace ops_internal
}  // namespace lra

#endif  // LRA_CORE_OPS_UNARY_INTERNAL_H_

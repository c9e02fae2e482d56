// Test oracle for ops: forward against a double-precision reference, backward against central
// finite differences of that reference (in double, so the differences are accurate to ~1e-10
// and all the error measured is the float op's own).
//
//   OpCheck c;                     // inputs: float tensors; ref: same math on doubles
//   c.op = [](const std::vector<Var>& in) { return Tanh(in[0]); };
//   c.ref = [](const std::vector<std::vector<double>>& in) { ...; return out; };
//   c.reduction_length = 1;        // longest sum inside one output (sets the tolerance)
//   CheckOp(c, {x});
//
// Tolerances (derived, not tuned). A float computation whose outputs each sum n rounded terms
// has error <= ~n * eps_f32 * sum|terms| in the worst case and ~sqrt(n) * eps_f32 * |terms| for
// random rounding (Higham, Accuracy and Stability, 2nd ed., section 3.1 and 4.2). With
// transcendental functions adding a few ulp, we allow
//   |got - ref| <= c * eps_f32 * sqrt(n) * scale,   scale = max(1, max_i |ref_i|),
// with c = 16 by default. Gradients get the same bound with n of the backward sums. The check
// uses a random seed gradient dout (so every output contributes) and compares
// <dout, d out / d x_j> computed by the op with the central difference
//   (L(x + h e_j) - L(x - h e_j)) / 2h,  L = sum_i dout_i * ref(x)_i,  h = 1e-6 * max(1, |x_j|),
// whose truncation error is O(h^2 |L'''|) ~ 1e-12: negligible.
#ifndef LRA_CORE_TESTING_GRAD_CHECK_H_
#define LRA_CORE_TESTING_GRAD_CHECK_H_

#include <omp.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "core/random.h"
#include "core/tape.h"

namespace lra {
namespace testing {

using RefFn = std::function<std::vector<double>(const std::vector<std::vector<double>>&)>;
using OpFn = std::function<Var(const std::vector<Var>&)>;

struct OpCheck {
  OpFn op;
  RefFn ref;
  double reduction_length = 1;       // n in the forward bound
  double grad_reduction_length = 0;  // n in the backward bound; 0 means same as forward
  double c = 16;
  // Inputs that get no gradient (e.g. masks, indices stored as floats).
  std::vector<bool> no_grad;
  bool check_grad = true;
  uint64_t seed = 7;
};

inline constexpr double kEpsF32 = 1.1920928955078125e-07;

inline std::vector<double> ToDouble(const Tensor& t) {
  std::vector<double> d;
  if (t.dtype() == DType::kF32) {
    const float* p = t.data<float>();
    d.assign(p, p + t.numel());
  } else {
    const c64* p = t.data<c64>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      d.push_back(p[i].real());
      d.push_back(p[i].imag());
    }
  }
  return d;
}

inline float* RawFloats(Tensor& t) {
  return t.dtype() == DType::kF32 ? t.data<float>() : reinterpret_cast<float*>(t.data<c64>());
}

// Returns false (with gtest failures recorded) on mismatch.
inline void CheckOp(const OpCheck& c, const std::vector<Tensor>& inputs) {
  std::vector<Var> vars;
  std::vector<std::vector<double>> din;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool ng = i < c.no_grad.size() && c.no_grad[i];
    vars.emplace_back(inputs[i].Clone(), c.check_grad && !ng);
    din.push_back(ToDouble(inputs[i]));
  }
  Var out = c.op(vars);
  const std::vector<double> ref = c.ref(din);
  std::vector<double> got = ToDouble(out.value());
  ASSERT_EQ(got.size(), ref.size()) << "output size";
  double scale = 1;
  for (double r : ref) scale = std::max(scale, std::abs(r));
  const double tol = c.c * kEpsF32 * std::sqrt(std::max(1.0, c.reduction_length)) * scale;
  int reported = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!(std::abs(got[i] - ref[i]) <= tol) && reported++ < 5)
      ADD_FAILURE() << "forward[" << i << "] got " << got[i] << " ref " << ref[i]
                    << " tol " << tol;
  }
  if (!c.check_grad) return;

  // Seed gradient: random in [-1, 1].
  Rng rng(c.seed);
  Tensor dout = Tensor::Empty(out.shape(), out.dtype());
  rng.FillUniform(RawFloats(dout), static_cast<int64_t>(got.size()), -1.0f, 1.0f);
  const std::vector<double> w = ToDouble(dout);
  Backward(out, dout);

  auto loss = [&](const std::vector<std::vector<double>>& x) {
    const std::vector<double> y = c.ref(x);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += w[i] * y[i];
    return s;
  };
  const double gn = c.grad_reduction_length > 0 ? c.grad_reduction_length : c.reduction_length;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!vars[k].requires_grad()) continue;
    std::vector<double> fd(din[k].size());
    double gscale = 1;
    for (size_t j = 0; j < din[k].size(); ++j) {
      auto xp = din, xm = din;
      const double h = 1e-6 * std::max(1.0, std::abs(din[k][j]));
      xp[k][j] += h;
      xm[k][j] -= h;
      fd[j] = (loss(xp) - loss(xm)) / (2 * h);
      gscale = std::max(gscale, std::abs(fd[j]));
    }
    ASSERT_TRUE(vars[k].has_grad()) << "input " << k << " got no gradient";
    const std::vector<double> g = ToDouble(vars[k].grad());
    const double gtol = c.c * kEpsF32 * std::sqrt(std::max(1.0, gn)) * gscale + 1e-7;
    reported = 0;
    for (size_t j = 0; j < fd.size(); ++j) {
      if (!(std::abs(g[j] - fd[j]) <= gtol) && reported++ < 5)
        ADD_FAILURE() << "grad input " << k << " [" << j << "] got " << g[j] << " fd " << fd[j]
                      << " tol " << gtol;
    }
  }
}

// A float tensor of the given shape with values uniform in [lo, hi).
inline Tensor RandomTensor(const Shape& s, Rng& rng, float lo = -1.0f, float hi = 1.0f) {
  return RandomUniform(s, lo, hi, rng);
}

// With `threads` OpenMP threads: runs op on fresh copies of the inputs (all requiring
// gradients), backpropagates a fixed random output gradient and returns the output and then
// every input's gradient. Ops whose results must not depend on the thread count compare two
// calls bitwise. Restores the previous thread count.
inline std::vector<std::vector<float>> OutputAndGradsWithThreads(
    const std::function<Var(const std::vector<Var>&)>& op, const std::vector<Tensor>& inputs,
    int threads) {
  const int prev = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::vector<Var> vars;
  for (const Tensor& t : inputs) vars.emplace_back(t.Clone(), true);
  Var out = op(vars);
  Rng rng(2);
  Backward(out, RandomTensor(out.shape(), rng));
  std::vector<std::vector<float>> r = {out.value().ToVector()};
  for (const Var& v : vars) r.push_back(v.grad().ToVector());
  omp_set_num_threads(prev);
  return r;
}

}  // namespace testing
}  // namespace lra

#endif  // LRA_CORE_TESTING_GRAD_CHECK_H_

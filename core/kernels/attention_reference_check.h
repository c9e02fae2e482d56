// Test-only: the check the attention kernel tests share (local_attention_test,
// block_sparse_attention_test): a kernel's forward against a double-precision reference, and
// its dq, dk, dv against central differences of <reference, dout>.
#ifndef LRA_CORE_KERNELS_ATTENTION_REFERENCE_CHECK_H_
#define LRA_CORE_KERNELS_ATTENTION_REFERENCE_CHECK_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace lra {
namespace kernels {
namespace testing {

inline constexpr double kEpsF32 = 1.1920928955078125e-07;  // 2^-23

struct KernelInputs {
  std::vector<float> q, k, v, dout;  // [B, L, heads, d] each
};

// N(0, 1) entries of `size` each, from mt19937(seed).
inline KernelInputs RandomKernelInputs(size_t size, uint32_t seed) {
  KernelInputs in;
  std::mt19937 g(seed);
  std::normal_distribution<float> n;
  for (auto* x : {&in.q, &in.k, &in.v, &in.dout}) {
    x->resize(size);
    for (float& y : *x) y = n(g);
  }
  return in;
}

// ref(q, k, v, record): the reference output; `record` is true on the first call, at the
// unperturbed inputs (a reference may freeze masked rows' scores there).
using KernelRef = std::function<std::vector<double>(
    const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
    bool record)>;

// |out - ref| <= tol (1 + max|ref|); each of dq, dk, dv within 2 tol (1 + max|grad|) of the
// central differences (h = 1e-6, in double: accurate to ~1e-9) of <ref, dout>.
inline void CheckAgainstReference(const KernelInputs& in, const std::vector<float>& out,
                                  const std::vector<float>& dq, const std::vector<float>& dk,
                                  const std::vector<float>& dv, const KernelRef& ref, double tol) {
  std::vector<double> q(in.q.begin(), in.q.end()), k(in.k.begin(), in.k.end()),
      v(in.v.begin(), in.v.end());
  const std::vector<double> want = ref(q, k, v, true);
  double scale = 0, err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::abs(want[i]));
    err = std::max(err, std::abs(want[i] - out[i]));
  }
  EXPECT_LE(err, tol * (1 + scale)) << "forward";
  auto loss = [&]() {
    const std::vector<double> o = ref(q, k, v, false);
    double l = 0;
    for (size_t i = 0; i < o.size(); ++i) l += o[i] * in.dout[i];
    return l;
  };
  for (auto [x, g, name] : {std::make_tuple(&q, &dq, "dq"), std::make_tuple(&k, &dk, "dk"),
                            std::make_tuple(&v, &dv, "dv")}) {
    double gs = 0, ge = 0;
    for (size_t i = 0; i < x->size(); ++i) {
      const double x0 = (*x)[i], h = 1e-6;
      (*x)[i] = x0 + h;
      const double lp = loss();
      (*x)[i] = x0 - h;
      const double lm = loss();
      (*x)[i] = x0;
      const double num = (lp - lm) / (2 * h);
      gs = std::max(gs, std::abs(num));
      ge = std::max(ge, std::abs(num - (*g)[i]));
    }
    EXPECT_LE(ge, 2 * tol * (1 + gs)) << name;
  }
}

}  // namespace testing
}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_ATTENTION_REFERENCE_CHECK_H_

// Test helpers for the S4 kernels: owned random parameter sets in float, their exact double
// copies, and views as SsmParams / SsmGrads. Test-only.
#ifndef LRA_MODELS_S4_SSM_TEST_UTIL_H_
#define LRA_MODELS_S4_SSM_TEST_UTIL_H_

#include <complex>
#include <random>
#include <vector>

#include "models/s4/ssm_init.h"
#include "models/s4/ssm_kernel.h"

namespace lra::s4 {

template <typename T>
struct OwnedParams {
  std::vector<T> dt_raw, a_re_raw, a_im;
  std::vector<std::complex<T>> b, p, c;

  SsmParams<T> View() const {
    SsmParams<T> v;
    v.dt_raw = dt_raw.data();
    v.a_re_raw = a_re_raw.data();
    v.a_im = a_im.data();
    v.b = b.data();
    v.p = p.data();
    v.c = c.data();
    return v;
  }
  SsmGrads<T> Grads() {
    SsmGrads<T> g;
    g.dt_raw = dt_raw.data();
    g.a_re_raw = a_re_raw.data();
    g.a_im = a_im.data();
    g.b = b.data();
    g.p = p.data();
    g.c = c.data();
    return g;
  }
  // Every real scalar, in a fixed order (complex values as re, im), for finite differences.
  std::vector<T*> Scalars() {
    std::vector<T*> out;
    for (auto& x : dt_raw) out.push_back(&x);
    for (auto& x : a_re_raw) out.push_back(&x);
    for (auto& x : a_im) out.push_back(&x);
    for (auto* vec : {&b, &p, &c}) {
      for (auto& x : *vec) {
        out.push_back(reinterpret_cast<T*>(&x));
        out.push_back(reinterpret_cast<T*>(&x) + 1);
      }
    }
    return out;
  }
};

template <typename T>
OwnedParams<T> ZerosLike(const SsmDims& d) {
  OwnedParams<T> z;
  z.dt_raw.assign(d.h, 0);
  z.a_re_raw.assign(static_cast<size_t>(d.s) * d.m, 0);
  z.a_im.assign(static_cast<size_t>(d.s) * d.m, 0);
  z.b.assign(static_cast<size_t>(d.s) * d.m, 0);
  z.p.assign(static_cast<size_t>(d.s) * d.m, 0);
  z.c.assign(static_cast<size_t>(d.q) * d.h * d.m, 0);
  return z;
}

inline OwnedParams<double> ToDouble(const OwnedParams<float>& f) {
  OwnedParams<double> o;
  o.dt_raw.assign(f.dt_raw.begin(), f.dt_raw.end());
  o.a_re_raw.assign(f.a_re_raw.begin(), f.a_re_raw.end());
  o.a_im.assign(f.a_im.begin(), f.a_im.end());
  for (auto x : f.b) o.b.emplace_back(x);
  for (auto x : f.p) o.p.emplace_back(x);
  for (auto x : f.c) o.c.emplace_back(x);
  return o;
}

// A from an init (cycled over the S copies) with a small random jitter so modes differ across
// copies, random complex B and P around their init, C ~ CN(0, 1), dt in [dt_min, dt_max].
inline OwnedParams<float> RandomParams(const SsmDims& d, const SsmOptions& o, DiagInit init,
                                       double dt_min, double dt_max, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  OwnedParams<float> p = ZerosLike<float>(d);
  const auto a0 = S4dInitA(init, 2 * d.m);
  for (int s = 0; s < d.s; ++s) {
    for (int n = 0; n < d.m; ++n) {
      const std::complex<double> a(a0[n].real() * (1 + 0.1 * normal(rng)),
                                   a0[n].imag() + 0.1 * normal(rng));
      AToRaw(o.real_transform, &a, 1, &p.a_re_raw[s * d.m + n], &p.a_im[s * d.m + n]);
      p.b[s * d.m + n] = {static_cast<float>(1 + 0.3 * normal(rng)),
                          static_cast<float>(0.3 * normal(rng))};
      p.p[s * d.m + n] = {static_cast<float>(0.5 * normal(rng)),
                          static_cast<float>(0.5 * normal(rng))};
    }
  }
  InitDtRaw(o.dt_transform, dt_min, dt_max, d.h, rng, p.dt_raw.data());
  InitC(static_cast<int>(p.c.size()), rng, p.c.data());
  return p;
}

}  // namespace lra::s4

#endif  // LRA_MODELS_S4_SSM_TEST_UTIL_H_

// Pieces shared by the two SSM kernel families (ssm_kernel_s4d.cc, ssm_kernel_dplr.cc): the
// denormal guard, the dimension check and the reduction of per-channel gradients onto the
// (A, B) copies. Private to those two files (the BUILD lists this header in srcs, not hdrs).
#ifndef LRA_MODELS_S4_SSM_KERNEL_INTERNAL_H_
#define LRA_MODELS_S4_SSM_KERNEL_INTERNAL_H_

#include <complex>
#include <cstddef>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "models/s4/ssm_kernel.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace lra::s4 {

using cd = std::complex<double>;
using cf = std::complex<float>;

// Sets flush-to-zero and denormals-are-zero on this thread for its lifetime. Decaying modes
// (|z|^l -> 0) otherwise walk through float denormals, which cost ~100 cycles per operation on
// x86; values below 1e-38 are far below the 6e-8 relative accuracy of the result anyway.
class ScopedFlushDenormals {
 public:
#if defined(__SSE__)
  ScopedFlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
  ~ScopedFlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

inline void CheckDims(const SsmDims& d) {
  ABSL_RAW_CHECK(d.q >= 1 && d.h >= 1 && d.m >= 1 && d.l >= 1 && d.s >= 1,
                 "SsmDims: every size must be positive");
  ABSL_RAW_CHECK(d.h % d.s == 0, "SsmDims: H must be a multiple of n_ssm (S)");
}

// Per-channel scratch for the (A, B) gradients, summed over the channels that share a copy in
// channel order, so the result does not depend on the thread count.
template <typename T>
void ReduceShared(const SsmDims& d, const std::vector<double>& ga_re,
                  const std::vector<double>& ga_im, const std::vector<cd>& gb,
                  const SsmGrads<T>& g) {
  for (int h = 0; h < d.h; ++h) {
    const int s = h % d.s;
    for (int n = 0; n < d.m; ++n) {
      const size_t i = static_cast<size_t>(h) * d.m + n, o = static_cast<size_t>(s) * d.m + n;
      if (g.a_re_raw) g.a_re_raw[o] += static_cast<T>(ga_re[i]);
      if (g.a_im) g.a_im[o] += static_cast<T>(ga_im[i]);
      if (g.b) {
        g.b[o] += std::complex<T>(static_cast<T>(gb[i].real()), static_cast<T>(gb[i].imag()));
      }
    }
  }
}

}  // namespace lra::s4

#endif  // LRA_MODELS_S4_SSM_KERNEL_INTERNAL_H_

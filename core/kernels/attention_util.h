// What the attention kernels share (core/kernels/attention.cc, synthesizer_attention.cc): which
// query and key positions a row sees, and oneDNN's sgemm called on the calling thread.
#ifndef LRA_CORE_KERNELS_ATTENTION_UTIL_H_
#define LRA_CORE_KERNELS_ATTENTION_UTIL_H_

#include <cstdint>

#include "absl/base/internal/raw_logging.h"
#include "oneapi/dnnl/dnnl.h"

namespace lra {
namespace kernels {
namespace attention_util {

// Whether position t of a sequence of `len` tokens is valid: inside the length and unmasked
// (mask: the example's key mask row, or null). An invalid position is a masked query (its row is
// uniform over all L keys) and a masked key.
inline bool Valid(const uint8_t* mask, int len, int t) { return t < len && (!mask || mask[t]); }

// Whether rows [i0, i0 + rows) hold an invalid (fully masked) query.
inline bool AnyInvalid(const uint8_t* mask, int len, int i0, int rows) {
  if (i0 + rows > len) return true;
  if (mask)
    for (int r = 0; r < rows; ++r)
      if (!mask[i0 + r]) return true;
  return false;
}

// C = alpha op(A) op(B) + beta C (column-major flags as BLAS, row-major storage as oneDNN's
// dnnl_sgemm). Inside an OpenMP loop over (example, head) pairs it runs on the calling thread,
// keeps no state and reads strided [B, L, heads, d] operands in place. `who` names the caller
// in the (internal-error) message.
inline void Sgemm(const char* who, char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  const dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (st != dnnl_success) ABSL_RAW_LOG(FATAL, "%s: dnnl_sgemm failed (status %d)", who, st);
}

}  // namespace attention_util
}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_ATTENTION_UTIL_H_

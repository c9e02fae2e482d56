// fp32 GEMM through oneDNN matmul, with primitives cached per shape and layout.
//
//   C[b] (= or +=) op(A[b]) * op(B[b]) (+ bias)    for b in [0, batch)
//
// op(A) is [M, K]: A is stored row-major as [M, K], or as [K, M] when trans_a (oneDNN reads it
// through a `ba`/`acb` memory descriptor, so no transpose copy is made; TOOLCHAIN.md 2c).
// Likewise op(B) is [K, N], stored [N, K] when trans_b. C is [M, N] contiguous. Batches are
// contiguous. `accumulate` adds into C (a oneDNN sum post-op), which is how backward passes add
// into existing gradients without a temporary. `bias` (length N, may be null) is added to every
// row; it cannot be combined with accumulate.
//
// Primitive creation costs 10-100 us; the cache key includes omp_get_max_threads() because a
// primitive keeps the thread count it was created with (TOOLCHAIN.md 2c, case D). Products
// under 1 MFLOP run on one thread.
#ifndef LRA_CORE_KERNELS_ONEDNN_GEMM_H_
#define LRA_CORE_KERNELS_ONEDNN_GEMM_H_

#include <cstdint>

namespace lra {
namespace onednn {

void Gemm(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
          const float* a, const float* b, const float* bias, float* c, bool accumulate);

// Number of cached primitives (for tests and diagnostics).
int64_t GemmCacheSize();

}  // namespace onednn
}  // namespace lra

#endif  // LRA_CORE_KERNELS_ONEDNN_GEMM_H_

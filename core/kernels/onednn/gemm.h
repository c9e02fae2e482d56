// fp32 GEMM through oneDNN matmul, with primitives cached per shape and layout.
//
//   C[b] (= or +=) op(A[b]) * op(B[b]) (+ bias)    for b in [0, batch)
//
// op(A) is [M, K]: A is stored row-major as [M, K], or as [K, M] when trans_a (oneDNN reads it
// through a `ba`/`acb` memory descriptor, so no transpose copy is made: oneDNN's matmul takes
// any strides, oneDNN developer guide, "Matmul", oneapi-src.github.io/oneDNN/dev_guide_matmul.html).
// Likewise op(B) is [K, N], stored [N, K] when trans_b. C is [M, N] contiguous. Batches are
// contiguous. `accumulate` adds into C (a oneDNN sum post-op), which is how backward passes add
// into existing gradients without a temporary. `bias` (length N, may be null) is added to every
// row; it cannot be combined with accumulate.
//
// Transposed-A products without bias (weight gradients) go through oneDNN's sgemm with the
// reduction split over the threads (see GemmTransA in gemm.cc for the measured reason).
//
// Precision: fp32 by default. SetMatmulPrecision(kBf16) is an opt-in mode for CPUs with
// AVX512-BF16 or AMX: every later call rounds A and B to bfloat16 (round to nearest even, 8
// significant bits) and accumulates in fp32 into an fp32 C, so parameters, gradients and the
// optimizer stay fp32 ("master weights"). Each product then carries a relative error of up to
// ~2^-8 per factor instead of 2^-24. The inputs are converted on every call, so a product runs
// in bf16 only when it has at least 512 flops per converted element (2MN/(M+N) >= 512, e.g.
// the forward of a Linear with 512 outputs); others, transposed-A products (weight gradients),
// attention and the FFT convolution stay fp32. Where bf16 runs, a Linear forward is ~1.45x
// faster (README "Measured performance"). The blocked attention kernel reads this setting too:
// its register-tiled score and P V products switch to bf16 (core/kernels/attention.h).
//
// Primitive creation costs 10-100 us; the cache key includes omp_get_max_threads() because a
// primitive keeps the thread count it was created with (oneDNN's own primitive cache keys on it:
// oneapi-src/oneDNN 0730dbf, src/common/primitive_hashing.hpp, key_t::impl_nthr_). Products
// under 1 MFLOP run on one thread.
#ifndef LRA_CORE_KERNELS_ONEDNN_GEMM_H_
#define LRA_CORE_KERNELS_ONEDNN_GEMM_H_

#include <cstdint>

#include "absl/status/status.h"

namespace lra {
namespace onednn {

enum class MatmulPrecision { kF32, kBf16 };

// Process-wide; FailedPrecondition (and no change) for kBf16 on a CPU without bf16 support.
absl::Status SetMatmulPrecision(MatmulPrecision precision);
MatmulPrecision GetMatmulPrecision();
// Whether oneDNN can run bf16 matmuls natively on this CPU (AVX512-BF16 or AMX).
bool Bf16Supported();

void Gemm(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
          const float* a, const float* b, const float* bias, float* c, bool accumulate);

// Number of cached primitives (for tests and diagnostics).
int64_t GemmCacheSize();

}  // namespace onednn
}  // namespace lra

#endif  // LRA_CORE_KERNELS_ONEDNN_GEMM_H_

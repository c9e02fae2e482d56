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
// AVX512-BF16 or AMX: later calls round A and B to bfloat16 (ConvertToBf16: round to nearest
// even, 8 significant bits) and accumulate in fp32 into an fp32 C, so parameters, gradients and
// the optimizer stay fp32 ("master weights"). Each product then carries a relative error of up
// to (2u + u^2) sum |a b|, u = 2^-8, plus fp32's accumulation error (gemm_test.cc derives it).
// The operands are converted on every call (vectorised, ~0.05 ns per element on 2 threads), so a
// product runs in bf16 when it has at least 64 flops per converted element, counted per row of
// the dimension that grows with the batch so the choice never depends on it: 2N for op(A) op(B)
// (M rows), 2MN/(M + N) for a weight gradient A^T B (K rows). At H = 128 that is every forward,
// data gradient and weight gradient of the model benchmark's Linear layers; weight gradients
// keep GemmTransA's split of K over the threads (see gemm.cc), with fp32 partial sums. Where
// bf16 runs, those products are 1.2-1.9x faster (README "Measured performance"). The blocked
// attention kernel reads this setting too: its products switch to bf16 (core/kernels/attention.h).
// The FFT convolution stays fp32. A caller may hand in an operand it has already converted
// (Operand below): a Linear's backward converts dz once for its data and weight gradients, which
// took the conversions from 5.4% to 3.7% of BM_TransformerTrain/1024's step (about 15 of
// 730-780 CPU-ms) and from 5.2% to 2.8% of BM_S4dTrain/1024's (README "Measured performance").
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

// y[i] = x[i] rounded to bfloat16 (the bf16 mode's only rounding): VCVTNE2PS2BF16, i.e. round
// to nearest even; NaN stays NaN (made quiet); denormal inputs become zero of the same sign.
// Split over omp_get_max_threads() for large n. Needs Bf16Supported().
void ConvertToBf16(const float* x, int64_t n, uint16_t* y);

// ConvertToBf16 of x[0, n) into a buffer of the calling thread (grown to the largest n seen and
// kept, so a training step allocates nothing after the first), for a copy handed to several
// Gemm calls as Operand::bf16. Valid until this thread's next call (Gemm's own conversions use
// other buffers).
const uint16_t* ConvertToBf16Scratch(const float* x, int64_t n);

// A Gemm operand: its fp32 values and, optionally, the same elements already rounded by
// ConvertToBf16 in the same layout. A product that runs in bf16 (GemmRunsInBf16) reads `bf16`
// instead of converting `f32` again, and gives the same bits (gemm_test.cc checks it, the
// weight gradient's split and chunks included); any other product reads `f32`. For operands
// used by more than one product: a Linear's backward converts dz once for the data and the
// weight gradient (core/ops/matmul.cc, LinearBackwardXW). Implicit from a plain pointer, so
// fp32 callers are unchanged.
struct Operand {
  Operand(const float* values) : f32(values) {}  // NOLINT(runtime/explicit)
  Operand(const float* values, const uint16_t* bf16_values) : f32(values), bf16(bf16_values) {}
  const float* f32;
  const uint16_t* bf16 = nullptr;
};

// Whether Gemm with these arguments runs in bf16: bf16 mode is set and the product has enough
// flops per converted element (gemm.cc, Bf16Pays). The one place that decides; callers ask it
// before making a bf16 copy.
bool GemmRunsInBf16(int64_t batch, int64_t m, int64_t n, bool trans_a, bool has_bias);

void Gemm(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
          Operand a, Operand b, const float* bias, float* c, bool accumulate);

// Number of cached primitives (for tests and diagnostics).
int64_t GemmCacheSize();

}  // namespace onednn
}  // namespace lra

#endif  // LRA_CORE_KERNELS_ONEDNN_GEMM_H_

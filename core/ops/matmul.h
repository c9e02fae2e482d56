// Matrix products on the tape (oneDNN; fp32, or the opt-in bf16 mode: see
// core/kernels/onednn/gemm.h).
#ifndef LRA_CORE_OPS_MATMUL_H_
#define LRA_CORE_OPS_MATMUL_H_

#include "core/kernels/onednn/gemm.h"
#include "core/tape.h"

namespace lra {

// Process-wide precision of every Linear and MatMul product; set it at start-up, next to
// SetNumThreads. kBf16 needs AVX512-BF16 or AMX and returns FailedPrecondition elsewhere.
using onednn::GetMatmulPrecision;
using onednn::MatmulPrecision;
using onednn::SetMatmulPrecision;

// y = x w + b. x: [..., K] (viewed as one [rows, K] matrix, so [B, L, H] activations are a
// single GEMM), w: [K, N], b: [N] or an undefined Var for no bias. Returns [..., N].
Var Linear(const Var& x, const Var& w, const Var& b = Var());

// The gradients of y = x w (+ b) for x and w, given dz = dL/dy ([rows, N]): dx (+)= dz w^T and
// dw (+)= x^T dz, each only if that input requires a gradient. Linear's backward, shared with
// the fused ops that end in a Linear (LinearGluResidual in core/ops/activation.h). When both
// products run in bf16 (onednn::GemmRunsInBf16) dz is converted to bf16 once, into the calling
// thread's scratch (onednn::ConvertToBf16Scratch), and read by both: the same bits as two plain
// Gemm calls.
void LinearBackwardXW(const Var& x, const Var& w, const float* dz, int64_t rows);

// Batched matrix product over the leading dims: a [..., M, K] (or [..., K, M] if trans_a),
// b [..., K, N] (or [..., N, K] if trans_b) -> [..., M, N]. Leading dims must match exactly,
// except that b may be rank 2 (one matrix shared by every batch entry, e.g. a weight).
Var MatMul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);

}  // namespace lra

#endif  // LRA_CORE_OPS_MATMUL_H_

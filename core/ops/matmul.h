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

// Linear's forward product y[rows, N] = x w (+ bias), shared with the fused ops that end in a
// Linear (LinearGluResidual in core/ops/activation.h); `record`: a backward will be recorded
// (NeedsGrad of the op's inputs). When that backward's weight gradient x^T dz runs in bf16
// (onednn::GemmRunsInBf16), x is converted to bf16 once here, read by this product, and
// returned for LinearBackwardXW (ConvertToBf16's values, rows * K of them, in a pool tensor of
// ceil(rows * K / 2) floats), so the backward does not convert x again; otherwise an undefined
// Tensor. Measured at BM_TransformerTrain/1024 (README "Measured performance"): the copies add
// 2 bytes per element of every Linear's input to the step's pool peak.
Tensor LinearForward(const Var& x, const Var& w, const float* bias, int64_t rows, bool record,
                     float* y);

// The gradients of y = x w (+ b) for x and w, given dz = dL/dy ([rows, N]): dx (+)= dz w^T and
// dw (+)= x^T dz, each only if that input requires a gradient; `x_bf16` is LinearForward's
// return value. When both products run in bf16, dz is converted once for the two.
void LinearBackwardXW(const Var& x, const Var& w, const float* dz, int64_t rows,
                      const Tensor& x_bf16);

// Batched matrix product over the leading dims: a [..., M, K] (or [..., K, M] if trans_a),
// b [..., K, N] (or [..., N, K] if trans_b) -> [..., M, N]. Leading dims must match exactly,
// except that b may be rank 2 (one matrix shared by every batch entry, e.g. a weight).
Var MatMul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);

}  // namespace lra

#endif  // LRA_CORE_OPS_MATMUL_H_

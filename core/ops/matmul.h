// Matrix products on the tape (oneDNN fp32; see core/kernels/onednn/gemm.h).
#ifndef LRA_CORE_OPS_MATMUL_H_
#define LRA_CORE_OPS_MATMUL_H_

#include "core/tape.h"

namespace lra {

// y = x w + b. x: [..., K] (viewed as one [rows, K] matrix, so [B, L, H] activations are a
// single GEMM), w: [K, N], b: [N] or an undefined Var for no bias. Returns [..., N].
Var Linear(const Var& x, const Var& w, const Var& b = Var());

// Batched matrix product over the leading dims: a [..., M, K] (or [..., K, M] if trans_a),
// b [..., K, N] (or [..., N, K] if trans_b) -> [..., M, N]. Leading dims must match exactly,
// except that b may be rank 2 (one matrix shared by every batch entry, e.g. a weight).
Var MatMul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);

}  // namespace lra

#endif  // LRA_CORE_OPS_MATMUL_H_

// Selective state-space ops for Mamba (Gu and Dao, 2023, arXiv 2312.00752): the selective scan
// (training and streaming) and the short causal depthwise convolution in front of it.
//
// Selective scan. Mirrors selective_scan_fn / selective_scan_ref of state-spaces/mamba
// (commit e9594ce, mamba_ssm/ops/selective_scan_interface.py) for real A and "variable B/C"
// with one group, in lra's [B, L, D] layout instead of the reference's [B, D, L]:
//   dt[b,t,d]  = delta[b,t,d] + delta_bias[d], then softplus(dt) if delta_softplus
//   h[b,d,n]  <- exp(dt A[d,n]) h[b,d,n] + dt B[b,t,n] u[b,t,d]      (h starts at 0)
//   y[b,t,d]   = sum_n C[b,t,n] h[b,d,n] + D[d] u[b,t,d]
//   out[b,t,d] = y[b,t,d] * silu(z[b,t,d])                           (if z is given)
// i.e. zero-order hold for A and the simplified Euler step dt B for B, as the reference does
// (deltaA = exp(delta A), deltaB_u = delta B u in selective_scan_ref). Shapes: u, delta, z
// [B, L, D]; A [D, N]; B, C [B, L, N]; D, delta_bias [D]. D, z and delta_bias are optional
// (undefined Var).
// Softplus is log(1 + e^x), taken as x above 20 (the CUDA kernel's `<= 20.f ? log1pf(expf(.))`,
// csrc/selective_scan/selective_scan_fwd_kernel.cuh; F.softplus's default threshold).
//
// How it runs (CPU). Channels are processed in blocks of 16 lanes (one AVX-512 vector, a GCC
// vector type; the kernels are compiled for AVX-512, AVX2 and baseline and picked at load time,
// like core/kernels/vmath), time in chunks of 64 steps. Per step and state the kernel evaluates
// exp(dt A) inline as 2^(dt A log2 e) (A log2 e formed once per block; 2^r on [-1/2, 1/2] by a
// degree-5 minimax polynomial, 2.1e-7 relative in float; 2^k through the exponent field with
// the exponent clamped to [-126, 127], or, on AVX-512 CPUs when dt >= 0 and every A <= 0 as in
// Mamba, by VRNDSCALEPS / VSCALEFPS, three instructions instead of six, the same float wherever
// the exponent is above -126; the softplus and sigmoid exps scale the same way) and updates
// the state, which for N = 16
// (Mamba's d_state) stays in registers through the chunk; u, softplus of dt and sigmoid of z
// are formed in one pass over the chunk's rows per block, the D skip and the SiLU gate as the
// chunk's output rows are stored. Work items are (batch, group of 4 channel blocks) run in parallel on the
// core/parallel.h pool. The [B, L, D, N] state tensor is never formed: when a gradient is
// needed, forward saves only the state at each chunk start ([B, ceil(L/64), N, D rounded up to
// 16]: 1/64 of the states), and backward recomputes each chunk's states from its checkpoint
// (adding dC's terms as it goes) before running the reverse recurrence, the scheme of the
// reference CUDA kernel (csrc/selective_scan/selective_scan_fwd_kernel.cuh stores the state per
// chunk; selective_scan_bwd_kernel.cuh recomputes). Reductions (dB, dC over channels; dA, dD,
// d delta_bias over batch) go through per-item partials summed in a fixed order, so results do
// not depend on the thread count.
//
// Gradients flow to all of u, delta, A, B, C, D, z and delta_bias (delta's gradient is with
// respect to the value before the bias and softplus).
#ifndef LRA_CORE_OPS_SSM_H_
#define LRA_CORE_OPS_SSM_H_

#include "core/tape.h"

namespace lra {

struct SelectiveScanOptions {
  // The reference's default is False; the Mamba block passes True (mamba_simple.py, forward).
  bool delta_softplus = false;
};

// Returns out [B, L, D]. If last_state is non-null it receives the state after the last step,
// [B, D, N] (the reference's return_last_state; no gradient), to continue with
// SelectiveScanStep, e.g. after a prompt.
Var SelectiveScan(const Var& u, const Var& delta, const Var& A, const Var& B, const Var& C,
                  const Var& D = Var(), const Var& z = Var(), const Var& delta_bias = Var(),
                  SelectiveScanOptions options = {}, Tensor* last_state = nullptr);

// One token of the same recurrence (no tape; for streaming inference). state: [batch, D, N],
// updated in place (start from Tensor::Zeros). u, delta, z: [batch, D]; B, C: [batch, N];
// A [D, N]; D, delta_bias: [D] or undefined Tensors; z undefined for no gate. Returns
// out [batch, D]. Stepping through a sequence gives SelectiveScan's output to fp32 rounding
// (ssm_test checks it).
Tensor SelectiveScanStep(Tensor& state, const Tensor& u, const Tensor& delta, const Tensor& A,
                         const Tensor& B, const Tensor& C, const Tensor& D, const Tensor& z,
                         const Tensor& delta_bias, SelectiveScanOptions options = {});

// Causal depthwise conv1d (Mamba's d_conv = 4 convolution, mamba_simple.py: nn.Conv1d with
// groups = channels, padding = K - 1, output cut to the first L steps; PyTorch's conv1d is a
// cross-correlation):
//   y[b,t,d] = act(bias[d] + sum_{k<K} w[d,k] x[b, t-K+1+k, d]),   x[b, s<0, d] = 0
// x: [B, L, D]; w: [D, K] (the reference's [D, 1, K] weight squeezed); bias: [D] or undefined;
// act = silu when `silu` (as causal_conv1d_fn(..., activation="silu") in the reference), else
// identity. Gradients to x, w and bias; backward recomputes the pre-activation and works in one
// pass over blocks of 256 rows (dx and fixed-order partials of dw and dbias, so the result does
// not depend on the thread count). Forward, dx and dw sum the taps in registers, 16 channels at
// a time, and apply the SiLU there.
Var CausalConv1d(const Var& x, const Var& w, const Var& bias = Var(), bool silu = false);

// One token of CausalConv1d (no tape), as Mamba.step's conv step (mamba_simple.py): state
// [batch, D, K] holds the last K inputs, oldest first (start from Tensor::Zeros); it is shifted
// left by one and x [batch, D] is appended, then out[b,d] = act(bias[d] + sum_k w[d,k]
// state[b,d,k]). Returns out [batch, D].
Tensor CausalConv1dStep(Tensor& state, const Tensor& x, const Tensor& w, const Tensor& bias,
                        bool silu = false);

}  // namespace lra

#endif  // LRA_CORE_OPS_SSM_H_

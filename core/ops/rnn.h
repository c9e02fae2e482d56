// LSTM and GRU recurrences (single layer, one direction, zero initial state) for the RNN
// baselines. The caller computes the input projections of all time steps as one GEMM
// (Linear(x, w_ih, b_ih): [B, L, in] -> [B, L, 4H] or [B, L, 3H]); these ops run the
// recurrence over them. Equations and gate order are PyTorch's (torch.nn.LSTM and torch.nn.GRU
// documentation, pytorch.org/docs/stable/generated/torch.nn.LSTM.html and .../torch.nn.GRU.html),
// with x W_ih + b_ih given as `xproj` and h W_hh + b_hh computed here:
//
//   LSTM, xproj = [x_i | x_f | x_g | x_o], each H wide, w_hh [H, 4H] in the same column order:
//     [a_i | a_f | a_g | a_o] = xproj_t + h_{t-1} w_hh + b_hh
//     i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
//     c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
//   GRU, xproj = [x_r | x_z | x_n], w_hh [H, 3H], b_hh [3H]:
//     [s_r | s_z | s_n] = h_{t-1} w_hh + b_hh
//     r = sigmoid(x_r + s_r), z = sigmoid(x_z + s_z), n = tanh(x_n + r * s_n)
//     h_t = (1 - z) * n + z * h_{t-1}
// (PyTorch stores weight_hh as [4H, H] / [3H, H] and multiplies by its transpose; w_hh here is
// that transpose.) h_0 = c_0 = 0. Returns every h_t: [B, L, H].
//
// How it runs: each step's hidden-to-hidden product [B, H] x [H, gH] is a register-blocked
// loop on the calling thread (8 rows x 32 columns of accumulators, compiled for AVX-512, AVX2
// and baseline; a oneDNN call per step would add its dispatch, and a parallel region per step
// from 1 MFLOP on), the gate math goes through the vectorised core/kernels/vmath. Forward keeps
// the gate activations (and c for the LSTM) time-major for backward through time, which runs
// one [B, gH] x [gH, H] product per step the same way and then the weight gradient of all steps
// as one oneDNN GEMM ([H, (L-1)B] x [(L-1)B, gH], core/kernels/onednn/gemm.h). The recurrence is
// sequential in time but independent across batch rows: each thread of the pool runs the whole
// recurrence (forward, and backward through time) for a contiguous share of the rows, in one
// parallel region. A row's arithmetic does not depend on which rows share its thread, so
// results are bitwise the same for any thread count. Gradients flow to xproj, w_hh and b_hh.
#ifndef LRA_CORE_OPS_RNN_H_
#define LRA_CORE_OPS_RNN_H_

#include "core/tape.h"

namespace lra {

// xproj [B, L, 4H], w_hh [H, 4H], b_hh [4H] or undefined -> h [B, L, H].
Var Lstm(const Var& xproj, const Var& w_hh, const Var& b_hh = Var());

// xproj [B, L, 3H], w_hh [H, 3H], b_hh [3H] or undefined -> h [B, L, H].
Var Gru(const Var& xproj, const Var& w_hh, const Var& b_hh = Var());

// One step (no tape; streaming inference). xproj_t: [batch, 4H] / [batch, 3H]; h, c: [batch, H],
// updated in place (start from Tensor::Zeros). Returns a copy of the new h. Stepping through a
// sequence gives Lstm/Gru's output (rnn_test checks it).
Tensor LstmStep(const Tensor& xproj_t, const Tensor& w_hh, const Tensor& b_hh, Tensor& h,
                Tensor& c);
Tensor GruStep(const Tensor& xproj_t, const Tensor& w_hh, const Tensor& b_hh, Tensor& h);

// x [B, L, ...] with the time axis (1) reversed: out[b, t] = x[b, L - 1 - t]. For bidirectional
// layers (LSTM, GRU, Mamba): run the op on ReverseTime(x) and reverse its output back. The
// gradient is the reversed output gradient.
Var ReverseTime(const Var& x);

}  // namespace lra

#endif  // LRA_CORE_OPS_RNN_H_

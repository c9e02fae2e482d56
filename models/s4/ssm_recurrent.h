// Recurrent (step) mode of the S4 family, for streaming inference of causal layers, and the
// dense state-space form of DPLR S4 (also used to build C-tilde). References: the recurrent view
// of the S4 paper (arXiv 2111.00396, Section 2.3, eq. (3): bilinear discretization), the S4D
// paper (arXiv 2206.11893, Section 3: ZOH and bilinear for diagonal A), and state-spaces/s4
// e757cef, src/models/sequence/kernels/ssm.py (SSMKernelDiag._setup_step / step,
// SSMKernelDPLR._setup_C / _setup_step / step).
//
// The layer discretizes once per parameter version, then for every token t:
//   x_t = dA x_{t-1} + dB u_t,   y_t = 2 Re(C x_t)   (+ D u_t, added by the layer)
// with x_{-1} = 0; this reproduces y = causal_conv(K, u) of ssm_kernel.h exactly in exact
// arithmetic (K[l] = 2 Re(C dA^l dB)). Only Q = 1 (causal) kernels have a recurrence.
//
//   S4dRecurrence rec(dims, opts, params);              // discretize once
//   std::vector<float> state(batch * rec.state_floats(), 0.f), y(batch * H);
//   for (int t = 0; t < T; ++t) rec.Step(batch, u_t, state.data(), y.data());
#ifndef LRA_MODELS_S4_SSM_RECURRENT_H_
#define LRA_MODELS_S4_SSM_RECURRENT_H_

#include <complex>
#include <cstdint>
#include <vector>

#include "models/s4/ssm_kernel.h"

namespace lra::s4 {

// S4D: diagonal complex recurrence, O(H M) per token and stream. The state of one stream is
// [H][2][M] floats (real parts of the M modes, then imaginary parts). dA, dB are computed in
// double (exactly the values the kernel's tables use) and rounded to float once.
class S4dRecurrence {
 public:
  S4dRecurrence(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p);
  int h() const { return h_; }
  int m() const { return m_; }
  int64_t state_floats() const { return 2 * static_cast<int64_t>(h_) * m_; }
  // u [batch, H], state [batch, state_floats()] (in/out), y [batch, H] (overwritten).
  // OpenMP over streams when batch * H * M is large; one stream runs on the calling thread.
  void Step(int batch, const float* u, float* state, float* y) const;

 private:
  void StepStream(const float* u, float* state, float* y) const;

  int h_, m_;
  std::vector<float> ar_, ai_, br_, bi_, cr_, ci_;  // [H, M]; c already includes the factor 2
};

// DPLR S4 in the full 2M-dimensional complex eigenbasis of one channel (double):
//   A = diag(Lambda, conj Lambda) - p p*,  p = [P; conj P],  B = [B; conj B],
//   dA = (I - dt/2 A)^-1 (I + dt/2 A),  dB = (I - dt/2 A)^-1 dt B   (bilinear).
struct DenseSsm {
  int n = 0;                             // 2M
  std::vector<std::complex<double>> da;  // [n, n] row-major
  std::vector<std::complex<double>> db;  // [n]
};
DenseSsm DplrDiscretizeDense(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                             int h);

// C-tilde^T = C^T (I - dA^L) with C = [C; conj C] (state-spaces/s4 e757cef
// src/models/sequence/kernels/ssm.py, SSMKernelDPLR._setup_C), L = d.l, for all (q, h):
// c [Q, H, M] -> c_tilde [Q, H, M]. dA^L by repeated squaring in double, in the real form of
// the 2M-dimensional state (OpenMP over channels; deterministic). `p.c` unused.
void DplrCTildeFromC(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                     const std::complex<double>* c, std::complex<double>* c_tilde);
// Inverse: solves (I - dA^L)^T C = C-tilde (LU in double). p.c unused.
void DplrCFromCTilde(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                     const std::complex<double>* c_tilde, std::complex<double>* c);

// DPLR S4: dense real recurrence of size 2M per channel (the conjugate-symmetric complex state
// x_f = [x; conj x] written as [Re x; Im x]), O(H (2M)^2) per token and stream. Built from the
// trainable parameters with p.c = C-tilde for kernel length d.l (the true C is recovered with
// DplrCFromCTilde). The state of one stream is [H][2M] floats.
class DplrRecurrence {
 public:
  DplrRecurrence(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p);
  int h() const { return h_; }
  int64_t state_floats() const { return 2 * static_cast<int64_t>(h_) * m_; }
  void Step(int batch, const float* u, float* state, float* y) const;

 private:
  void StepStream(const float* u, float* state, float* y, float* next) const;

  int h_, m_;
  std::vector<float> at_;  // [H, 2M, 2M], dA column-major (dA^T row-major)
  std::vector<float> b_, c_;  // [H, 2M]
};

}  // namespace lra::s4

#endif  // LRA_MODELS_S4_SSM_RECURRENT_H_

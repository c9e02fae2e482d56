// S4 convolution kernels as raw functions on plain arrays: S4D (diagonal, Vandermonde;
// ssm_kernel_s4d.cc) and S4 (DPLR/NPLR, Cauchy + Woodbury at the roots of unity;
// ssm_kernel_dplr.cc), each with an explicit Forward and Backward. Nothing here knows about the
// autodiff tape; a model wraps Forward/Backward as one custom op. Math: S4D, Gu et al., "On the
// Parameterization and Initialization of Diagonal State Space Models", arXiv 2206.11893,
// Section 3 (the Vandermonde kernel, ZOH and bilinear discretization); S4, Gu, Goel, Re,
// "Efficiently Modeling Long Sequences with Structured State Spaces", arXiv 2111.00396,
// Section 3.3 and Algorithm 1 (DPLR). Reference code: state-spaces/s4 e757cef,
// src/models/sequence/kernels/ssm.py, SSMKernelDiag.forward and SSMKernelDPLR.forward.
//
// Shapes. H = channels, M = modes (N/2 conjugate pairs), S = n_ssm copies of (A, B, P)
// (H % S == 0; channel h uses copy h % S, as the reference's `repeat('t n -> (v t) n')`),
// Q = C copies per channel (1 causal; 2 bidirectional), L = kernel length.
//   dt_raw [H]  a_re_raw, a_im, b, p [S, M]  c [Q, H, M]  ->  k [Q, H, L] (L contiguous)
// The D skip is not part of the kernel: the layer adds D * u.
//
// Bidirectional (state-spaces/s4 e757cef, src/models/sequence/kernels/fftconv.py,
// FFTConv.forward, `bidirectional`): call with Q = 2. Both halves share dt, A and B (as in the
// reference, where only C gets the extra `channels` axis) and have their own C; k[0] is the
// forward kernel k0 and k[1] the backward kernel k1. The layer then convolves with the two-sided
// kernel y[t] = sum_{s<=t} k0[t-s] u[s] + sum_{s>t} k1[s-t-1] u[s] (one 2L FFT: k0 padded with
// L zeros on the right plus flip(k1) padded with L zeros on the left) and passes the two halves
// of the kernel gradient back as dk[0] and dk[1].
//
// Backward ACCUMULATES (+=) into every non-null gradient pointer; pass nullptr to skip one.
// Complex gradients are dF/dRe + i dF/dIm. Forward saves nothing: Backward recomputes the
// cheap per-mode tables (M * (J + L/J) entries per channel).
//
//   SsmDims d;  // q = 1 (causal), h = 128, m = 32, s = 128, l = 4096
//   d.h = 128, d.m = 32, d.s = 128, d.l = 4096;
//   S4dKernelForward(d, SsmOptions{}, params, k.data());          // k [1, 128, 4096]
//   ... layer computes dk ...
//   S4dKernelBackward(d, SsmOptions{}, params, dk.data(), grads);  // grads += dF/dparams
#ifndef LRA_MODELS_S4_SSM_KERNEL_H_
#define LRA_MODELS_S4_SSM_KERNEL_H_

#include <complex>

#include "models/s4/ssm_init.h"

namespace lra::s4 {

enum class Discretization { kZoh, kBilinear };

struct SsmDims {
  int q = 1;  // C copies per channel (2 = bidirectional)
  int h = 0;  // channels
  int m = 0;  // complex modes (N/2)
  int s = 0;  // (A, B, P) copies; H % S == 0
  int l = 0;  // kernel length
};

struct SsmOptions {
  Discretization disc = Discretization::kZoh;  // S4D only; DPLR is always bilinear
  DtTransform dt_transform = DtTransform::kExp;
  RealTransform real_transform = RealTransform::kExp;
};

// Non-owning views of the trainable raw parameters. For DPLR, `c` holds C-tilde (the S4 paper's
// Algorithm 1 step 1, C~ = (I - dA^L)* C) and `a_*` hold Lambda; `p` is unused by S4D.
template <typename T>
struct SsmParams {
  const T* dt_raw = nullptr;                // [H]
  const T* a_re_raw = nullptr;              // [S, M]  A = -f(a_re_raw) - i a_im
  const T* a_im = nullptr;                  // [S, M]
  const std::complex<T>* b = nullptr;       // [S, M]
  const std::complex<T>* p = nullptr;       // [S, M]  DPLR rank-1 factor: A = Lambda - p p*
  const std::complex<T>* c = nullptr;       // [Q, H, M]
};

template <typename T>
struct SsmGrads {  // same shapes as SsmParams; += ; nullptr skips
  T* dt_raw = nullptr;
  T* a_re_raw = nullptr;
  T* a_im = nullptr;
  std::complex<T>* b = nullptr;
  std::complex<T>* p = nullptr;
  std::complex<T>* c = nullptr;
};

// ---- S4D: K[q,h,l] = 2 Re( sum_n Ct[q,h,n] z[h,n]^l ) ----
// ZOH: z = exp(dtA), Ct = C B (exp(dtA) - 1)/A; bilinear: z = (1 + dtA/2)/(1 - dtA/2),
// Ct = C B dt/(1 - dtA/2). Float fast path: per channel, powers z^(bJ+j) = Z[b] * zj[j] from two
// tables computed in double (see ssm_kernel_s4d.cc), then a float GEMM-shaped sum over modes.
// OpenMP over channels; deterministic for any thread count.
void S4dKernelForward(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p, float* k);
void S4dKernelBackward(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p,
                       const float* dk, const SsmGrads<float>& g);
// Double reference: z^l = exp(l log z) for every l, direct sums. O(Q H M L) exp calls.
void S4dKernelReference(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                        double* k);
void S4dKernelBackwardReference(const SsmDims& d, const SsmOptions& o,
                                const SsmParams<double>& p, const double* dk,
                                const SsmGrads<double>& g);

// ---- DPLR S4 (rank 1, bilinear) ----
// k_hat(w) = q00 - s q01 q10 / (1 + s q11), s = (1 + w)/2, at w_k = exp(-2 pi i k/L),
// q_ab = dt sum_{2M modes} a_n b_n / ((1 - w) - s dt Lambda_n), (a, b) in {C~, conj P} x {B, P};
// K = irfft(k_hat, L). Equals the S4 paper's Algorithm 1 step 3, 2/(1+w) * Woodbury(k_ab(w))
// (arXiv 2111.00396, Section 3.3), with the factor 2/(1+w) folded into the denominators, so
// w = -1 (k = L/2) is not a singular point; ssm_kernel_dplr.cc has the legend of symbols.
// Float: core/kernels/fft.h (plans cached per L); O(Q H M L) work, OpenMP over channels.
void DplrKernelForward(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p,
                       float* k);
void DplrKernelBackward(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p,
                        const float* dk, const SsmGrads<float>& g);
// Double: the same generating-function algorithm with a direct O(L^2) DFT.
void DplrKernelReference(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                         double* k);
void DplrKernelBackwardReference(const SsmDims& d, const SsmOptions& o,
                                 const SsmParams<double>& p, const double* dk,
                                 const SsmGrads<double>& g);

// One discretized S4D mode in double: z = dA and e with dB = B e (ZOH: e = (exp(dt a) - 1)/a;
// bilinear: e = dt/(1 - dt a/2)). The kernel and the recurrence both use it.
void S4dDiscretizeMode(Discretization disc, double dt, std::complex<double> a,
                       std::complex<double>* z, std::complex<double>* e);

// Block size J of the S4D power tables for length L (exposed for the benchmark and tests).
int S4dBlockSize(int l);

}  // namespace lra::s4

#endif  // LRA_MODELS_S4_SSM_KERNEL_H_

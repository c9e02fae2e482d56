// Initializations and parameter transforms for the S4 family (S4D diagonal and DPLR/NPLR S4).
//
// Shapes: H = channels (d_model), N = state size (d_state), M = N/2 complex modes (conjugate
// pairs), S = n_ssm copies of (A, B). References: S4D (arXiv 2206.11893, Section 4:
// S4D-LegS, S4D-Inv, S4D-Lin), S4 (arXiv 2111.00396, Section 3.2 and Theorem 1: the NPLR form
// of HiPPO-LegS; HiPPO-LegS itself: Gu et al., "HiPPO: Recurrent Memory with Optimal Polynomial
// Projections", arXiv 2008.07669), and the reference code, state-spaces/s4 e757cef,
// src/models/sequence/kernels/dplr.py (dplr: the S4D inits), src/models/hippo/hippo.py
// (transition, rank_correction, nplr) and src/models/sequence/kernels/ssm.py (init_dt,
// init_ssm_dplr, SSMKernelDiag's `real_transform`).
//
// Conventions (dplr.py, `A = -real_part - 1j * imag_part`): A = -f(a_re_raw) - i * a_im, where f is the real transform
// (exp by default, so Re A < 0 always). We store the negative-imaginary member of each pair,
// i.e. a_im >= 0 for the standard inits; the sign does not matter after the factor 2 Re(.).
// dt = exp(dt_raw) or softplus(dt_raw). Complex arrays are std::complex (interleaved re, im).
//
//   std::mt19937_64 rng(3333);
//   auto a = S4dInitA(DiagInit::kInv, /*n_state=*/64);               // 32 modes
//   std::vector<float> a_re(32), a_im(32);
//   AToRaw(RealTransform::kExp, a.data(), 32, a_re.data(), a_im.data());
//   std::vector<float> log_dt(H);
//   InitDtRaw(DtTransform::kExp, 1e-3, 1e-1, H, rng, log_dt.data());
#ifndef LRA_MODELS_S4_SSM_INIT_H_
#define LRA_MODELS_S4_SSM_INIT_H_

#include <complex>
#include <random>
#include <vector>

namespace lra::s4 {

// How the stored real parameter maps to -Re(A) (reference `real_transform`).
enum class RealTransform { kExp, kRelu, kNone };
// How the stored parameter maps to dt (reference `dt_transform`).
enum class DtTransform { kExp, kSoftplus };
// S4D initializations (dplr.py, `init` = linear / inverse / legs / real).
enum class DiagInit { kLin, kInv, kLegs, kReal };

// ---- transforms (value and derivative; double so both paths share them) ----
double RealTransformValue(RealTransform t, double raw);       // r = f(raw), -Re A = r
double RealTransformDeriv(RealTransform t, double raw);       // f'(raw)
double RealTransformInverse(RealTransform t, double r);       // raw with f(raw) = r (r > 0)
double DtValue(DtTransform t, double raw);                    // dt
double DtDeriv(DtTransform t, double raw);                    // d dt / d raw
double DtInverse(DtTransform t, double dt);                   // raw with DtValue(raw) = dt

// Splits complex A (Re A < 0) into the stored pair (a_re_raw, a_im) for `count` modes.
void AToRaw(RealTransform t, const std::complex<double>* a, int count, float* a_re_raw,
            float* a_im);
// Inverse of AToRaw (for tests and recurrent setup).
std::complex<double> AFromRaw(RealTransform t, double a_re_raw, double a_im);

// ---- S4D ----
// M = n_state/2 diagonal modes (n_state even):
//   kLin:  -1/2 - i*pi*n
//   kInv:  -1/2 - i*(N/pi)*(N/(2n+1) - 1)
//   kLegs: eigenvalues of the normal part of HiPPO-LegS with negative imaginary part (Re = -1/2)
//   kReal: -(n+1), imaginary part 0.
std::vector<std::complex<double>> S4dInitA(DiagInit init, int n_state);
// B: ones for Lin/Inv/Real; for LegS V* B_legs with the imaginary part clipped to [-2, 2]
// (dplr.py, B_init == 'legs': the code leaves out the factor 1/2 the S4D paper's theory asks for).
std::vector<std::complex<double>> S4dInitB(DiagInit init, int n_state);

// C ~ CN(0, 1): real and imaginary parts each N(0, 1/2) (ssm.py init_ssm_dplr: torch.randn with a
// complex dtype), `count` values.
void InitC(int count, std::mt19937_64& rng, std::complex<float>* c);
// dt_raw[h] = DtInverse(exp(U[log dt_min, log dt_max])) for h < count.
void InitDtRaw(DtTransform t, double dt_min, double dt_max, int count, std::mt19937_64& rng,
               float* dt_raw);

// ---- HiPPO-LegS and its NPLR form (S4 paper eq. (2) and Theorem 1; hippo.py) ----
// Row-major N x N: A_nk = -sqrt(2n+1) sqrt(2k+1) (n > k), -(n+1) (n = k), 0 (n < k).
std::vector<double> HippoLegsA(int n_state);
std::vector<double> HippoLegsB(int n_state);  // sqrt(2n+1)
std::vector<double> HippoLegsP(int n_state);  // sqrt(n + 1/2), rank 1

// A = V diag(Lambda) V* - P P^T with V unitary; only the half with Im(Lambda) < 0 is kept, so
// with V_h the kept N x M columns: V Lambda V* = 2 Re(V_h diag(lambda) V_h*).
struct NplrInit {
  int n_state = 0;
  std::vector<std::complex<double>> lambda;  // [M], Re = -1/2, Im < 0, sorted by Im ascending
  std::vector<std::complex<double>> p;       // [M] = V_h* P
  std::vector<std::complex<double>> b;       // [M] = V_h* B (no clipping)
  std::vector<std::complex<double>> v;       // [N, M] row-major, the kept eigenvectors
};
// Computed in double by a Hermitian eigensolver on i*(A + P P^T + I/2), which is Hermitian
// because A + P P^T + I/2 is real skew-symmetric. Stable: the eigenvectors are orthonormal to
// ~1e-15 and the reconstruction error is ~1e-13 * ||A|| for N = 64 (ssm_init_test).
NplrInit HippoLegsNplr(int n_state);

}  // namespace lra::s4

#endif  // LRA_MODELS_S4_SSM_INIT_H_

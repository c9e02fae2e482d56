// The DPLR S4 kernel (rank 1, bilinear): the S4 paper's Algorithm 1 (Gu, Goel, Re, "Efficiently
// Modeling Long Sequences with Structured State Spaces", arXiv 2111.00396, Section 3.3), as the
// reference code runs it (state-spaces/s4 e757cef, src/models/sequence/kernels/ssm.py,
// SSMKernelDPLR.forward), with an explicit backward.
//
// Legend: the paper's symbols and their names here (per channel; n runs over the M stored modes,
// the conjugate modes n' enter through conj()).
//   Delta                      dt
//   Lambda                     lambda[n];  dt Lambda is dt_lambda_{re,im}[n]
//   P, Q (A = Lambda - P Q*)   p; the reference's Q is conj(P) on the left, so Q* v = P^T v
//   B, C~ (Algorithm 1 step 1) b, c (the trained C is C-tilde; models/s4/ssm_recurrent.h maps it)
//   omega in Omega_L           w_k = exp(-2 pi i k/L), k = 0..L/2 (the rfft half);
//                              one_minus_w = 1 - w, s = (1 + w)/2 (DplrFreqs)
//   (g(w) - Lambda_n)^-1,      cauchy[n] = 1/((1 - w) - s dt Lambda_n)
//     g(w) = (2/Delta)(1-w)/(1+w)          = (g(w) - Lambda_n)^-1 / (dt s);
//                              cauchy_conj[n] the same with conj(Lambda_n)
//   k_ab(w) (step 2)           kab = k_ab(w)/s
//                                  = dt sum_n [v_ab,n cauchy_n + conj(v_ab,n) cauchy_conj_n]:
//                              the step-3 factor 2/(1+w) = 1/s folded in (the reference's r_ab)
//   numerators of k_ab         v00 = C~ B, v01 = C~ P, v10 = conj(P) B, v11 = |P|^2
//   K^(w) (step 3)             khat = k00 - s k01 k10 / (1 + s k11)
//   K (step 5)                 k = irfft(khat, L)
//   adjoints                   adj_x: the holomorphic adjoint U_x of x (dF = Re(U_x dx))
//
// Forward (rewritten so that w = -1 is regular). In the full 2M-mode eigenbasis,
// A = Lambda - p p*, and for w on the unit circle the generating function of the length-L kernel is (truncation by
// C-tilde, Algorithm 1 step 1)
//   khat(w) = C~^T (I - w dA)^-1 dB = (2/(1+w)) C~^T (z - dt A)^-1 dt B,  z = 2(1-w)/(1+w).
// Moving 2/(1+w) = 1/s into each Cauchy denominator and applying Woodbury to the rank-1 term
// dt p p* gives khat = k00 - s k01 k10 / (1 + s k11) with the kab above.
//
// Backward. Let F = sum_l dK[l] K[l]. irfft uses only Re of khat_0 and khat_{L/2}, and counts
// every other bin twice, so F = sum_k Re(adj_khat_k khat_k) with
// adj_khat_k = (weight_k / L) conj(rfft(dK)_k), weight_k = 1 at k = 0 and k = L/2 (L even), 2
// otherwise. The gradient returned for a complex x is conj(adj_x) = dF/dRe x + i dF/dIm x.
//   khat holomorphic in kab:  adj_k00 = adj_khat, adj_k01 = -adj_khat s k10/den,
//                             adj_k10 = -adj_khat s k01/den, adj_k11 = adj_khat s^2 k01 k10/den^2,
//                             den = 1 + s k11  (adj_k10, adj_k11 summed over the Q copies of C)
//   kab = dt sum [v cauchy + conj(v) cauchy_conj]:
//                             adj_v += dt (adj_kab cauchy + conj(adj_kab cauchy_conj))
//   d cauchy / d(dt Lambda) = s cauchy^2:
//       adj_dt_lambda += dt (s cauchy^2 sum_ab adj_kab v
//                            + conj(s cauchy_conj^2 sum_ab adj_kab conj v))
//   dt explicit:              dF/ddt += Re(sum_ab adj_kab kab) / dt;
//                             via dt Lambda: dF/ddt += Re(adj_dt_lambda Lambda)
//   adj_Lambda = dt adj_dt_lambda;  Lambda = -f(re) - i im:  dF/dre = -f' Re adj_Lambda,
//                                                            dF/dim = Im adj_Lambda
//   v00 = C~ B, v01 = C~ P:   adj_C~ = adj_v00 B + adj_v01 P,
//                             adj_B += adj_v00 C~,  adj_P += adj_v01 C~
//   v10 = conj(P) B:          adj_B += adj_v10 conj(P),  adj_P += conj(adj_v10 B)
//   v11 = conj(P) P:          adj_P += adj_v11 conj(P) + conj(adj_v11 P)
// The finite-difference test (ssm_kernel_test DplrKernel.*) checks every term.
#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "core/kernels/fft.h"
#include "models/s4/ssm_kernel.h"
#include "models/s4/ssm_kernel_internal.h"

namespace lra::s4 {
namespace {

constexpr double kTwoPi = 6.28318530717958647692;

// Frequencies k = 0..L/2: 1 - w and s = (1 + w)/2 for w = exp(-2 pi i k/L), from half-angle
// forms so that 1 - cos does not cancel for small k.
struct DplrFreqs {
  std::vector<double> one_minus_w_re, one_minus_w_im, s_re, s_im, weight;
};

DplrFreqs MakeFreqs(int l) {
  const int kf = l / 2 + 1;
  DplrFreqs f;
  for (auto* v : {&f.one_minus_w_re, &f.one_minus_w_im, &f.s_re, &f.s_im, &f.weight}) {
    v->resize(kf);
  }
  for (int k = 0; k < kf; ++k) {
    const double half = kTwoPi * 0.5 * k / l;  // theta/2
    const double sh = std::sin(half), ch = std::cos(half);
    f.one_minus_w_re[k] = 2 * sh * sh;  // 1 - cos theta
    f.one_minus_w_im[k] = 2 * sh * ch;  // +sin theta
    f.s_re[k] = ch * ch;                // (1 + cos theta)/2
    f.s_im[k] = -sh * ch;               // -sin(theta)/2
    f.weight[k] = (k == 0 || (l % 2 == 0 && k == l / 2)) ? 1.0 : 2.0;
  }
  return f;
}

// Real DFTs. Double: direct O(L^2) with an exact angle table. Float: core/kernels/fft.h, planned
// with FFTW_ESTIMATE (reproducible) for any alignment (the buffers are std::vectors).
void Irfft(const std::complex<double>* x, int l, double* out) {
  const int kf = l / 2 + 1;
  std::vector<cd> e(l);
  for (int j = 0; j < l; ++j) e[j] = std::polar(1.0, kTwoPi * j / l);
  for (int t = 0; t < l; ++t) {
    double acc = 0;
    for (int k = 0; k < kf; ++k) {
      const double wk = (k == 0 || (l % 2 == 0 && k == l / 2)) ? 1.0 : 2.0;
      acc += wk * (x[k] * e[(static_cast<int64_t>(k) * t) % l]).real();
    }
    out[t] = acc / l;
  }
}

void Rfft(const double* x, int l, std::complex<double>* out) {
  const int kf = l / 2 + 1;
  std::vector<cd> e(l);
  for (int j = 0; j < l; ++j) e[j] = std::polar(1.0, -kTwoPi * j / l);
  for (int k = 0; k < kf; ++k) {
    cd acc = 0;
    for (int t = 0; t < l; ++t) acc += x[t] * e[(static_cast<int64_t>(k) * t) % l];
    out[k] = acc;
  }
}

const kernels::RealFft& FloatFft(int l) {
  return kernels::RealFft::Get(l, kernels::FftRigor::kEstimate, kernels::FftAlignment::kAny);
}

void Irfft(std::complex<float>* x, int l, float* out) {  // destroys x
  FloatFft(l).Inverse(x, out);
  const float inv = 1.0f / l;
  for (int t = 0; t < l; ++t) out[t] *= inv;
}

void Rfft(const float* x, int l, std::complex<float>* out) { FloatFft(l).Forward(x, out); }

// sum_n v cauchy + conj(v) cauchy_conj
template <typename T>
inline std::complex<T> CauchyDot(int m, const T* v_re, const T* v_im, const T* c_re,
                                 const T* c_im, const T* cc_re, const T* cc_im) {
  T ar = 0, ai = 0;
#pragma omp simd reduction(+ : ar, ai)
  for (int n = 0; n < m; ++n) {
    ar += v_re[n] * c_re[n] - v_im[n] * c_im[n] + v_re[n] * cc_re[n] + v_im[n] * cc_im[n];
    ai += v_re[n] * c_im[n] + v_im[n] * c_re[n] + v_re[n] * cc_im[n] - v_im[n] * cc_re[n];
  }
  return {ar, ai};
}

// Per-thread state for one channel; T is the compute type (float fast path, double reference).
// Per-mode arrays are split into real and imaginary parts so the mode loops vectorize.
template <typename T>
struct DplrChannel {
  using C = std::complex<T>;
  int m = 0, q = 0;
  T dt = 0;
  std::vector<C> lambda;                        // [M] Lambda (not scaled by dt)
  std::vector<T> dt_lambda_re, dt_lambda_im;    // [M] dt Lambda
  std::vector<T> v00_re, v00_im, v01_re, v01_im;  // [Q, M]
  std::vector<T> v10_re, v10_im, v11_re, v11_im;  // [M]
  std::vector<T> cauchy_re, cauchy_im, cauchy_conj_re, cauchy_conj_im;  // [M] at one frequency
  // Backward only, [M] at one frequency: cauchy +- cauchy_conj, sum_ab adj_kab v_ab and
  // sum_ab adj_kab conj(v_ab).
  std::vector<T> cauchy_sum_re, cauchy_sum_im, cauchy_diff_re, cauchy_diff_im;
  std::vector<T> adj_times_v_re, adj_times_v_im, adj_times_conj_v_re, adj_times_conj_v_im;
  // Backward only, summed over frequencies: adjoints of v_ab ([M], v00/v01 [Q, M]) and dt Lambda.
  std::vector<T> adj_v10_re, adj_v10_im, adj_v11_re, adj_v11_im;
  std::vector<T> adj_v00_re, adj_v00_im, adj_v01_re, adj_v01_im;
  std::vector<T> adj_dt_lambda_re, adj_dt_lambda_im;

  void ZeroAdjoints() {
    for (auto* v : {&cauchy_sum_re, &cauchy_sum_im, &cauchy_diff_re, &cauchy_diff_im,
                    &adj_times_v_re, &adj_times_v_im, &adj_times_conj_v_re, &adj_times_conj_v_im,
                    &adj_v10_re, &adj_v10_im, &adj_v11_re, &adj_v11_im, &adj_dt_lambda_re,
                    &adj_dt_lambda_im}) {
      v->assign(m, T(0));
    }
    for (auto* v : {&adj_v00_re, &adj_v00_im, &adj_v01_re, &adj_v01_im}) {
      v->assign(static_cast<size_t>(q) * m, T(0));
    }
  }

  void Setup(const SsmDims& d, const SsmOptions& o, const SsmParams<T>& p, int h) {
    m = d.m, q = d.q;
    const int s = h % d.s;
    dt = static_cast<T>(DtValue(o.dt_transform, p.dt_raw[h]));
    lambda.resize(m);
    for (auto* v : {&dt_lambda_re, &dt_lambda_im, &v10_re, &v10_im, &v11_re, &v11_im, &cauchy_re,
                    &cauchy_im, &cauchy_conj_re, &cauchy_conj_im}) {
      v->resize(m);
    }
    for (auto* v : {&v00_re, &v00_im, &v01_re, &v01_im}) v->resize(static_cast<size_t>(q) * m);
    for (int n = 0; n < m; ++n) {
      const cd l = AFromRaw(o.real_transform, p.a_re_raw[s * m + n], p.a_im[s * m + n]);
      lambda[n] = C(static_cast<T>(l.real()), static_cast<T>(l.imag()));
      dt_lambda_re[n] = dt * lambda[n].real(), dt_lambda_im[n] = dt * lambda[n].imag();
      const C b = p.b[s * m + n], pp = p.p[s * m + n];
      const C v10 = std::conj(pp) * b;
      v10_re[n] = v10.real(), v10_im[n] = v10.imag();
      v11_re[n] = std::norm(pp), v11_im[n] = 0;
      for (int qq = 0; qq < q; ++qq) {
        const C c = p.c[(static_cast<size_t>(qq) * d.h + h) * m + n];
        const C v00 = c * b, v01 = c * pp;
        v00_re[qq * m + n] = v00.real(), v00_im[qq * m + n] = v00.imag();
        v01_re[qq * m + n] = v01.real(), v01_im[qq * m + n] = v01.imag();
      }
    }
  }

  // cauchy_n = 1/((1 - w) - s dt lambda_n), cauchy_conj_n = 1/((1 - w) - s dt conj(lambda_n)).
  void Cauchy(T omw_re, T omw_im, T s_re, T s_im) {
#pragma omp simd
    for (int n = 0; n < m; ++n) {
      const T lr = dt_lambda_re[n], li = dt_lambda_im[n];
      const T er = omw_re - (s_re * lr - s_im * li), ei = omw_im - (s_re * li + s_im * lr);
      const T fr = omw_re - (s_re * lr + s_im * li), fi = omw_im - (s_im * lr - s_re * li);
      const T e2 = 1 / (er * er + ei * ei), f2 = 1 / (fr * fr + fi * fi);
      cauchy_re[n] = er * e2, cauchy_im[n] = -ei * e2;
      cauchy_conj_re[n] = fr * f2, cauchy_conj_im[n] = -fi * f2;
    }
  }
  // kab / dt for numerators v (one of v00..v11).
  C Dot(const T* v_re, const T* v_im) const {
    return CauchyDot<T>(m, v_re, v_im, cauchy_re.data(), cauchy_im.data(), cauchy_conj_re.data(),
                        cauchy_conj_im.data());
  }
  // Cauchy at frequency kk of f; returns s.
  C CauchyAt(const DplrFreqs& f, int kk) {
    const C s(static_cast<T>(f.s_re[kk]), static_cast<T>(f.s_im[kk]));
    Cauchy(static_cast<T>(f.one_minus_w_re[kk]), static_cast<T>(f.one_minus_w_im[kk]), s.real(),
           s.imag());
    return s;
  }
};

template <typename T>
void DplrForwardImpl(const SsmDims& d, const SsmOptions& o, const SsmParams<T>& p, T* k) {
  using C = std::complex<T>;
  CheckDims(d);
  const int kf = d.l / 2 + 1;
  const DplrFreqs f = MakeFreqs(d.l);
#pragma omp parallel
  {
    ScopedFlushDenormals ftz;
    DplrChannel<T> ch;
    std::vector<C> khat(static_cast<size_t>(d.q) * kf);
#pragma omp for schedule(static)
    for (int h = 0; h < d.h; ++h) {
      ch.Setup(d, o, p, h);
      const int m = d.m;
      for (int kk = 0; kk < kf; ++kk) {
        const C s = ch.CauchyAt(f, kk);
        const C k10 = ch.dt * ch.Dot(ch.v10_re.data(), ch.v10_im.data());
        const C k11 = ch.dt * ch.Dot(ch.v11_re.data(), ch.v11_im.data());
        const C factor = s * k10 / (T(1) + s * k11);
        for (int qq = 0; qq < d.q; ++qq) {
          const C k00 = ch.dt * ch.Dot(ch.v00_re.data() + qq * m, ch.v00_im.data() + qq * m);
          const C k01 = ch.dt * ch.Dot(ch.v01_re.data() + qq * m, ch.v01_im.data() + qq * m);
          khat[static_cast<size_t>(qq) * kf + kk] = k00 - k01 * factor;
        }
      }
      for (int qq = 0; qq < d.q; ++qq) {
        Irfft(khat.data() + static_cast<size_t>(qq) * kf, d.l,
              k + (static_cast<size_t>(qq) * d.h + h) * d.l);
      }
    }
  }
}

// ---- Backward, in the order it runs per channel ----

// Step 1: adj_khat[q][k] = (weight_k / L) conj(rfft(dK[q, h])_k).
template <typename T>
void KhatAdjoint(const SsmDims& d, const DplrFreqs& f, const T* dk, int h,
                 std::complex<T>* adj_khat) {
  const int kf = d.l / 2 + 1;
  for (int qq = 0; qq < d.q; ++qq) {
    std::complex<T>* a = adj_khat + static_cast<size_t>(qq) * kf;
    Rfft(dk + (static_cast<size_t>(qq) * d.h + h) * d.l, d.l, a);
    for (int kk = 0; kk < kf; ++kk) a[kk] = static_cast<T>(f.weight[kk] / d.l) * std::conj(a[kk]);
  }
}

// The adjoints of k00..k11 at one frequency.
template <typename T>
struct WoodburyAdjoint {
  std::vector<std::complex<T>> adj_k00, adj_k01;  // [Q]
  std::complex<T> adj_k10, adj_k11;               // summed over Q
};

// Step 2, per frequency: the kab at this w (ch.Cauchy already run), then the adjoints of khat's
// Woodbury form with respect to them. Returns this frequency's explicit dF/ddt,
// Re(sum_ab adj_kab kab) / dt.
template <typename T>
double WoodburyBackward(const DplrChannel<T>& ch, std::complex<T> s,
                        const std::complex<T>* adj_khat_at_k, size_t q_stride,
                        WoodburyAdjoint<T>* a) {
  using C = std::complex<T>;
  const int m = ch.m;
  const T dt = ch.dt;
  const C k10 = dt * ch.Dot(ch.v10_re.data(), ch.v10_im.data());
  const C k11 = dt * ch.Dot(ch.v11_re.data(), ch.v11_im.data());
  const C den = T(1) + s * k11;
  C adj_k10 = 0, adj_k11 = 0;
  double direct = 0;  // sum_ab Re(adj_kab kab)
  for (int qq = 0; qq < ch.q; ++qq) {
    const C k00 = dt * ch.Dot(ch.v00_re.data() + qq * m, ch.v00_im.data() + qq * m);
    const C k01 = dt * ch.Dot(ch.v01_re.data() + qq * m, ch.v01_im.data() + qq * m);
    const C adj_khat = adj_khat_at_k[qq * q_stride];
    a->adj_k00[qq] = adj_khat;
    a->adj_k01[qq] = -adj_khat * s * k10 / den;
    adj_k10 += -adj_khat * s * k01 / den;
    adj_k11 += adj_khat * s * s * k01 * k10 / (den * den);
    direct += (a->adj_k00[qq] * k00).real() + (a->adj_k01[qq] * k01).real();
  }
  direct += (adj_k10 * k10).real() + (adj_k11 * k11).real();
  a->adj_k10 = adj_k10, a->adj_k11 = adj_k11;
  return direct / dt;
}

// Step 3, per frequency: adj_v += dt (adj_kab cauchy + conj(adj_kab cauchy_conj)) for every
// numerator, and the sums adj_times_v = sum_ab adj_kab v_ab, adj_times_conj_v =
// sum_ab adj_kab conj(v_ab) that step 4 needs. In real arithmetic, with cs = cauchy_sum and
// cd = cauchy_diff: dt (ar cs_re - ai cs_im, ar cd_im + ai cd_re) for adj_kab = ar + i ai.
template <typename T>
void NumeratorAdjoints(const WoodburyAdjoint<T>& a, DplrChannel<T>* ch) {
  const int m = ch->m;
  const T dt = ch->dt;
  T* cs_re = ch->cauchy_sum_re.data();
  T* cs_im = ch->cauchy_sum_im.data();
  T* cd_re = ch->cauchy_diff_re.data();
  T* cd_im = ch->cauchy_diff_im.data();
  T* av_re = ch->adj_times_v_re.data();
  T* av_im = ch->adj_times_v_im.data();
  T* acv_re = ch->adj_times_conj_v_re.data();
  T* acv_im = ch->adj_times_conj_v_im.data();
  {
    const T* c_re = ch->cauchy_re.data();
    const T* c_im = ch->cauchy_im.data();
    const T* cc_re = ch->cauchy_conj_re.data();
    const T* cc_im = ch->cauchy_conj_im.data();
    const T a10r = a.adj_k10.real(), a10i = a.adj_k10.imag();
    const T a11r = a.adj_k11.real(), a11i = a.adj_k11.imag();
    const T dt_a10r = a10r * dt, dt_a10i = a10i * dt;
    const T dt_a11r = a11r * dt, dt_a11i = a11i * dt;
    const T* v10r = ch->v10_re.data();
    const T* v10i = ch->v10_im.data();
    const T* v11r = ch->v11_re.data();
    const T* v11i = ch->v11_im.data();
    T* g10r = ch->adj_v10_re.data();
    T* g10i = ch->adj_v10_im.data();
    T* g11r = ch->adj_v11_re.data();
    T* g11i = ch->adj_v11_im.data();
#pragma omp simd
    for (int n = 0; n < m; ++n) {
      cs_re[n] = c_re[n] + cc_re[n], cs_im[n] = c_im[n] + cc_im[n];
      cd_re[n] = c_re[n] - cc_re[n], cd_im[n] = c_im[n] - cc_im[n];
      g10r[n] += dt_a10r * cs_re[n] - dt_a10i * cs_im[n];
      g10i[n] += dt_a10r * cd_im[n] + dt_a10i * cd_re[n];
      g11r[n] += dt_a11r * cs_re[n] - dt_a11i * cs_im[n];
      g11i[n] += dt_a11r * cd_im[n] + dt_a11i * cd_re[n];
      av_re[n] = a10r * v10r[n] - a10i * v10i[n] + a11r * v11r[n] - a11i * v11i[n];
      av_im[n] = a10r * v10i[n] + a10i * v10r[n] + a11r * v11i[n] + a11i * v11r[n];
      acv_re[n] = a10r * v10r[n] + a10i * v10i[n] + a11r * v11r[n] + a11i * v11i[n];
      acv_im[n] = -a10r * v10i[n] + a10i * v10r[n] - a11r * v11i[n] + a11i * v11r[n];
    }
  }
  for (int qq = 0; qq < ch->q; ++qq) {
    const T a0r = a.adj_k00[qq].real(), a0i = a.adj_k00[qq].imag();
    const T a1r = a.adj_k01[qq].real(), a1i = a.adj_k01[qq].imag();
    const T* v00r = ch->v00_re.data() + qq * m;
    const T* v00i = ch->v00_im.data() + qq * m;
    const T* v01r = ch->v01_re.data() + qq * m;
    const T* v01i = ch->v01_im.data() + qq * m;
    T* g00r = ch->adj_v00_re.data() + qq * m;
    T* g00i = ch->adj_v00_im.data() + qq * m;
    T* g01r = ch->adj_v01_re.data() + qq * m;
    T* g01i = ch->adj_v01_im.data() + qq * m;
#pragma omp simd
    for (int n = 0; n < m; ++n) {
      g00r[n] += dt * (a0r * cs_re[n] - a0i * cs_im[n]);
      g00i[n] += dt * (a0r * cd_im[n] + a0i * cd_re[n]);
      g01r[n] += dt * (a1r * cs_re[n] - a1i * cs_im[n]);
      g01i[n] += dt * (a1r * cd_im[n] + a1i * cd_re[n]);
      av_re[n] += a0r * v00r[n] - a0i * v00i[n] + a1r * v01r[n] - a1i * v01i[n];
      av_im[n] += a0r * v00i[n] + a0i * v00r[n] + a1r * v01i[n] + a1i * v01r[n];
      acv_re[n] += a0r * v00r[n] + a0i * v00i[n] + a1r * v01r[n] + a1i * v01i[n];
      acv_im[n] += -a0r * v00i[n] + a0i * v00r[n] - a1r * v01i[n] + a1i * v01r[n];
    }
  }
}

// Step 4, per frequency: adj_dt_lambda += dt (s cauchy^2 adj_times_v
//                                            + conj(s cauchy_conj^2 adj_times_conj_v)).
template <typename T>
void DtLambdaAdjoint(std::complex<T> s, DplrChannel<T>* ch) {
  const int m = ch->m;
  const T dt = ch->dt;
  const T sr = s.real(), si = s.imag();
  const T* c_re = ch->cauchy_re.data();
  const T* c_im = ch->cauchy_im.data();
  const T* cc_re = ch->cauchy_conj_re.data();
  const T* cc_im = ch->cauchy_conj_im.data();
  const T* av_re = ch->adj_times_v_re.data();
  const T* av_im = ch->adj_times_v_im.data();
  const T* acv_re = ch->adj_times_conj_v_re.data();
  const T* acv_im = ch->adj_times_conj_v_im.data();
  T* lr = ch->adj_dt_lambda_re.data();
  T* li = ch->adj_dt_lambda_im.data();
#pragma omp simd
  for (int n = 0; n < m; ++n) {
    const T q1r = c_re[n] * c_re[n] - c_im[n] * c_im[n], q1i = 2 * c_re[n] * c_im[n];
    const T w1r = sr * q1r - si * q1i, w1i = sr * q1i + si * q1r;
    const T q2r = cc_re[n] * cc_re[n] - cc_im[n] * cc_im[n], q2i = 2 * cc_re[n] * cc_im[n];
    const T w2r = sr * q2r - si * q2i, w2i = sr * q2i + si * q2r;
    const T t1r = w1r * av_re[n] - w1i * av_im[n], t1i = w1r * av_im[n] + w1i * av_re[n];
    const T t2r = w2r * acv_re[n] - w2i * acv_im[n], t2i = w2r * acv_im[n] + w2i * acv_re[n];
    lr[n] += dt * (t1r + t2r);
    li[n] += dt * (t1i - t2i);
  }
}

// Per-channel (unreduced) gradients of the shared (Lambda, B, P) copies, in double.
struct DplrSharedGrads {
  std::vector<double> lambda_re, lambda_im;  // [H, M]
  std::vector<cd> b, p;                      // [H, M]
};

// Step 5, once per channel: maps the adjoints of (v, dt Lambda) to the raw parameters. C is
// written to g.c directly (one channel owns it); (Lambda, B, P) go to `shared` row h; the
// contribution of dt Lambda to dF/ddt is added to *gdt mode by mode.
template <typename T>
void ParameterGrads(const SsmDims& d, const SsmOptions& o, const SsmParams<T>& p,
                    const SsmGrads<T>& g, const DplrChannel<T>& ch, int h, double* gdt,
                    DplrSharedGrads* shared) {
  using C = std::complex<T>;
  const int m = d.m, s_idx = h % d.s;
  for (int n = 0; n < m; ++n) {
    const cd lam(ch.lambda[n]);
    const cd adj_dt_lambda(ch.adj_dt_lambda_re[n], ch.adj_dt_lambda_im[n]);
    *gdt += (adj_dt_lambda * lam).real();
    const cd adj_lambda = static_cast<double>(ch.dt) * adj_dt_lambda;
    const double fp = RealTransformDeriv(o.real_transform, p.a_re_raw[s_idx * m + n]);
    const size_t i = static_cast<size_t>(h) * m + n;
    shared->lambda_re[i] = -fp * adj_lambda.real();
    shared->lambda_im[i] = adj_lambda.imag();
    const cd b(p.b[s_idx * m + n]), pp(p.p[s_idx * m + n]);
    const cd adj_v10(ch.adj_v10_re[n], ch.adj_v10_im[n]);
    const cd adj_v11(ch.adj_v11_re[n], ch.adj_v11_im[n]);
    cd adj_b = adj_v10 * std::conj(pp);
    cd adj_p = std::conj(adj_v10 * b) + adj_v11 * std::conj(pp) + std::conj(adj_v11 * pp);
    for (int qq = 0; qq < d.q; ++qq) {
      const size_t ci = (static_cast<size_t>(qq) * d.h + h) * m + n;
      const cd c(p.c[ci]);
      const size_t qi = static_cast<size_t>(qq) * m + n;
      const cd adj_v00(ch.adj_v00_re[qi], ch.adj_v00_im[qi]);
      const cd adj_v01(ch.adj_v01_re[qi], ch.adj_v01_im[qi]);
      adj_b += adj_v00 * c;
      adj_p += adj_v01 * c;
      if (g.c) {
        const cd gc = std::conj(adj_v00 * b + adj_v01 * pp);
        g.c[ci] += C(static_cast<T>(gc.real()), static_cast<T>(gc.imag()));
      }
    }
    shared->b[i] = std::conj(adj_b);
    shared->p[i] = std::conj(adj_p);
  }
}

template <typename T>
void DplrBackwardImpl(const SsmDims& d, const SsmOptions& o, const SsmParams<T>& p, const T* dk,
                      const SsmGrads<T>& g) {
  using C = std::complex<T>;
  CheckDims(d);
  const int kf = d.l / 2 + 1;
  const DplrFreqs f = MakeFreqs(d.l);
  const size_t hm = static_cast<size_t>(d.h) * d.m;
  DplrSharedGrads shared{std::vector<double>(hm), std::vector<double>(hm), std::vector<cd>(hm),
                         std::vector<cd>(hm)};
#pragma omp parallel
  {
    ScopedFlushDenormals ftz;
    DplrChannel<T> ch;
    std::vector<C> adj_khat(static_cast<size_t>(d.q) * kf);  // [Q, L/2 + 1]
    WoodburyAdjoint<T> woodbury{std::vector<C>(d.q), std::vector<C>(d.q), C(0), C(0)};
#pragma omp for schedule(static)
    for (int h = 0; h < d.h; ++h) {
      ch.Setup(d, o, p, h);
      KhatAdjoint(d, f, dk, h, adj_khat.data());
      ch.ZeroAdjoints();
      double gdt = 0;
      for (int kk = 0; kk < kf; ++kk) {
        const C s = ch.CauchyAt(f, kk);
        gdt += WoodburyBackward(ch, s, adj_khat.data() + kk, kf, &woodbury);
        NumeratorAdjoints(woodbury, &ch);
        DtLambdaAdjoint(s, &ch);
      }
      ParameterGrads(d, o, p, g, ch, h, &gdt, &shared);
      if (g.dt_raw) g.dt_raw[h] += static_cast<T>(gdt * DtDeriv(o.dt_transform, p.dt_raw[h]));
    }
  }
  ReduceShared(d, shared.lambda_re, shared.lambda_im, shared.b, g);
  if (g.p) {
    for (int h = 0; h < d.h; ++h) {
      for (int n = 0; n < d.m; ++n) {
        const cd v = shared.p[static_cast<size_t>(h) * d.m + n];
        g.p[(h % d.s) * d.m + n] += C(static_cast<T>(v.real()), static_cast<T>(v.imag()));
      }
    }
  }
}

}  // namespace

void DplrKernelForward(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p,
                       float* k) {
  DplrForwardImpl<float>(d, o, p, k);
}
void DplrKernelBackward(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p,
                        const float* dk, const SsmGrads<float>& g) {
  DplrBackwardImpl<float>(d, o, p, dk, g);
}
void DplrKernelReference(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                         double* k) {
  DplrForwardImpl<double>(d, o, p, k);
}
void DplrKernelBackwardReference(const SsmDims& d, const SsmOptions& o,
                                 const SsmParams<double>& p, const double* dk,
                                 const SsmGrads<double>& g) {
  DplrBackwardImpl<double>(d, o, p, dk, g);
}

}  // namespace lra::s4

#include "models/s4/ssm_kernel.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <mutex>
#include <vector>

#include <fftw3.h>

#include "absl/base/internal/raw_logging.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace lra::s4 {
namespace {

using cd = std::complex<double>;
using cf = std::complex<float>;

// Sets flush-to-zero and denormals-are-zero on this thread for its lifetime. Decaying modes
// (|z|^l -> 0) otherwise walk through float denormals, which cost ~100 cycles per operation on
// x86; values below 1e-38 are far below the 6e-8 relative accuracy of the result anyway.
class ScopedFlushDenormals {
 public:
#if defined(__SSE__)
  ScopedFlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
  ~ScopedFlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

void CheckDims(const SsmDims& d) {
  ABSL_RAW_CHECK(d.q >= 1 && d.h >= 1 && d.m >= 1 && d.l >= 1 && d.s >= 1,
                 "SsmDims: every size must be positive");
  ABSL_RAW_CHECK(d.h % d.s == 0, "SsmDims: H must be a multiple of n_ssm (S)");
}

// Per (channel, mode) discretization in double, with the derivatives the backward needs.
// Ct = C B E and z = exp(logz); E and logz depend on (dt, A) holomorphically in A.
struct ModeCoefs {
  cd a, logz, z, e;  // z = exp(logz), computed directly (no second exp)
  cd de_da, de_ddt, dlogz_da, dlogz_ddt;
};

ModeCoefs S4dMode(Discretization disc, double dt, cd a) {
  ModeCoefs m;
  m.a = a;
  const cd x = dt * a;
  if (disc == Discretization::kZoh) {
    // E = (e^x - 1)/A = dt * phi1(x), phi1(x) = (e^x - 1)/x. Below |x| = 1e-4 the difference
    // e^x - 1 would lose |log10 x| digits, so use the series (truncation error < x^4/120).
    const cd ex = std::exp(x);
    m.logz = x;
    m.z = ex;
    if (std::abs(x) < 1e-4) {
      const cd phi1 = 1.0 + x * (0.5 + x * (1.0 / 6 + x / 24.0));
      const cd dphi1 = 0.5 + x * (1.0 / 3 + x * (1.0 / 8 + x / 30.0));
      m.e = dt * phi1;
      m.de_da = dt * dt * dphi1;
    } else {
      m.e = (ex - 1.0) / a;
      m.de_da = (dt * ex - m.e) / a;
    }
    m.de_ddt = ex;
    m.dlogz_da = dt;
    m.dlogz_ddt = a;
  } else {
    const cd den = 1.0 - 0.5 * x;
    const cd num = 1.0 + 0.5 * x;
    m.z = num / den;
    m.logz = std::log(m.z);
    m.e = dt / den;
    m.de_ddt = 1.0 / den + dt * (0.5 * a) / (den * den);
    m.de_da = dt * (0.5 * dt) / (den * den);
    const cd dlogz_dx = 1.0 / (num * den);
    m.dlogz_da = dt * dlogz_dx;
    m.dlogz_ddt = a * dlogz_dx;
  }
  return m;
}

// Chain rule from the two per-mode sums to the raw parameters, shared by the fast path and the
// reference (the finite-difference test checks it through the reference).
//
// Derivation. With dK given, F = sum_l dK[l] K[l] = 2 Re(Phi), where
//   Phi = sum_{q,n} Ct[q,n] sum_l dK[q,l] z_n^l
// is holomorphic in (Ct, logz). For a complex variable w on which Phi depends holomorphically,
// dF/dRe w + i dF/dIm w = 2 conj(dPhi/dw); for a real variable r, dF/dr = 2 Re(dPhi/dr). With
//   G0[q] = sum_l dK[q,l] z^l,  G1[q] = sum_l l dK[q,l] z^l:
//   dPhi/dCt[q] = G0[q],  dPhi/dlogz = sum_q Ct[q] G1[q]          (z^l = exp(l logz))
//   Ct[q] = C[q] B E:  dPhi/dC[q] = G0[q] B E,  dPhi/dB = sum_q G0[q] C[q] E,
//                      dPhi/dE = W = sum_q G0[q] C[q] B
//   dPhi/dA  = W dE/dA  + V dlogz/dA,   V = dPhi/dlogz
//   dPhi/ddt = W dE/ddt + V dlogz/ddt   (dt real)
//   A = -f(a_re_raw) - i a_im:  dF/da_re_raw = -f' 2 Re(dPhi/dA),  dF/da_im = 2 Im(dPhi/dA).
// Inputs: g0, g1, c: [Q]. Outputs: the per-channel (unreduced) A and B gradients, gc [Q]
// (overwritten), and the return value: this mode's contribution to dF/ddt.
double S4dChain(const ModeCoefs& mc, const cd* g0, const cd* g1, const cd* c, int q_count, cd b,
                double f_prime, double* ga_re, double* ga_im, cd* gb, cd* gc) {
  cd w = 0, v = 0, db = 0;
  for (int q = 0; q < q_count; ++q) {
    w += g0[q] * c[q] * b;
    v += c[q] * b * mc.e * g1[q];
    db += g0[q] * c[q] * mc.e;
    gc[q] = 2.0 * std::conj(g0[q] * b * mc.e);
  }
  *gb = 2.0 * std::conj(db);
  const cd dphi_da = w * mc.de_da + v * mc.dlogz_da;
  const cd dphi_ddt = w * mc.de_ddt + v * mc.dlogz_ddt;
  *ga_re = -f_prime * 2.0 * dphi_da.real();
  *ga_im = 2.0 * dphi_da.imag();
  return 2.0 * dphi_ddt.real();
}

// Per-channel scratch for the (A, B) gradients, summed over the channels that share a copy in
// channel order, so the result does not depend on the thread count.
template <typename T>
void ReduceShared(const SsmDims& d, const std::vector<double>& ga_re,
                  const std::vector<double>& ga_im, const std::vector<cd>& gb,
                  const SsmGrads<T>& g) {
  for (int h = 0; h < d.h; ++h) {
    const int s = h % d.s;
    for (int n = 0; n < d.m; ++n) {
      const size_t i = static_cast<size_t>(h) * d.m + n, o = static_cast<size_t>(s) * d.m + n;
      if (g.a_re_raw) g.a_re_raw[o] += static_cast<T>(ga_re[i]);
      if (g.a_im) g.a_im[o] += static_cast<T>(ga_im[i]);
      if (g.b) g.b[o] += std::complex<T>(static_cast<T>(gb[i].real()), static_cast<T>(gb[i].imag()));
    }
  }
}

// ---- fast path tables ----
//
// Accuracy analysis of the blocked powers z^(bJ + j) = Z[b] * zj[j] (0 <= j < J, b < L/J):
// * zj[j] = z^j by repeated multiplication in double: relative error <= ~3 j u_d (u_d = 1.1e-16)
//   per step, so <= 2e-14 for J <= 256. Z[b] = (z^J)^b with z^J = exp(J logz), also repeated
//   multiplication in double: <= 3 b u_d + the phase error of exp(J logz) amplified b times,
//   |Im(L logz)| u_d <= 1e-11 even for |Im logz| L = 1e5 rad. Both are far below float eps.
// * Rounding to float: w = Ct Z[b] and zj each get relative error u_f (6e-8), then the
//   2M-term float sum of products adds <= 2M u_f sum_n |Ct_n| |z_n|^l (worst case; sqrt(2M)
//   typically). So |K_fast[l] - K[l]| <= c M u_f * 2 sum_n |Ct_n| |z_n|^l, no growth with L.
// * By contrast, stepping p_l = p_{l-1} z in float drifts by ~l u_f (1e-4 relative at
//   l = 4096 in the worst case), and exp(l dtA) in float rounds the phase l Im(dtA): with
//   S4D-Inv, Im(A) ~ 1300, dt = 1e-3, l = 4096 the phase is ~5000 rad and its rounding costs
//   ~3e-4 relative. The double tables avoid both, at M (J + L/J) double complex products per
//   channel (4096 for M = 32, L = 4096), which is ~2% of the float sum's work.
// Table entries below 1e-30 in magnitude are set to 0 so decayed blocks are skipped.
//
// Cost: the tables are built with the modes as the inner (SIMD) loop, so the M power chains
// run side by side instead of one 8-cycle-latency chain after another; with one complex exp per
// mode (in S4dMode) they cost ~2% of the float sum for H = 128, M = 32, L = 4096.
constexpr float kTiny = 1e-30f;

inline float Flush(double x) {
  const float f = static_cast<float>(x);
  return std::abs(f) < kTiny ? 0.f : f;
}

struct S4dScratch {
  std::vector<ModeCoefs> modes;  // [M]
  std::vector<float> zr, zi;     // [M, J]: zj[n][j] = z_n^j (forward: SIMD over j)
  std::vector<float> zrt, zit;   // [J, M]: the same, transposed (backward: SIMD over n)
  std::vector<double> zbr, zbi;  // [nb, M]: Z[b][n] = z_n^(bJ)
  std::vector<double> pr, pi, mr, mi;  // [M]: running power, multiplier
  std::vector<double> ctr, cti;  // [Q, M]: Ct
  std::vector<float> wr, wi;     // [M]: Ct * Z[b] for one q
  std::vector<float> acc;        // [J]
  std::vector<float> s0r, s0i, s1r, s1i;  // [M] block sums (backward)
  std::vector<double> g0r, g0i, g1r, g1i;  // [Q, M]
  std::vector<cd> g0, g1;        // [Q] for one mode
  std::vector<cd> cq, gcq;       // [Q]
};

void BuildTables(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p, int h, int jb,
                 int nb, S4dScratch* t) {
  const int m = d.m, s = h % d.s;
  const double dt = DtValue(o.dt_transform, p.dt_raw[h]);
  t->modes.resize(m);
  t->zr.resize(static_cast<size_t>(m) * jb);
  t->zi.resize(static_cast<size_t>(m) * jb);
  t->zrt.resize(static_cast<size_t>(m) * jb);
  t->zit.resize(static_cast<size_t>(m) * jb);
  t->zbr.resize(static_cast<size_t>(nb) * m);
  t->zbi.resize(static_cast<size_t>(nb) * m);
  for (auto* v : {&t->pr, &t->pi, &t->mr, &t->mi}) v->resize(m);
  for (int n = 0; n < m; ++n) {
    const cd a = AFromRaw(o.real_transform, p.a_re_raw[s * m + n], p.a_im[s * m + n]);
    t->modes[n] = S4dMode(o.disc, dt, a);
    t->pr[n] = 1.0, t->pi[n] = 0.0;
    t->mr[n] = t->modes[n].z.real(), t->mi[n] = t->modes[n].z.imag();
  }
  double* pr = t->pr.data();
  double* pi = t->pi.data();
  double* mr = t->mr.data();
  double* mi = t->mi.data();
  float* zr = t->zr.data();
  float* zi = t->zi.data();
  for (int j = 0; j < jb; ++j) {
    float* zrt = t->zrt.data() + static_cast<size_t>(j) * m;
    float* zit = t->zit.data() + static_cast<size_t>(j) * m;
#pragma omp simd
    for (int n = 0; n < m; ++n) {
      zrt[n] = Flush(pr[n]);
      zit[n] = Flush(pi[n]);
      zr[static_cast<size_t>(n) * jb + j] = zrt[n];
      zi[static_cast<size_t>(n) * jb + j] = zit[n];
      const double r = pr[n] * mr[n] - pi[n] * mi[n];
      pi[n] = pr[n] * mi[n] + pi[n] * mr[n];
      pr[n] = r;
    }
  }
  // Now p = z^J: it becomes the multiplier for the block table.
  for (int n = 0; n < m; ++n) {
    mr[n] = pr[n], mi[n] = pi[n];
    pr[n] = 1.0, pi[n] = 0.0;
  }
  for (int b = 0; b < nb; ++b) {
    double* br = t->zbr.data() + static_cast<size_t>(b) * m;
    double* bi = t->zbi.data() + static_cast<size_t>(b) * m;
#pragma omp simd
    for (int n = 0; n < m; ++n) {
      const bool tiny = std::abs(pr[n]) < kTiny && std::abs(pi[n]) < kTiny;
      br[n] = tiny ? 0.0 : pr[n];
      bi[n] = tiny ? 0.0 : pi[n];
      const double r = pr[n] * mr[n] - pi[n] * mi[n];
      pi[n] = pr[n] * mi[n] + pi[n] * mr[n];
      pr[n] = r;
    }
  }
}

}  // namespace

void S4dDiscretizeMode(Discretization disc, double dt, std::complex<double> a,
                       std::complex<double>* z, std::complex<double>* e) {
  const ModeCoefs mc = S4dMode(disc, dt, a);
  *z = mc.z;
  *e = mc.e;
}

int S4dBlockSize(int l) {
  // J ~ sqrt(L) minimizes the table size M (J + L/J); a multiple of 16 keeps the float inner
  // loops whole SIMD vectors. 16 <= J <= 256.
  int j = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(l)) / 16.0)) * 16;
  return std::clamp(j, 16, 256);
}

void S4dKernelForward(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p, float* k) {
  CheckDims(d);
  const int jb = S4dBlockSize(d.l), nb = (d.l + jb - 1) / jb, m = d.m;
#pragma omp parallel
  {
    ScopedFlushDenormals ftz;
    S4dScratch t;
    t.acc.resize(jb);
    t.wr.resize(m);
    t.wi.resize(m);
    t.ctr.resize(static_cast<size_t>(d.q) * m);
    t.cti.resize(static_cast<size_t>(d.q) * m);
#pragma omp for schedule(static)
    for (int h = 0; h < d.h; ++h) {
      BuildTables(d, o, p, h, jb, nb, &t);
      const int s = h % d.s;
      for (int q = 0; q < d.q; ++q) {
        for (int n = 0; n < m; ++n) {
          const cd c(p.c[(static_cast<size_t>(q) * d.h + h) * m + n]);
          const cd ct = c * cd(p.b[s * m + n]) * t.modes[n].e;
          t.ctr[q * m + n] = ct.real();
          t.cti[q * m + n] = ct.imag();
        }
      }
      for (int q = 0; q < d.q; ++q) {
        const double* ctr = t.ctr.data() + q * m;
        const double* cti = t.cti.data() + q * m;
        float* wr = t.wr.data();
        float* wi = t.wi.data();
        for (int bi = 0; bi < nb; ++bi) {
          const int len = std::min(jb, d.l - bi * jb);
          float* out = k + (static_cast<size_t>(q) * d.h + h) * d.l + static_cast<size_t>(bi) * jb;
          const double* br = t.zbr.data() + static_cast<size_t>(bi) * m;
          const double* bim = t.zbi.data() + static_cast<size_t>(bi) * m;
#pragma omp simd
          for (int n = 0; n < m; ++n) {
            wr[n] = Flush(ctr[n] * br[n] - cti[n] * bim[n]);
            wi[n] = Flush(ctr[n] * bim[n] + cti[n] * br[n]);
          }
          float* acc = t.acc.data();
          std::fill(acc, acc + jb, 0.f);
          for (int n = 0; n < m; ++n) {
            const float a = wr[n], b = wi[n];
            if (a == 0.f && b == 0.f) continue;  // decayed below 1e-30
            const float* zr = t.zr.data() + static_cast<size_t>(n) * jb;
            const float* zi = t.zi.data() + static_cast<size_t>(n) * jb;
#pragma omp simd
            for (int j = 0; j < jb; ++j) acc[j] += a * zr[j] - b * zi[j];
          }
          for (int j = 0; j < len; ++j) out[j] = 2.f * acc[j];
        }
      }
    }
  }
}

void S4dKernelBackward(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p,
                       const float* dk, const SsmGrads<float>& g) {
  CheckDims(d);
  const int jb = S4dBlockSize(d.l), nb = (d.l + jb - 1) / jb, m = d.m;
  std::vector<double> ga_re(static_cast<size_t>(d.h) * m), ga_im(ga_re.size());
  std::vector<cd> gb(ga_re.size());
#pragma omp parallel
  {
    ScopedFlushDenormals ftz;
    S4dScratch t;
    for (auto* v : {&t.s0r, &t.s0i, &t.s1r, &t.s1i}) v->resize(m);
    for (auto* v : {&t.g0r, &t.g0i, &t.g1r, &t.g1i}) v->resize(static_cast<size_t>(d.q) * m);
    t.g0.resize(d.q);
    t.g1.resize(d.q);
    t.cq.resize(d.q);
    t.gcq.resize(d.q);
#pragma omp for schedule(static)
    for (int h = 0; h < d.h; ++h) {
      BuildTables(d, o, p, h, jb, nb, &t);
      for (auto* v : {&t.g0r, &t.g0i, &t.g1r, &t.g1i}) std::fill(v->begin(), v->end(), 0.0);
      for (int q = 0; q < d.q; ++q) {
        double* g0r = t.g0r.data() + q * m;
        double* g0i = t.g0i.data() + q * m;
        double* g1r = t.g1r.data() + q * m;
        double* g1i = t.g1i.data() + q * m;
        for (int bi = 0; bi < nb; ++bi) {
          const int len = std::min(jb, d.l - bi * jb);
          const double base = static_cast<double>(bi) * jb;
          const float* src = dk + (static_cast<size_t>(q) * d.h + h) * d.l + static_cast<size_t>(bi) * jb;
          const double* br = t.zbr.data() + static_cast<size_t>(bi) * m;
          const double* bim = t.zbi.data() + static_cast<size_t>(bi) * m;
          bool live = false;
          for (int n = 0; n < m; ++n) live |= (br[n] != 0.0 || bim[n] != 0.0);
          if (!live) continue;  // every mode decayed below 1e-30 in this block
          // S0[n] = sum_j dK[bJ+j] z_n^j and S1[n] = sum_j j dK[bJ+j] z_n^j for all modes at
          // once: a (1 x J) x (J x M) product with the modes as the SIMD axis, so there are no
          // horizontal reductions. The sums are short (J terms) and combined in double, so the
          // float error is ~J u_f relative to sum |dK||z|^l instead of growing with L.
          float* s0r = t.s0r.data();
          float* s0i = t.s0i.data();
          float* s1r = t.s1r.data();
          float* s1i = t.s1i.data();
          std::fill(s0r, s0r + m, 0.f);
          std::fill(s0i, s0i + m, 0.f);
          std::fill(s1r, s1r + m, 0.f);
          std::fill(s1i, s1i + m, 0.f);
          for (int j = 0; j < len; ++j) {
            const float dv = src[j], jv = static_cast<float>(j) * src[j];
            const float* zr = t.zrt.data() + static_cast<size_t>(j) * m;
            const float* zi = t.zit.data() + static_cast<size_t>(j) * m;
#pragma omp simd
            for (int n = 0; n < m; ++n) {
              s0r[n] += dv * zr[n];
              s0i[n] += dv * zi[n];
              s1r[n] += jv * zr[n];
              s1i[n] += jv * zi[n];
            }
          }
          // G0 += Z[b] * S0;  G1 += Z[b] * (bJ S0 + S1)   (l = bJ + j)
#pragma omp simd
          for (int n = 0; n < m; ++n) {
            const double t1r = base * s0r[n] + s1r[n], t1i = base * s0i[n] + s1i[n];
            g0r[n] += br[n] * s0r[n] - bim[n] * s0i[n];
            g0i[n] += br[n] * s0i[n] + bim[n] * s0r[n];
            g1r[n] += br[n] * t1r - bim[n] * t1i;
            g1i[n] += br[n] * t1i + bim[n] * t1r;
          }
        }
      }
      const int s = h % d.s;
      double gdt = 0;
      for (int n = 0; n < m; ++n) {
        const size_t i = static_cast<size_t>(h) * m + n;
        const double fp = RealTransformDeriv(o.real_transform, p.a_re_raw[s * m + n]);
        for (int q = 0; q < d.q; ++q) {
          t.g0[q] = cd(t.g0r[q * m + n], t.g0i[q * m + n]);
          t.g1[q] = cd(t.g1r[q * m + n], t.g1i[q * m + n]);
          t.cq[q] = cd(p.c[(static_cast<size_t>(q) * d.h + h) * m + n]);
        }
        gdt += S4dChain(t.modes[n], t.g0.data(), t.g1.data(), t.cq.data(), d.q,
                        cd(p.b[s * m + n]), fp, &ga_re[i], &ga_im[i], &gb[i], t.gcq.data());
        if (g.c) {
          for (int q = 0; q < d.q; ++q) {
            g.c[(static_cast<size_t>(q) * d.h + h) * m + n] +=
                cf(static_cast<float>(t.gcq[q].real()), static_cast<float>(t.gcq[q].imag()));
          }
        }
      }
      if (g.dt_raw) g.dt_raw[h] += static_cast<float>(gdt * DtDeriv(o.dt_transform, p.dt_raw[h]));
    }
  }
  ReduceShared(d, ga_re, ga_im, gb, g);
}

void S4dKernelReference(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                        double* k) {
  CheckDims(d);
  const int m = d.m;
  for (int h = 0; h < d.h; ++h) {
    const int s = h % d.s;
    const double dt = DtValue(o.dt_transform, p.dt_raw[h]);
    for (int q = 0; q < d.q; ++q) {
      double* out = k + (static_cast<size_t>(q) * d.h + h) * d.l;
      std::fill(out, out + d.l, 0.0);
      for (int n = 0; n < m; ++n) {
        const cd a = AFromRaw(o.real_transform, p.a_re_raw[s * m + n], p.a_im[s * m + n]);
        const ModeCoefs mc = S4dMode(o.disc, dt, a);
        const cd ct = p.c[(static_cast<size_t>(q) * d.h + h) * m + n] * p.b[s * m + n] * mc.e;
        for (int l = 0; l < d.l; ++l) out[l] += 2.0 * (ct * std::exp(static_cast<double>(l) * mc.logz)).real();
      }
    }
  }
}

void S4dKernelBackwardReference(const SsmDims& d, const SsmOptions& o,
                                const SsmParams<double>& p, const double* dk,
                                const SsmGrads<double>& g) {
  CheckDims(d);
  const int m = d.m;
  std::vector<double> ga_re(static_cast<size_t>(d.h) * m), ga_im(ga_re.size());
  std::vector<cd> gb(ga_re.size());
  std::vector<cd> g0(d.q), g1(d.q);
  std::vector<cd> cq(d.q), gcq(d.q);
  for (int h = 0; h < d.h; ++h) {
    const int s = h % d.s;
    const double dt = DtValue(o.dt_transform, p.dt_raw[h]);
    double gdt = 0;
    for (int n = 0; n < m; ++n) {
      const cd a = AFromRaw(o.real_transform, p.a_re_raw[s * m + n], p.a_im[s * m + n]);
      const ModeCoefs mc = S4dMode(o.disc, dt, a);
      for (int q = 0; q < d.q; ++q) {
        g0[q] = g1[q] = 0;
        const double* dkq = dk + (static_cast<size_t>(q) * d.h + h) * d.l;
        for (int l = 0; l < d.l; ++l) {
          const cd zl = std::exp(static_cast<double>(l) * mc.logz);
          g0[q] += dkq[l] * zl;
          g1[q] += static_cast<double>(l) * dkq[l] * zl;
        }
      }
      const size_t i = static_cast<size_t>(h) * m + n;
      const double fp = RealTransformDeriv(o.real_transform, p.a_re_raw[s * m + n]);
      for (int q = 0; q < d.q; ++q) cq[q] = p.c[(static_cast<size_t>(q) * d.h + h) * m + n];
      gdt += S4dChain(mc, g0.data(), g1.data(), cq.data(), d.q, p.b[s * m + n], fp, &ga_re[i],
                      &ga_im[i], &gb[i], gcq.data());
      if (g.c) {
        for (int q = 0; q < d.q; ++q) g.c[(static_cast<size_t>(q) * d.h + h) * m + n] += gcq[q];
      }
    }
    if (g.dt_raw) g.dt_raw[h] += gdt * DtDeriv(o.dt_transform, p.dt_raw[h]);
  }
  ReduceShared(d, ga_re, ga_im, gb, g);
}

// ---------------------------------------------------------------------------------------------
// DPLR S4 (rank 1, bilinear).
//
// Forward (section 1.5, rewritten so that w = -1 is regular). In the full 2M-mode eigenbasis
// (modes n and their conjugates n'), A = Lambda - p p*, and for w on the unit circle the
// generating function of the length-L kernel is (truncation by C-tilde)
//   k_hat(w) = C~^T (I - w dA)^-1 dB = (2/(1+w)) C~^T (z - dt A)^-1 dt B,  z = 2(1-w)/(1+w).
// With s = (1+w)/2 and kappa_n = 1/((1-w) - s dt Lambda_n) (the factor 2/(1+w) moved into each
// Cauchy denominator), Woodbury for the rank-1 term dt p p* gives
//   q_ab = dt sum_n [v_ab,n kappa_n + conj(v_ab,n) kappa'_n],   kappa'_n with conj(Lambda_n),
//   v00 = C~ B, v01 = C~ P, v10 = conj(P) B, v11 = |P|^2     (Q = conj P on the left)
//   X = q00 - s q01 q10 / (1 + s q11),   K = irfft(X[0..L/2], L).
//
// Backward. Let F = sum_l dK[l] K[l]. irfft uses only Re of X_0 and X_{L/2}, and counts every
// other bin twice, so F = sum_k Re(D_k X_k) with D_k = (w_k / L) conj(rfft(dK)_k), w_k = 1 at
// k = 0 and k = L/2 (L even), 2 otherwise. For a complex intermediate x write its holomorphic
// adjoint U_x: dF = Re(U_x dx); the gradient we return is conj(U_x) = dF/dRe x + i dF/dIm x.
//   X holomorphic in q:  u00 = D, u01 = -D s q10/den, u10 = -D s q01/den,
//                        u11 = D s^2 q01 q10/den^2,  den = 1 + s q11   (u10, u11 summed over Q)
//   q_ab = dt sum [v kappa + conj(v) kappa']:  U_v += dt (u kappa + conj(u kappa'))
//   d kappa / d lambda = s kappa^2, lambda = dt Lambda:
//                        U_lambda += dt (s kappa^2 sum_ab u v + conj(s kappa'^2 sum_ab u conj v))
//   dt explicit:         dF/ddt += Re(sum_ab u_ab q_ab) / dt;  via lambda: Re(U_lambda Lambda)
//   U_Lambda = dt U_lambda;  Lambda = -f(re) - i im:  dF/dre = -f' Re U_Lambda, dF/dim = Im U_Lambda
//   v00 = C~ B, v01 = C~ P:  U_C~ = U_v00 B + U_v01 P,  U_B += U_v00 C~,  U_P += U_v01 C~
//   v10 = conj(P) B:         U_B += U_v10 conj(P),  U_P += conj(U_v10 B)
//   v11 = conj(P) P:         U_P += U_v11 conj(P) + conj(U_v11 P)
// The finite-difference test (ssm_kernel_test DplrKernel.*) checks every term.
namespace {

constexpr double kTwoPi = 6.28318530717958647692;

// Frequencies k = 0..L/2: d = 1 - w and s = (1 + w)/2 for w = exp(-2 pi i k/L), from half-angle
// forms so that 1 - cos does not cancel for small k.
struct DplrFreqs {
  std::vector<double> dr, di, sr, si, weight;
};

DplrFreqs MakeFreqs(int l) {
  const int kf = l / 2 + 1;
  DplrFreqs f;
  for (auto* v : {&f.dr, &f.di, &f.sr, &f.si, &f.weight}) v->resize(kf);
  for (int k = 0; k < kf; ++k) {
    const double half = kTwoPi * 0.5 * k / l;  // theta/2
    const double sh = std::sin(half), ch = std::cos(half);
    f.dr[k] = 2 * sh * sh;        // 1 - cos theta
    f.di[k] = 2 * sh * ch;        // +sin theta
    f.sr[k] = ch * ch;            // (1 + cos theta)/2
    f.si[k] = -sh * ch;           // -sin(theta)/2
    f.weight[k] = (k == 0 || (l % 2 == 0 && k == l / 2)) ? 1.0 : 2.0;
  }
  return f;
}

// Real DFTs. Double: direct O(L^2) with an exact angle table. Float: FFTW.
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

struct FftwPlans {
  fftwf_plan c2r = nullptr, r2c = nullptr;
};

// Plans are created once per length under a mutex (FFTW's planner is not re-entrant; the
// thread-safe planner hook also guards other libraries that plan concurrently) and executed
// with the new-array interface, which is thread-safe. FFTW_UNALIGNED lets the plan run on any
// std::vector buffer.
const FftwPlans& PlansFor(int l) {
  static std::mutex mu;
  static std::map<int, FftwPlans>* plans = new std::map<int, FftwPlans>();
  static std::once_flag once;
  std::call_once(once, [] { fftwf_make_planner_thread_safe(); });
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans->find(l);
  if (it != plans->end()) return it->second;
  std::vector<float> real(l);
  std::vector<cf> cplx(l / 2 + 1);
  FftwPlans p;
  p.c2r = fftwf_plan_dft_c2r_1d(l, reinterpret_cast<fftwf_complex*>(cplx.data()), real.data(),
                                FFTW_ESTIMATE | FFTW_UNALIGNED);
  p.r2c = fftwf_plan_dft_r2c_1d(l, real.data(), reinterpret_cast<fftwf_complex*>(cplx.data()),
                                FFTW_ESTIMATE | FFTW_UNALIGNED);
  ABSL_RAW_CHECK(p.c2r != nullptr && p.r2c != nullptr, "FFTW planning failed");
  return plans->emplace(l, p).first->second;
}

void Irfft(std::complex<float>* x, int l, float* out) {  // destroys x
  fftwf_execute_dft_c2r(PlansFor(l).c2r, reinterpret_cast<fftwf_complex*>(x), out);
  const float inv = 1.0f / l;
  for (int t = 0; t < l; ++t) out[t] *= inv;
}

void Rfft(const float* x, int l, std::complex<float>* out) {
  // r2c does not modify its input with FFTW_ESTIMATE out-of-place plans, but the API takes a
  // non-const pointer.
  fftwf_execute_dft_r2c(PlansFor(l).r2c, const_cast<float*>(x),
                        reinterpret_cast<fftwf_complex*>(out));
}

// sum_n v kappa + conj(v) kappa'
template <typename T>
inline std::complex<T> CauchyDot(int m, const T* vr, const T* vi, const T* kr, const T* ki,
                                 const T* k2r, const T* k2i) {
  T ar = 0, ai = 0;
#pragma omp simd reduction(+ : ar, ai)
  for (int n = 0; n < m; ++n) {
    ar += vr[n] * kr[n] - vi[n] * ki[n] + vr[n] * k2r[n] + vi[n] * k2i[n];
    ai += vr[n] * ki[n] + vi[n] * kr[n] + vr[n] * k2i[n] - vi[n] * k2r[n];
  }
  return {ar, ai};
}

// Per-thread state for one channel; T is the compute type (float fast path, double reference).
template <typename T>
struct DplrChannel {
  using C = std::complex<T>;
  int m = 0, q = 0;
  T dt = 0;
  std::vector<C> lam;                  // [M] Lambda (not scaled by dt)
  std::vector<T> lr, li;               // [M] dt Lambda
  std::vector<T> v00r, v00i, v01r, v01i;  // [Q, M]
  std::vector<T> v10r, v10i, v11r, v11i;  // [M]
  std::vector<T> kr, ki, k2r, k2i;     // [M] kappa, kappa' at one frequency
  // Backward only: kappa +- kappa', sum_ab u v and u conj(v) at one frequency, and the
  // adjoints accumulated over frequencies.
  std::vector<T> ksr, ksi, kdr, kdi, svr, svi, scr, sci;  // [M]
  std::vector<T> u10r, u10i, u11r, u11i, ulr, uli;        // [M]
  std::vector<T> u00r, u00i, u01r, u01i;                  // [Q, M]

  void ZeroAdjoints() {
    for (auto* v : {&ksr, &ksi, &kdr, &kdi, &svr, &svi, &scr, &sci, &u10r, &u10i, &u11r, &u11i,
                    &ulr, &uli}) {
      v->assign(m, T(0));
    }
    for (auto* v : {&u00r, &u00i, &u01r, &u01i}) v->assign(static_cast<size_t>(q) * m, T(0));
  }

  void Setup(const SsmDims& d, const SsmOptions& o, const SsmParams<T>& p, int h) {
    m = d.m, q = d.q;
    const int s = h % d.s;
    dt = static_cast<T>(DtValue(o.dt_transform, p.dt_raw[h]));
    lam.resize(m);
    for (auto* v : {&lr, &li, &v10r, &v10i, &v11r, &v11i, &kr, &ki, &k2r, &k2i}) v->resize(m);
    for (auto* v : {&v00r, &v00i, &v01r, &v01i}) v->resize(static_cast<size_t>(q) * m);
    for (int n = 0; n < m; ++n) {
      const cd l = AFromRaw(o.real_transform, p.a_re_raw[s * m + n], p.a_im[s * m + n]);
      lam[n] = C(static_cast<T>(l.real()), static_cast<T>(l.imag()));
      lr[n] = dt * lam[n].real(), li[n] = dt * lam[n].imag();
      const C b = p.b[s * m + n], pp = p.p[s * m + n];
      const C v10 = std::conj(pp) * b;
      v10r[n] = v10.real(), v10i[n] = v10.imag();
      v11r[n] = std::norm(pp), v11i[n] = 0;
      for (int qq = 0; qq < q; ++qq) {
        const C c = p.c[(static_cast<size_t>(qq) * d.h + h) * m + n];
        const C v00 = c * b, v01 = c * pp;
        v00r[qq * m + n] = v00.real(), v00i[qq * m + n] = v00.imag();
        v01r[qq * m + n] = v01.real(), v01i[qq * m + n] = v01.imag();
      }
    }
  }

  // kappa_n = 1/(d - s lambda_n), kappa'_n = 1/(d - s conj(lambda_n)).
  void Kappa(T dr, T di, T sr, T si) {
#pragma omp simd
    for (int n = 0; n < m; ++n) {
      const T er = dr - (sr * lr[n] - si * li[n]), ei = di - (sr * li[n] + si * lr[n]);
      const T fr = dr - (sr * lr[n] + si * li[n]), fi = di - (si * lr[n] - sr * li[n]);
      const T e2 = 1 / (er * er + ei * ei), f2 = 1 / (fr * fr + fi * fi);
      kr[n] = er * e2, ki[n] = -ei * e2;
      k2r[n] = fr * f2, k2i[n] = -fi * f2;
    }
  }
  C Dot(const T* vr, const T* vi) const {
    return CauchyDot<T>(m, vr, vi, kr.data(), ki.data(), k2r.data(), k2i.data());
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
    std::vector<C> x(static_cast<size_t>(d.q) * kf);
#pragma omp for schedule(static)
    for (int h = 0; h < d.h; ++h) {
      ch.Setup(d, o, p, h);
      const int m = d.m;
      for (int kk = 0; kk < kf; ++kk) {
        const C s(static_cast<T>(f.sr[kk]), static_cast<T>(f.si[kk]));
        ch.Kappa(static_cast<T>(f.dr[kk]), static_cast<T>(f.di[kk]), s.real(), s.imag());
        const C q10 = ch.dt * ch.Dot(ch.v10r.data(), ch.v10i.data());
        const C q11 = ch.dt * ch.Dot(ch.v11r.data(), ch.v11i.data());
        const C factor = s * q10 / (T(1) + s * q11);
        for (int qq = 0; qq < d.q; ++qq) {
          const C q00 = ch.dt * ch.Dot(ch.v00r.data() + qq * m, ch.v00i.data() + qq * m);
          const C q01 = ch.dt * ch.Dot(ch.v01r.data() + qq * m, ch.v01i.data() + qq * m);
          x[static_cast<size_t>(qq) * kf + kk] = q00 - q01 * factor;
        }
      }
      for (int qq = 0; qq < d.q; ++qq) {
        Irfft(x.data() + static_cast<size_t>(qq) * kf, d.l,
              k + (static_cast<size_t>(qq) * d.h + h) * d.l);
      }
    }
  }
}

template <typename T>
void DplrBackwardImpl(const SsmDims& d, const SsmOptions& o, const SsmParams<T>& p, const T* dk,
                      const SsmGrads<T>& g) {
  using C = std::complex<T>;
  CheckDims(d);
  const int kf = d.l / 2 + 1, m = d.m, nq = d.q;
  const DplrFreqs f = MakeFreqs(d.l);
  const size_t hm = static_cast<size_t>(d.h) * m;
  // Per-channel (A, B, P) gradients in double, reduced over shared copies in channel order.
  std::vector<double> ga_re(hm), ga_im(hm);
  std::vector<cd> gb(hm), gp(hm);
#pragma omp parallel
  {
    ScopedFlushDenormals ftz;
    DplrChannel<T> ch;
    std::vector<C> dfreq(static_cast<size_t>(nq) * kf);  // D[q][k]
    std::vector<C> uq00(nq), uq01(nq), q00(nq), q01(nq);
#pragma omp for schedule(static)
    for (int h = 0; h < d.h; ++h) {
      ch.Setup(d, o, p, h);
      const T dt = ch.dt;
      for (int qq = 0; qq < nq; ++qq) {
        C* dq = dfreq.data() + static_cast<size_t>(qq) * kf;
        Rfft(dk + (static_cast<size_t>(qq) * d.h + h) * d.l, d.l, dq);
        for (int kk = 0; kk < kf; ++kk) dq[kk] = static_cast<T>(f.weight[kk] / d.l) * std::conj(dq[kk]);
      }
      ch.ZeroAdjoints();
      double gdt = 0;
      for (int kk = 0; kk < kf; ++kk) {
        const C s(static_cast<T>(f.sr[kk]), static_cast<T>(f.si[kk]));
        ch.Kappa(static_cast<T>(f.dr[kk]), static_cast<T>(f.di[kk]), s.real(), s.imag());
        const C q10 = dt * ch.Dot(ch.v10r.data(), ch.v10i.data());
        const C q11 = dt * ch.Dot(ch.v11r.data(), ch.v11i.data());
        const C den = T(1) + s * q11;
        C u10 = 0, u11 = 0;
        double direct = 0;  // sum_ab Re(u_ab q_ab)
        for (int qq = 0; qq < nq; ++qq) {
          q00[qq] = dt * ch.Dot(ch.v00r.data() + qq * m, ch.v00i.data() + qq * m);
          q01[qq] = dt * ch.Dot(ch.v01r.data() + qq * m, ch.v01i.data() + qq * m);
          const C dq = dfreq[static_cast<size_t>(qq) * kf + kk];
          uq00[qq] = dq;
          uq01[qq] = -dq * s * q10 / den;
          u10 += -dq * s * q01[qq] / den;
          u11 += dq * s * s * q01[qq] * q10 / (den * den);
          direct += (uq00[qq] * q00[qq]).real() + (uq01[qq] * q01[qq]).real();
        }
        direct += (u10 * q10).real() + (u11 * q11).real();
        gdt += direct / dt;
        // Per-mode adjoints, in real SoA arithmetic so the loops vectorize over modes.
        // U_v += dt (u kappa + conj(u kappa')) = dt (ur (kr + k2r) - ui (ki + k2i),
        //                                            ur (ki - k2i) + ui (kr - k2r)).
        T* ksr = ch.ksr.data();
        T* ksi = ch.ksi.data();
        T* kdr = ch.kdr.data();
        T* kdi = ch.kdi.data();
        T* svr = ch.svr.data();
        T* svi = ch.svi.data();
        T* scr = ch.scr.data();
        T* sci = ch.sci.data();
        const T* kr = ch.kr.data();
        const T* ki = ch.ki.data();
        const T* k2r = ch.k2r.data();
        const T* k2i = ch.k2i.data();
        {
          const T u10r = u10.real() * dt, u10i = u10.imag() * dt;
          const T u11r = u11.real() * dt, u11i = u11.imag() * dt;
          const T* v10r = ch.v10r.data();
          const T* v10i = ch.v10i.data();
          const T* v11r = ch.v11r.data();
          const T* v11i = ch.v11i.data();
          T* a10r = ch.u10r.data();
          T* a10i = ch.u10i.data();
          T* a11r = ch.u11r.data();
          T* a11i = ch.u11i.data();
#pragma omp simd
          for (int n = 0; n < m; ++n) {
            ksr[n] = kr[n] + k2r[n], ksi[n] = ki[n] + k2i[n];
            kdr[n] = kr[n] - k2r[n], kdi[n] = ki[n] - k2i[n];
            a10r[n] += u10r * ksr[n] - u10i * ksi[n];
            a10i[n] += u10r * kdi[n] + u10i * kdr[n];
            a11r[n] += u11r * ksr[n] - u11i * ksi[n];
            a11i[n] += u11r * kdi[n] + u11i * kdr[n];
            // sv = sum_ab u v (unscaled by dt), svc = sum_ab u conj(v)
            svr[n] = u10.real() * v10r[n] - u10.imag() * v10i[n] + u11.real() * v11r[n] - u11.imag() * v11i[n];
            svi[n] = u10.real() * v10i[n] + u10.imag() * v10r[n] + u11.real() * v11i[n] + u11.imag() * v11r[n];
            scr[n] = u10.real() * v10r[n] + u10.imag() * v10i[n] + u11.real() * v11r[n] + u11.imag() * v11i[n];
            sci[n] = -u10.real() * v10i[n] + u10.imag() * v10r[n] - u11.real() * v11i[n] + u11.imag() * v11r[n];
          }
        }
        for (int qq = 0; qq < nq; ++qq) {
          const T a0r = uq00[qq].real(), a0i = uq00[qq].imag();
          const T a1r = uq01[qq].real(), a1i = uq01[qq].imag();
          const T* v00r = ch.v00r.data() + qq * m;
          const T* v00i = ch.v00i.data() + qq * m;
          const T* v01r = ch.v01r.data() + qq * m;
          const T* v01i = ch.v01i.data() + qq * m;
          T* b00r = ch.u00r.data() + qq * m;
          T* b00i = ch.u00i.data() + qq * m;
          T* b01r = ch.u01r.data() + qq * m;
          T* b01i = ch.u01i.data() + qq * m;
#pragma omp simd
          for (int n = 0; n < m; ++n) {
            b00r[n] += dt * (a0r * ksr[n] - a0i * ksi[n]);
            b00i[n] += dt * (a0r * kdi[n] + a0i * kdr[n]);
            b01r[n] += dt * (a1r * ksr[n] - a1i * ksi[n]);
            b01i[n] += dt * (a1r * kdi[n] + a1i * kdr[n]);
            svr[n] += a0r * v00r[n] - a0i * v00i[n] + a1r * v01r[n] - a1i * v01i[n];
            svi[n] += a0r * v00i[n] + a0i * v00r[n] + a1r * v01i[n] + a1i * v01r[n];
            scr[n] += a0r * v00r[n] + a0i * v00i[n] + a1r * v01r[n] + a1i * v01i[n];
            sci[n] += -a0r * v00i[n] + a0i * v00r[n] - a1r * v01i[n] + a1i * v01r[n];
          }
        }
        {
          // U_lambda += dt (s kappa^2 sv + conj(s kappa'^2 svc))
          const T sr = s.real(), si = s.imag();
          T* lr = ch.ulr.data();
          T* li = ch.uli.data();
#pragma omp simd
          for (int n = 0; n < m; ++n) {
            const T q1r = kr[n] * kr[n] - ki[n] * ki[n], q1i = 2 * kr[n] * ki[n];
            const T w1r = sr * q1r - si * q1i, w1i = sr * q1i + si * q1r;
            const T q2r = k2r[n] * k2r[n] - k2i[n] * k2i[n], q2i = 2 * k2r[n] * k2i[n];
            const T w2r = sr * q2r - si * q2i, w2i = sr * q2i + si * q2r;
            const T t1r = w1r * svr[n] - w1i * svi[n], t1i = w1r * svi[n] + w1i * svr[n];
            const T t2r = w2r * scr[n] - w2i * sci[n], t2i = w2r * sci[n] + w2i * scr[n];
            lr[n] += dt * (t1r + t2r);
            li[n] += dt * (t1i - t2i);
          }
        }
      }
      // Map the adjoints of (v, lambda, dt) to the raw parameters.
      const int s_idx = h % d.s;
      for (int n = 0; n < m; ++n) {
        const cd lam(ch.lam[n]);
        const cd ulam(ch.ulr[n], ch.uli[n]);
        gdt += (ulam * lam).real();
        const cd u_big_lam = static_cast<double>(dt) * ulam;
        const double fp = RealTransformDeriv(o.real_transform, p.a_re_raw[s_idx * m + n]);
        const size_t i = static_cast<size_t>(h) * m + n;
        ga_re[i] = -fp * u_big_lam.real();
        ga_im[i] = u_big_lam.imag();
        const cd b(p.b[s_idx * m + n]), pp(p.p[s_idx * m + n]);
        const cd uv10(ch.u10r[n], ch.u10i[n]), uv11(ch.u11r[n], ch.u11i[n]);
        cd ub = uv10 * std::conj(pp);
        cd up = std::conj(uv10 * b) + uv11 * std::conj(pp) + std::conj(uv11 * pp);
        for (int qq = 0; qq < nq; ++qq) {
          const size_t ci = (static_cast<size_t>(qq) * d.h + h) * m + n;
          const cd c(p.c[ci]);
          const size_t qi = static_cast<size_t>(qq) * m + n;
          const cd uv00(ch.u00r[qi], ch.u00i[qi]), uv01(ch.u01r[qi], ch.u01i[qi]);
          ub += uv00 * c;
          up += uv01 * c;
          if (g.c) {
            const cd gc = std::conj(uv00 * b + uv01 * pp);
            g.c[ci] += C(static_cast<T>(gc.real()), static_cast<T>(gc.imag()));
          }
        }
        gb[i] = std::conj(ub);
        gp[i] = std::conj(up);
      }
      if (g.dt_raw) g.dt_raw[h] += static_cast<T>(gdt * DtDeriv(o.dt_transform, p.dt_raw[h]));
    }
  }
  ReduceShared(d, ga_re, ga_im, gb, g);
  if (g.p) {
    for (int h = 0; h < d.h; ++h) {
      for (int n = 0; n < m; ++n) {
        const cd v = gp[static_cast<size_t>(h) * m + n];
        g.p[(h % d.s) * m + n] += C(static_cast<T>(v.real()), static_cast<T>(v.imag()));
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

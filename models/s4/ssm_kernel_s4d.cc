// The S4D kernel (diagonal A, Vandermonde product): S4D paper, arXiv 2206.11893, Section 3
// (K = 2 Re(sum_n C_n dB_n dA_n^l) over the N/2 stored modes of each conjugate pair; ZOH and
// bilinear discretization), as state-spaces/s4 e757cef, src/models/sequence/kernels/ssm.py,
// SSMKernelDiag.forward computes it (powers as exp(l log dA)), with an explicit backward.
#include "models/s4/ssm_kernel.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "models/s4/ssm_kernel_internal.h"

namespace lra::s4 {
namespace {

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

// The tables of channel h. The forward reads only zr, zi ([M, J]) and the backward only zrt, zit
// ([J, M]): `transposed` picks which layout is written (the same values either way).
void BuildTables(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p, int h, int jb,
                 int nb, bool transposed, S4dScratch* t) {
  const int m = d.m, s = h % d.s;
  const double dt = DtValue(o.dt_transform, p.dt_raw[h]);
  t->modes.resize(m);
  if (transposed) {
    t->zrt.resize(static_cast<size_t>(m) * jb);
    t->zit.resize(static_cast<size_t>(m) * jb);
  } else {
    t->zr.resize(static_cast<size_t>(m) * jb);
    t->zi.resize(static_cast<size_t>(m) * jb);
  }
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
  for (int j = 0; j < jb; ++j) {
    if (transposed) {
      float* zrt = t->zrt.data() + static_cast<size_t>(j) * m;
      float* zit = t->zit.data() + static_cast<size_t>(j) * m;
#pragma omp simd
      for (int n = 0; n < m; ++n) {
        zrt[n] = Flush(pr[n]);
        zit[n] = Flush(pi[n]);
      }
    } else {
      float* zr = t->zr.data() + j;
      float* zi = t->zi.data() + j;
#pragma omp simd
      for (int n = 0; n < m; ++n) {
        zr[static_cast<size_t>(n) * jb] = Flush(pr[n]);
        zi[static_cast<size_t>(n) * jb] = Flush(pi[n]);
      }
    }
#pragma omp simd
    for (int n = 0; n < m; ++n) {
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

// 16 floats: one AVX-512 register (GCC vector extension; the portable build splits it).
typedef float V16 __attribute__((vector_size(16 * sizeof(float))));

inline V16 LoadV16(const float* p) {
  V16 v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

inline void StoreV16(const V16& v, float* p) { __builtin_memcpy(p, &v, sizeof(v)); }

// acc[j0 + j] = sum over the live modes n, in order, of wr[n] zr[n][j0 + j] - wi[n] zi[n][j0 + j]
// for j < 16 kVecs (jb a multiple of 16 >= j0 + 16 kVecs): the forward's block sum, 16 kVecs
// positions at a time so the partial sums stay in registers across the modes, as kVecs
// independent chains of adds. Each position's sum runs over the modes in the same order with
// the same expression whatever kVecs.
template <int kVecs>
inline void BlockSum(const float* wr, const float* wi, const float* zr_table,
                     const float* zi_table, int m, int jb, int j0, float* acc) {
  V16 part[kVecs] = {};
  for (int n = 0; n < m; ++n) {
    const float a = wr[n], b = wi[n];
    if (a == 0.f && b == 0.f) continue;  // decayed below 1e-30
    const float* zr = zr_table + static_cast<size_t>(n) * jb + j0;
    const float* zi = zi_table + static_cast<size_t>(n) * jb + j0;
#pragma GCC unroll 4
    for (int c = 0; c < kVecs; ++c) part[c] += a * LoadV16(zr + 16 * c) - b * LoadV16(zi + 16 * c);
  }
  for (int c = 0; c < kVecs; ++c) StoreV16(part[c], acc + j0 + 16 * c);
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
    // Per OS thread and reused across calls (every buffer is fully written before it is read):
    // made per call, the tables came from fresh heap pages each training step.
    thread_local S4dScratch t;
    t.acc.resize(jb);
    t.wr.resize(m);
    t.wi.resize(m);
    t.ctr.resize(static_cast<size_t>(d.q) * m);
    t.cti.resize(static_cast<size_t>(d.q) * m);
#pragma omp for schedule(static)
    for (int h = 0; h < d.h; ++h) {
      BuildTables(d, o, p, h, jb, nb, /*transposed=*/false, &t);
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
          // 64 positions at a time, then 32, then 16: the partial sums stay in registers over
          // the modes.
          int j0 = 0;
          const float* zr = t.zr.data();
          const float* zi = t.zi.data();
          for (; j0 + 64 <= jb; j0 += 64) BlockSum<4>(wr, wi, zr, zi, m, jb, j0, acc);
          for (; j0 + 32 <= jb; j0 += 32) BlockSum<2>(wr, wi, zr, zi, m, jb, j0, acc);
          for (; j0 < jb; j0 += 16) BlockSum<1>(wr, wi, zr, zi, m, jb, j0, acc);
          for (int j = 0; j < len; ++j) out[j] = 2.f * acc[j];
        }
      }
    }
  }
}

namespace {

// The block sums of S4dPowerSums for modes [n0, n0 + 16 kVecs), kept in registers over j:
// S0[n] = sum_j dK[j] z_n^j, S1[n] = sum_j j dK[j] z_n^j (written to t->s{0,1}{r,i}). The sums
// are vector variables rather than float arrays: with arrays GCC kept them in memory and every
// j paid a store-to-load round trip per sum (S4dKernelBackward was 3.2% of S4D's training step
// at L = 1K). The arithmetic is the same per mode, in the same order.
template <int kVecs>
inline void ModeSums(const float* src, int len, const float* zrt, const float* zit, int m,
                     int n0, S4dScratch* t) {
  V16 s0r[kVecs] = {}, s0i[kVecs] = {}, s1r[kVecs] = {}, s1i[kVecs] = {};
  for (int j = 0; j < len; ++j) {
    const float dv = src[j], jv = static_cast<float>(j) * src[j];
    const float* zr = zrt + static_cast<size_t>(j) * m + n0;
    const float* zi = zit + static_cast<size_t>(j) * m + n0;
#pragma GCC unroll 4
    for (int c = 0; c < kVecs; ++c) {
      const V16 r = LoadV16(zr + 16 * c), i = LoadV16(zi + 16 * c);
      s0r[c] += dv * r;
      s0i[c] += dv * i;
      s1r[c] += jv * r;
      s1i[c] += jv * i;
    }
  }
  for (int c = 0; c < kVecs; ++c) {
    StoreV16(s0r[c], t->s0r.data() + n0 + 16 * c);
    StoreV16(s0i[c], t->s0i.data() + n0 + 16 * c);
    StoreV16(s1r[c], t->s1r.data() + n0 + 16 * c);
    StoreV16(s1i[c], t->s1i.data() + n0 + 16 * c);
  }
}

// G0[q][n] = sum_l dK[q,h,l] z_n^l and G1[q][n] = sum_l l dK[q,h,l] z_n^l for one channel and
// one q, block by block from the tables (written to t->g{0,1}{r,i} row q).
void S4dPowerSums(const SsmDims& d, int h, int q, int jb, int nb, const float* dk,
                  S4dScratch* t) {
  const int m = d.m;
  double* g0r = t->g0r.data() + q * m;
  double* g0i = t->g0i.data() + q * m;
  double* g1r = t->g1r.data() + q * m;
  double* g1i = t->g1i.data() + q * m;
  for (int bi = 0; bi < nb; ++bi) {
    const int len = std::min(jb, d.l - bi * jb);
    const double base = static_cast<double>(bi) * jb;
    const float* src =
        dk + (static_cast<size_t>(q) * d.h + h) * d.l + static_cast<size_t>(bi) * jb;
    const double* br = t->zbr.data() + static_cast<size_t>(bi) * m;
    const double* bim = t->zbi.data() + static_cast<size_t>(bi) * m;
    bool live = false;
    for (int n = 0; n < m; ++n) live |= (br[n] != 0.0 || bim[n] != 0.0);
    if (!live) continue;  // every mode decayed below 1e-30 in this block
    // S0[n] = sum_j dK[bJ+j] z_n^j and S1[n] = sum_j j dK[bJ+j] z_n^j for all modes at
    // once: a (1 x J) x (J x M) product with the modes as the SIMD axis, so there are no
    // horizontal reductions. The sums are short (J terms) and combined in double, so the
    // float error is ~J u_f relative to sum |dK||z|^l instead of growing with L.
    float* s0r = t->s0r.data();
    float* s0i = t->s0i.data();
    float* s1r = t->s1r.data();
    float* s1i = t->s1i.data();
    // 32 or 16 modes at a time with the four sums in registers, the rest in memory; each
    // mode's sums run over j in order with the same expressions either way.
    int n0 = 0;
    for (; n0 + 32 <= m; n0 += 32) ModeSums<2>(src, len, t->zrt.data(), t->zit.data(), m, n0, t);
    for (; n0 + 16 <= m; n0 += 16) ModeSums<1>(src, len, t->zrt.data(), t->zit.data(), m, n0, t);
    std::fill(s0r + n0, s0r + m, 0.f);
    std::fill(s0i + n0, s0i + m, 0.f);
    std::fill(s1r + n0, s1r + m, 0.f);
    std::fill(s1i + n0, s1i + m, 0.f);
    for (int j = 0; j < len && n0 < m; ++j) {
      const float dv = src[j], jv = static_cast<float>(j) * src[j];
      const float* zr = t->zrt.data() + static_cast<size_t>(j) * m;
      const float* zi = t->zit.data() + static_cast<size_t>(j) * m;
#pragma omp simd
      for (int n = n0; n < m; ++n) {
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

// The power sums of channel h to its parameters (S4dChain per mode): C into g.c, (A, B) into the
// per-channel rows of ga_re / ga_im / gb; returns dF/ddt (before the dt transform).
double S4dChannelGrads(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p,
                       const SsmGrads<float>& g, int h, S4dScratch* t, double* ga_re,
                       double* ga_im, cd* gb) {
  const int m = d.m, s = h % d.s;
  double gdt = 0;
  for (int n = 0; n < m; ++n) {
    const size_t i = static_cast<size_t>(h) * m + n;
    const double fp = RealTransformDeriv(o.real_transform, p.a_re_raw[s * m + n]);
    for (int q = 0; q < d.q; ++q) {
      t->g0[q] = cd(t->g0r[q * m + n], t->g0i[q * m + n]);
      t->g1[q] = cd(t->g1r[q * m + n], t->g1i[q * m + n]);
      t->cq[q] = cd(p.c[(static_cast<size_t>(q) * d.h + h) * m + n]);
    }
    gdt += S4dChain(t->modes[n], t->g0.data(), t->g1.data(), t->cq.data(), d.q,
                    cd(p.b[s * m + n]), fp, &ga_re[i], &ga_im[i], &gb[i], t->gcq.data());
    if (g.c) {
      for (int q = 0; q < d.q; ++q) {
        g.c[(static_cast<size_t>(q) * d.h + h) * m + n] +=
            cf(static_cast<float>(t->gcq[q].real()), static_cast<float>(t->gcq[q].imag()));
      }
    }
  }
  return gdt;
}

}  // namespace

void S4dKernelBackward(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p,
                       const float* dk, const SsmGrads<float>& g) {
  CheckDims(d);
  const int jb = S4dBlockSize(d.l), nb = (d.l + jb - 1) / jb, m = d.m;
  // Reused across calls like the scratch below: S4dChannelGrads writes every element (each
  // channel's every mode) before ReduceShared reads them.
  thread_local std::vector<double> ga_re, ga_im;
  thread_local std::vector<cd> gb;
  ga_re.resize(static_cast<size_t>(d.h) * m);
  ga_im.resize(ga_re.size());
  gb.resize(ga_re.size());
  // Inside the parallel region the names would denote each thread's own (empty) copies.
  double* const ga_re_p = ga_re.data();
  double* const ga_im_p = ga_im.data();
  cd* const gb_p = gb.data();
#pragma omp parallel
  {
    ScopedFlushDenormals ftz;
    // Per OS thread and reused across calls (every buffer is fully written before it is read):
    // made per call, the tables came from fresh heap pages each training step.
    thread_local S4dScratch t;
    for (auto* v : {&t.s0r, &t.s0i, &t.s1r, &t.s1i}) v->resize(m);
    for (auto* v : {&t.g0r, &t.g0i, &t.g1r, &t.g1i}) v->resize(static_cast<size_t>(d.q) * m);
    t.g0.resize(d.q);
    t.g1.resize(d.q);
    t.cq.resize(d.q);
    t.gcq.resize(d.q);
#pragma omp for schedule(static)
    for (int h = 0; h < d.h; ++h) {
      BuildTables(d, o, p, h, jb, nb, /*transposed=*/true, &t);
      for (auto* v : {&t.g0r, &t.g0i, &t.g1r, &t.g1i}) std::fill(v->begin(), v->end(), 0.0);
      for (int q = 0; q < d.q; ++q) S4dPowerSums(d, h, q, jb, nb, dk, &t);
      const double gdt =
          S4dChannelGrads(d, o, p, g, h, &t, ga_re_p, ga_im_p, gb_p);
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

}  // namespace lra::s4

#include "models/s4/ssm_recurrent.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "Eigen/Dense"
#include "absl/base/internal/raw_logging.h"

namespace lra::s4 {
namespace {

using cd = std::complex<double>;

// Streams per OpenMP chunk only pay off when a step has real work: waking the second thread
// costs a few microseconds, about 2^15 complex multiply-adds.
constexpr int64_t kParallelWork = int64_t{1} << 15;

Eigen::MatrixXcd ToEigen(const DenseSsm& s) {
  Eigen::MatrixXcd a(s.n, s.n);
  for (int i = 0; i < s.n; ++i)
    for (int j = 0; j < s.n; ++j) a(i, j) = s.da[static_cast<size_t>(i) * s.n + j];
  return a;
}

// (I - dA^L) for channel h, by repeated squaring: ceil(log2 L) + popcount(L) products of
// 2M x 2M matrices (~12 for L = 4096), each with relative error ~2M u_d.
Eigen::MatrixXcd OneMinusPowerL(const SsmDims& d, const SsmOptions& o,
                                const SsmParams<double>& p, int h) {
  const DenseSsm s = DplrDiscretizeDense(d, o, p, h);
  Eigen::MatrixXcd base = ToEigen(s);
  Eigen::MatrixXcd result = Eigen::MatrixXcd::Identity(s.n, s.n);
  for (int e = d.l; e > 0; e >>= 1) {
    if (e & 1) result = result * base;
    if (e > 1) base = base * base;
  }
  return Eigen::MatrixXcd::Identity(s.n, s.n) - result;
}

}  // namespace

S4dRecurrence::S4dRecurrence(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p)
    : h_(d.h), m_(d.m) {
  ABSL_RAW_CHECK(d.q == 1, "S4dRecurrence: only causal (Q = 1) kernels have a recurrence");
  ABSL_RAW_CHECK(d.h % d.s == 0, "S4dRecurrence: H must be a multiple of n_ssm");
  const size_t hm = static_cast<size_t>(h_) * m_;
  for (auto* v : {&ar_, &ai_, &br_, &bi_, &cr_, &ci_}) v->resize(hm);
  for (int h = 0; h < h_; ++h) {
    const int s = h % d.s;
    const double dt = DtValue(o.dt_transform, p.dt_raw[h]);
    for (int n = 0; n < m_; ++n) {
      const cd a = AFromRaw(o.real_transform, p.a_re_raw[s * m_ + n], p.a_im[s * m_ + n]);
      cd z, e;
      S4dDiscretizeMode(o.disc, dt, a, &z, &e);
      const cd db = cd(p.b[s * m_ + n]) * e;
      const cd c = 2.0 * cd(p.c[static_cast<size_t>(h) * m_ + n]);
      const size_t i = static_cast<size_t>(h) * m_ + n;
      ar_[i] = static_cast<float>(z.real()), ai_[i] = static_cast<float>(z.imag());
      br_[i] = static_cast<float>(db.real()), bi_[i] = static_cast<float>(db.imag());
      cr_[i] = static_cast<float>(c.real()), ci_[i] = static_cast<float>(c.imag());
    }
  }
}

void S4dRecurrence::Step(int batch, const float* u, float* state, float* y) const {
  const int64_t work = static_cast<int64_t>(batch) * h_ * m_;
  // A single stream stays on the calling thread and outside any OpenMP region: even a disabled
  // `parallel if(0)` region costs ~1 us, a third of a 4-layer token step.
  if (work <= kParallelWork || batch == 1) {
    for (int b = 0; b < batch; ++b) StepStream(u + static_cast<int64_t>(b) * h_,
                                               state + b * state_floats(), y + static_cast<int64_t>(b) * h_);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int b = 0; b < batch; ++b) {
    StepStream(u + static_cast<int64_t>(b) * h_, state + b * state_floats(),
               y + static_cast<int64_t>(b) * h_);
  }
}

void S4dRecurrence::StepStream(const float* u, float* state, float* y) const {
  const int m = m_;
  for (int h = 0; h < h_; ++h) {
    float* xr = state + static_cast<int64_t>(h) * 2 * m;
    float* xi = xr + m;
    const size_t off = static_cast<size_t>(h) * m;
    const float* ar = ar_.data() + off;
    const float* ai = ai_.data() + off;
    const float* br = br_.data() + off;
    const float* bi = bi_.data() + off;
    const float* cr = cr_.data() + off;
    const float* ci = ci_.data() + off;
    const float ut = u[h];
    float acc = 0.f;
#pragma omp simd reduction(+ : acc)
    for (int n = 0; n < m; ++n) {
      const float r = ar[n] * xr[n] - ai[n] * xi[n] + br[n] * ut;
      const float i = ar[n] * xi[n] + ai[n] * xr[n] + bi[n] * ut;
      xr[n] = r;
      xi[n] = i;
      acc += cr[n] * r - ci[n] * i;
    }
    y[h] = acc;
  }
}

DenseSsm DplrDiscretizeDense(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                             int h) {
  const int m = d.m, n = 2 * m, s = h % d.s;
  const double dt = DtValue(o.dt_transform, p.dt_raw[h]);
  Eigen::VectorXcd lam(n), pf(n), bf(n);
  for (int i = 0; i < m; ++i) {
    const cd l = AFromRaw(o.real_transform, p.a_re_raw[s * m + i], p.a_im[s * m + i]);
    lam(i) = l, lam(m + i) = std::conj(l);
    pf(i) = p.p[s * m + i], pf(m + i) = std::conj(p.p[s * m + i]);
    bf(i) = p.b[s * m + i], bf(m + i) = std::conj(p.b[s * m + i]);
  }
  Eigen::MatrixXcd a = -pf * pf.adjoint();
  a.diagonal() += lam;
  const Eigen::MatrixXcd eye = Eigen::MatrixXcd::Identity(n, n);
  const Eigen::PartialPivLU<Eigen::MatrixXcd> lu(eye - (dt / 2) * a);
  const Eigen::MatrixXcd da = lu.solve(eye + (dt / 2) * a);
  const Eigen::VectorXcd db = lu.solve(dt * bf);
  DenseSsm out;
  out.n = n;
  out.da.resize(static_cast<size_t>(n) * n);
  out.db.resize(n);
  for (int i = 0; i < n; ++i) {
    out.db[i] = db(i);
    for (int j = 0; j < n; ++j) out.da[static_cast<size_t>(i) * n + j] = da(i, j);
  }
  return out;
}

void DplrCTildeFromC(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                     const cd* c, cd* c_tilde) {
  // In the real coordinates r = [Re x; Im x] of the half state (x_f = [x; conj x] = T r with
  // T = [[I, iI], [I, -iI]]) dA becomes the real matrix R = T^-1 dA T = [[Re S, -Im D],
  // [Im S, Re D]], S = dA11 + dA12, D = dA11 - dA12 (dA22 = conj dA11, dA21 = conj dA12 by
  // conjugate symmetry). For c_f = [c; conj c]: c_f^T T = [2 Re c, -2 Im c] =: v (real), and
  // c_f^T dA^L = (v R^L) T^-1, whose first M entries are (w1 - i w2) / 2 for w = v R^L. So
  // C-tilde = c - (w1 - i w2) / 2 with real arithmetic only: floor(log2 L) squarings of the
  // real 2M x 2M matrix R (a quarter of the complex products' work), the vectors multiplied in
  // as the bits of L come. Channels are independent: OpenMP over h, the same result for any
  // thread count.
  const int m = d.m, n = 2 * m;
#pragma omp parallel for schedule(dynamic)
  for (int h = 0; h < d.h; ++h) {
    const DenseSsm s = DplrDiscretizeDense(d, o, p, h);
    const Eigen::MatrixXcd da = ToEigen(s);
    const Eigen::MatrixXcd sum = da.topLeftCorner(m, m) + da.topRightCorner(m, m);
    const Eigen::MatrixXcd dif = da.topLeftCorner(m, m) - da.topRightCorner(m, m);
    Eigen::MatrixXd r(n, n);
    r << sum.real(), -dif.imag(), sum.imag(), dif.real();
    Eigen::MatrixXd w(d.q, n);  // one row per copy of C
    for (int q = 0; q < d.q; ++q) {
      const size_t off = (static_cast<size_t>(q) * d.h + h) * m;
      for (int i = 0; i < m; ++i) w(q, i) = 2 * c[off + i].real(), w(q, m + i) = -2 * c[off + i].imag();
    }
    for (int e = d.l; e > 0; e >>= 1) {
      if (e & 1) w = (w * r).eval();
      if (e > 1) r = (r * r).eval();
    }
    for (int q = 0; q < d.q; ++q) {
      const size_t off = (static_cast<size_t>(q) * d.h + h) * m;
      for (int i = 0; i < m; ++i) c_tilde[off + i] = c[off + i] - cd(w(q, i), -w(q, m + i)) / 2.0;
    }
  }
}

void DplrCFromCTilde(const SsmDims& d, const SsmOptions& o, const SsmParams<double>& p,
                     const cd* c_tilde, cd* c) {
  const int m = d.m;
  for (int h = 0; h < d.h; ++h) {
    const Eigen::PartialPivLU<Eigen::MatrixXcd> lu(OneMinusPowerL(d, o, p, h).transpose());
    for (int q = 0; q < d.q; ++q) {
      const size_t off = (static_cast<size_t>(q) * d.h + h) * m;
      Eigen::VectorXcd ct(2 * m);
      for (int i = 0; i < m; ++i) ct(i) = c_tilde[off + i], ct(m + i) = std::conj(c_tilde[off + i]);
      const Eigen::VectorXcd cf = lu.solve(ct);
      for (int i = 0; i < m; ++i) c[off + i] = cf(i);
    }
  }
}

DplrRecurrence::DplrRecurrence(const SsmDims& d, const SsmOptions& o, const SsmParams<float>& p)
    : h_(d.h), m_(d.m) {
  ABSL_RAW_CHECK(d.q == 1, "DplrRecurrence: only causal (Q = 1) kernels have a recurrence");
  const int m = m_, n = 2 * m;
  // Double copies of the parameters, then the true C from C-tilde.
  const size_t sm = static_cast<size_t>(d.s) * m, hm = static_cast<size_t>(d.h) * m;
  std::vector<double> dt(p.dt_raw, p.dt_raw + d.h), are(p.a_re_raw, p.a_re_raw + sm),
      aim(p.a_im, p.a_im + sm);
  std::vector<cd> b(p.b, p.b + sm), pp(p.p, p.p + sm), ct(p.c, p.c + hm), c(hm);
  SsmParams<double> pd;
  pd.dt_raw = dt.data(), pd.a_re_raw = are.data(), pd.a_im = aim.data(), pd.b = b.data(),
  pd.p = pp.data(), pd.c = ct.data();
  DplrCFromCTilde(d, o, pd, ct.data(), c.data());
  at_.resize(static_cast<size_t>(d.h) * n * n);
  b_.resize(static_cast<size_t>(d.h) * n);
  c_.resize(static_cast<size_t>(d.h) * n);
  for (int h = 0; h < d.h; ++h) {
    const DenseSsm s = DplrDiscretizeDense(d, o, pd, h);
    // The half state x (first M of x_f = [x; conj x]) evolves as x' = A11 x + A12 conj(x) + b u;
    // in real coordinates r = [Re x; Im x]:
    //   Re x' = (Re A11 + Re A12) Re x + (Im A12 - Im A11) Im x + Re b u
    //   Im x' = (Im A11 + Im A12) Re x + (Re A11 - Re A12) Im x + Im b u
    //   y = C_f^T x_f = 2 Re(c^T x) = 2 c_r . Re x - 2 c_i . Im x.
    std::vector<float> ah(static_cast<size_t>(n) * n);  // row-major, transposed below
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < m; ++j) {
        const cd a11 = s.da[static_cast<size_t>(i) * n + j];
        const cd a12 = s.da[static_cast<size_t>(i) * n + m + j];
        ah[static_cast<size_t>(i) * n + j] = static_cast<float>(a11.real() + a12.real());
        ah[static_cast<size_t>(i) * n + m + j] = static_cast<float>(a12.imag() - a11.imag());
        ah[static_cast<size_t>(m + i) * n + j] = static_cast<float>(a11.imag() + a12.imag());
        ah[static_cast<size_t>(m + i) * n + m + j] = static_cast<float>(a11.real() - a12.real());
      }
      b_[static_cast<size_t>(h) * n + i] = static_cast<float>(s.db[i].real());
      b_[static_cast<size_t>(h) * n + m + i] = static_cast<float>(s.db[i].imag());
      const cd ci = c[static_cast<size_t>(h) * m + i];
      c_[static_cast<size_t>(h) * n + i] = static_cast<float>(2 * ci.real());
      c_[static_cast<size_t>(h) * n + m + i] = static_cast<float>(-2 * ci.imag());
    }
    float* at = at_.data() + static_cast<size_t>(h) * n * n;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) at[static_cast<size_t>(j) * n + i] = ah[static_cast<size_t>(i) * n + j];
  }
}

void DplrRecurrence::Step(int batch, const float* u, float* state, float* y) const {
  const int64_t work = static_cast<int64_t>(batch) * h_ * 4 * m_ * m_;
  if (work <= kParallelWork || batch == 1) {
    std::vector<float> next(2 * m_);
    for (int b = 0; b < batch; ++b) {
      StepStream(u + static_cast<int64_t>(b) * h_, state + b * state_floats(),
                 y + static_cast<int64_t>(b) * h_, next.data());
    }
    return;
  }
#pragma omp parallel
  {
    std::vector<float> next(2 * m_);
#pragma omp for schedule(static)
    for (int b = 0; b < batch; ++b) {
      StepStream(u + static_cast<int64_t>(b) * h_, state + b * state_floats(),
                 y + static_cast<int64_t>(b) * h_, next.data());
    }
  }
}

void DplrRecurrence::StepStream(const float* u, float* state, float* y, float* next) const {
  const int n = 2 * m_;
  for (int h = 0; h < h_; ++h) {
    float* x = state + static_cast<int64_t>(h) * n;
    const float* at = at_.data() + static_cast<size_t>(h) * n * n;  // column-major dA
    const float* bh = b_.data() + static_cast<size_t>(h) * n;
    const float* ch = c_.data() + static_cast<size_t>(h) * n;
    const float ut = u[h];
    // next = dA x + dB u as a sum of columns: SIMD over rows, no horizontal reductions.
#pragma omp simd
    for (int i = 0; i < n; ++i) next[i] = bh[i] * ut;
    for (int j = 0; j < n; ++j) {
      const float xj = x[j];
      const float* col = at + static_cast<size_t>(j) * n;
#pragma omp simd
      for (int i = 0; i < n; ++i) next[i] += col[i] * xj;
    }
    float out = 0.f;
#pragma omp simd reduction(+ : out)
    for (int i = 0; i < n; ++i) {
      x[i] = next[i];
      out += ch[i] * next[i];
    }
    y[h] = out;
  }
}

}  // namespace lra::s4

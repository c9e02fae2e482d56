#include "models/s4/ssm_init.h"

#include <algorithm>
#include <cmath>

#include "Eigen/Dense"
#include "absl/base/internal/raw_logging.h"

namespace lra::s4 {
namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

double RealTransformValue(RealTransform t, double raw) {
  switch (t) {
    case RealTransform::kExp:
      return std::exp(raw);
    case RealTransform::kRelu:
      return raw > 0 ? raw : 0.0;
    case RealTransform::kNone:
      return raw;
  }
  return raw;
}

double RealTransformDeriv(RealTransform t, double raw) {
  switch (t) {
    case RealTransform::kExp:
      return std::exp(raw);
    case RealTransform::kRelu:
      return raw > 0 ? 1.0 : 0.0;
    case RealTransform::kNone:
      return 1.0;
  }
  return 1.0;
}

double RealTransformInverse(RealTransform t, double r) {
  return t == RealTransform::kExp ? std::log(r) : r;
}

double DtValue(DtTransform t, double raw) {
  if (t == DtTransform::kExp) return std::exp(raw);
  // softplus, written to not overflow for large raw.
  return raw > 0 ? raw + std::log1p(std::exp(-raw)) : std::log1p(std::exp(raw));
}

double DtDeriv(DtTransform t, double raw) {
  if (t == DtTransform::kExp) return std::exp(raw);
  return 1.0 / (1.0 + std::exp(-raw));  // sigmoid
}

double DtInverse(DtTransform t, double dt) {
  if (t == DtTransform::kExp) return std::log(dt);
  return std::log(std::expm1(dt));  // softplus^-1; dt in [1e-4, 1e-1] is far from overflow
}

void AToRaw(RealTransform t, const std::complex<double>* a, int count, float* a_re_raw,
            float* a_im) {
  for (int i = 0; i < count; ++i) {
    ABSL_RAW_CHECK(a[i].real() < 0 || t != RealTransform::kExp, "Re(A) must be negative");
    a_re_raw[i] = static_cast<float>(RealTransformInverse(t, -a[i].real()));
    a_im[i] = static_cast<float>(-a[i].imag());
  }
}

std::complex<double> AFromRaw(RealTransform t, double a_re_raw, double a_im) {
  return {-RealTransformValue(t, a_re_raw), -a_im};
}

std::vector<double> HippoLegsA(int n) {
  std::vector<double> a(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < i; ++k) a[i * n + k] = -std::sqrt(2.0 * i + 1) * std::sqrt(2.0 * k + 1);
    a[i * n + i] = -(i + 1.0);
  }
  return a;
}

std::vector<double> HippoLegsB(int n) {
  std::vector<double> b(n);
  for (int i = 0; i < n; ++i) b[i] = std::sqrt(2.0 * i + 1);
  return b;
}

std::vector<double> HippoLegsP(int n) {
  std::vector<double> p(n);
  for (int i = 0; i < n; ++i) p[i] = std::sqrt(i + 0.5);
  return p;
}

NplrInit HippoLegsNplr(int n) {
  ABSL_RAW_CHECK(n >= 2 && n % 2 == 0, "HiPPO-LegS NPLR needs an even state size");
  const std::vector<double> a = HippoLegsA(n), b = HippoLegsB(n), p = HippoLegsP(n);
  // S = A + P P^T + I/2 is exactly skew-symmetric (S4 paper, arXiv 2111.00396, Section 3.2 / Appendix C.1); i*S is Hermitian, so a
  // Hermitian solver gives orthonormal V and real mu with S = V diag(-i mu) V*. This avoids a
  // general (non-symmetric) eigensolver, whose eigenvectors would only be unitary up to the
  // conditioning of the problem.
  Eigen::MatrixXcd h(n, n);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < n; ++k) {
      const double s = a[i * n + k] + p[i] * p[k] + (i == k ? 0.5 : 0.0);
      h(i, k) = std::complex<double>(0.0, s);
    }
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXcd> solver(h);
  ABSL_RAW_CHECK(solver.info() == Eigen::Success, "HiPPO-LegS eigendecomposition failed");
  // Eigenvalues ascend; Lambda = -1/2 - i mu, so Im(Lambda) < 0 <=> mu > 0: keep the top half,
  // ordered by Im(Lambda) ascending (mu descending), as the reference sorts them.
  const int m = n / 2;
  NplrInit out;
  out.n_state = n;
  out.lambda.resize(m);
  out.p.assign(m, 0.0);
  out.b.assign(m, 0.0);
  out.v.resize(static_cast<size_t>(n) * m);
  for (int j = 0; j < m; ++j) {
    const int col = n - 1 - j;
    const double mu = solver.eigenvalues()(col);
    ABSL_RAW_CHECK(mu > 1e-8, "HiPPO-LegS: unexpected zero eigenvalue of the normal part");
    out.lambda[j] = {-0.5, -mu};
    for (int i = 0; i < n; ++i) {
      const std::complex<double> vij = solver.eigenvectors()(i, col);
      out.v[static_cast<size_t>(i) * m + j] = vij;
      out.p[j] += std::conj(vij) * p[i];
      out.b[j] += std::conj(vij) * b[i];
    }
  }
  return out;
}

std::vector<std::complex<double>> S4dInitA(DiagInit init, int n_state) {
  ABSL_RAW_CHECK(n_state >= 2 && n_state % 2 == 0, "S4D needs an even state size");
  const int m = n_state / 2;
  const double nn = n_state;
  std::vector<std::complex<double>> a(m);
  if (init == DiagInit::kLegs) return HippoLegsNplr(n_state).lambda;
  for (int i = 0; i < m; ++i) {
    switch (init) {
      case DiagInit::kLin:
        a[i] = {-0.5, -kPi * i};
        break;
      case DiagInit::kInv:
        a[i] = {-0.5, -(nn / kPi) * (nn / (2.0 * i + 1.0) - 1.0)};
        break;
      case DiagInit::kReal:
        a[i] = {-(i + 1.0), 0.0};
        break;
      case DiagInit::kLegs:
        break;
    }
  }
  return a;
}

std::vector<std::complex<double>> S4dInitB(DiagInit init, int n_state) {
  const int m = n_state / 2;
  if (init != DiagInit::kLegs) return std::vector<std::complex<double>>(m, 1.0);
  std::vector<std::complex<double>> b = HippoLegsNplr(n_state).b;
  for (auto& x : b) x = {x.real(), std::clamp(x.imag(), -2.0, 2.0)};
  return b;
}

void InitC(int count, std::mt19937_64& rng, std::complex<float>* c) {
  // Each part N(0, 1/2) so that E|C|^2 = 1 (torch.randn with a complex dtype).
  std::normal_distribution<double> normal(0.0, std::sqrt(0.5));
  for (int i = 0; i < count; ++i) {
    const double re = normal(rng);
    const double im = normal(rng);
    c[i] = {static_cast<float>(re), static_cast<float>(im)};
  }
}

void InitDtRaw(DtTransform t, double dt_min, double dt_max, int count, std::mt19937_64& rng,
               float* dt_raw) {
  ABSL_RAW_CHECK(dt_min > 0 && dt_max >= dt_min, "need 0 < dt_min <= dt_max");
  std::uniform_real_distribution<double> uni(std::log(dt_min), std::log(dt_max));
  for (int i = 0; i < count; ++i) dt_raw[i] = static_cast<float>(DtInverse(t, std::exp(uni(rng))));
}

}  // namespace lra::s4

#include "core/ops/complex.h"

#include <cmath>

#include "core/check.h"
#include "core/parallel.h"

namespace lra {

// Saves nothing.
Var MakeComplex(const Var& re, const Var& im) {
  LRA_CHECK(re.shape() == im.shape()) << "MakeComplex: " << re.shape().ToString() << " vs "
                                      << im.shape().ToString();
  Tensor z = Tensor::Empty(re.shape(), DType::kC64);
  const float* rp = re.value().data<float>();
  const float* ip = im.value().data<float>();
  c64* zp = z.data<c64>();
  for (int64_t i = 0; i < z.numel(); ++i) zp[i] = c64(rp[i], ip[i]);
  return MakeOp("MakeComplex", z, {re, im}, [re, im](const Tensor& dz) {
    const c64* dp = dz.data<c64>();
    Tensor gr = Tensor::Empty(re.shape()), gi = Tensor::Empty(im.shape());
    for (int64_t i = 0; i < dz.numel(); ++i) {
      gr.data<float>()[i] = dp[i].real();
      gi.data<float>()[i] = dp[i].imag();
    }
    if (re.requires_grad()) AccumulateGrad(re, gr);
    if (im.requires_grad()) AccumulateGrad(im, gi);
  });
}

static Var Part(const Var& z, bool imag) {
  LRA_CHECK(z.dtype() == DType::kC64) << "Real/Imag of a float tensor";
  Tensor y = Tensor::Empty(z.shape());
  const c64* zp = z.value().data<c64>();
  float* yp = y.data<float>();
  for (int64_t i = 0; i < y.numel(); ++i) yp[i] = imag ? zp[i].imag() : zp[i].real();
  return MakeOp(imag ? "Imag" : "Real", y, {z}, [z, imag](const Tensor& dy) {
    Tensor g = Tensor::Empty(z.shape(), DType::kC64);
    const float* dp = dy.data<float>();
    c64* gp = g.data<c64>();
    for (int64_t i = 0; i < g.numel(); ++i) gp[i] = imag ? c64(0, dp[i]) : c64(dp[i], 0);
    AccumulateGrad(z, g);
  });
}

Var Real(const Var& z) { return Part(z, false); }
Var Imag(const Var& z) { return Part(z, true); }

// Saves the output y: grad z += dy * conj(y).
Var CExp(const Var& z) {
  LRA_CHECK(z.dtype() == DType::kC64) << "CExp needs c64";
  Tensor y = Tensor::Empty(z.shape(), DType::kC64);
  const c64* zp = z.value().data<c64>();
  c64* yp = y.data<c64>();
  ParallelFor(
      y.numel(), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) yp[i] = std::exp(zp[i]);
      },
      32);
  return MakeOp("CExp", y, {z}, [z, y](const Tensor& dy) {
    Tensor g = Tensor::Empty(z.shape(), DType::kC64);
    const c64* dp = dy.data<c64>();
    const c64* yp = y.data<c64>();
    c64* gp = g.data<c64>();
    ParallelFor(g.numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) gp[i] = dp[i] * std::conj(yp[i]);
    });
    AccumulateGrad(z, g);
  });
}

// Saves a and b: grad a += dy * conj(b); grad b += sum over repeats of dy * conj(a).
Var CMul(const Var& a, const Var& b) {
  LRA_CHECK(a.dtype() == DType::kC64 && b.dtype() == DType::kC64) << "CMul needs c64";
  const int64_t n = a.numel(), m = b.numel();
  LRA_CHECK(m > 0 && n % m == 0 && (a.shape() == b.shape() || a.shape().Cols(a.rank() - b.rank()) == m))
      << "CMul: " << a.shape().ToString() << " * " << b.shape().ToString();
  const int64_t reps = n / m;
  Tensor y = Tensor::Empty(a.shape(), DType::kC64);
  const c64* ap = a.value().data<c64>();
  const c64* bp = b.value().data<c64>();
  c64* yp = y.data<c64>();
  ParallelFor(
      reps, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t j = 0; j < m; ++j) yp[r * m + j] = ap[r * m + j] * bp[j];
      },
      4 * m);
  return MakeOp("CMul", y, {a, b}, [a, b, reps, m](const Tensor& dy) {
    const c64* ap = a.value().data<c64>();
    const c64* bp = b.value().data<c64>();
    const c64* dp = dy.data<c64>();
    if (a.requires_grad()) {
      Tensor g = Tensor::Empty(a.shape(), DType::kC64);
      c64* gp = g.data<c64>();
      ParallelFor(
          reps, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t j = 0; j < m; ++j) gp[r * m + j] = dp[r * m + j] * std::conj(bp[j]);
          },
          4 * m);
      AccumulateGrad(a, g);
    }
    if (b.requires_grad()) {
      Tensor g = Tensor::Zeros(b.shape(), DType::kC64);
      c64* gp = g.data<c64>();
      // Columns split across threads; repeats summed in order (deterministic).
      ParallelFor(
          m, [&](int64_t j0, int64_t j1) {
            for (int64_t r = 0; r < reps; ++r)
              for (int64_t j = j0; j < j1; ++j) gp[j] += dp[r * m + j] * std::conj(ap[r * m + j]);
          },
          4 * reps);
      AccumulateGrad(b, g);
    }
  });
}

}  // namespace lra

// Naive reference loops, templated on the scalar type, used as the test oracle (instantiated
// with double). Row-major, contiguous; shapes are passed explicitly. Deliberately simple: no
// blocking, no parallelism, sums in index order.
#ifndef LRA_CORE_KERNELS_REFERENCE_REFERENCE_H_
#define LRA_CORE_KERNELS_REFERENCE_REFERENCE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace lra {
namespace reference {

// c[b] = op(a[b]) op(b[b]); op(a) is [m, k] (stored [k, m] when ta), op(b) is [k, n].
template <typename T>
std::vector<T> MatMul(const std::vector<T>& a, const std::vector<T>& b, int64_t batch, int64_t m,
                      int64_t n, int64_t k, bool ta, bool tb, bool shared_b = false) {
  std::vector<T> c(batch * m * n, T(0));
  for (int64_t z = 0; z < batch; ++z) {
    const T* ap = a.data() + z * m * k;
    const T* bp = b.data() + (shared_b ? 0 : z * k * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        T s = 0;
        for (int64_t p = 0; p < k; ++p)
          s += (ta ? ap[p * m + i] : ap[i * k + p]) * (tb ? bp[j * k + p] : bp[p * n + j]);
        c[(z * m + i) * n + j] = s;
      }
  }
  return c;
}

template <typename T>
T GeluErf(T x) {
  return T(0.5) * x * (T(1) + std::erf(x / std::sqrt(T(2))));
}

template <typename T>
T GeluTanh(T x) {
  const T c = std::sqrt(T(2) / T(M_PI));
  return T(0.5) * x * (T(1) + std::tanh(c * (x + T(0.044715) * x * x * x)));
}

template <typename T>
T Sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// Softmax over the last axis of [rows, n]; mask (if non-empty, [rows, n], nonzero = keep).
// Fully masked rows give zeros.
template <typename T>
std::vector<T> Softmax(const std::vector<T>& x, int64_t rows, int64_t n,
                       const std::vector<T>& mask = {}) {
  std::vector<T> y(rows * n, T(0));
  for (int64_t r = 0; r < rows; ++r) {
    T mx = -INFINITY;
    bool any = false;
    for (int64_t j = 0; j < n; ++j)
      if (mask.empty() || mask[r * n + j] != T(0)) {
        mx = std::max(mx, x[r * n + j]);
        any = true;
      }
    if (!any) continue;
    T s = 0;
    for (int64_t j = 0; j < n; ++j)
      if (mask.empty() || mask[r * n + j] != T(0)) s += std::exp(x[r * n + j] - mx);
    for (int64_t j = 0; j < n; ++j)
      if (mask.empty() || mask[r * n + j] != T(0)) y[r * n + j] = std::exp(x[r * n + j] - mx) / s;
  }
  return y;
}

// Mean cross-entropy of [b, c] logits.
template <typename T>
T CrossEntropy(const std::vector<T>& logits, const std::vector<int32_t>& labels, int64_t c) {
  const int64_t b = static_cast<int64_t>(labels.size());
  T total = 0;
  for (int64_t i = 0; i < b; ++i) {
    T mx = logits[i * c];
    for (int64_t j = 1; j < c; ++j) mx = std::max(mx, logits[i * c + j]);
    T s = 0;
    for (int64_t j = 0; j < c; ++j) s += std::exp(logits[i * c + j] - mx);
    total += std::log(s) + mx - logits[i * c + labels[i]];
  }
  return total / T(b);
}

// LayerNorm over the last axis of [rows, n] with gain g and bias b (length n).
template <typename T>
std::vector<T> LayerNorm(const std::vector<T>& x, const std::vector<T>& g,
                         const std::vector<T>& b, int64_t rows, int64_t n, T eps) {
  std::vector<T> y(rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    T mean = 0, var = 0;
    for (int64_t j = 0; j < n; ++j) mean += x[r * n + j];
    mean /= T(n);
    for (int64_t j = 0; j < n; ++j) var += (x[r * n + j] - mean) * (x[r * n + j] - mean);
    var /= T(n);
    const T rstd = T(1) / std::sqrt(var + eps);
    for (int64_t j = 0; j < n; ++j) y[r * n + j] = (x[r * n + j] - mean) * rstd * g[j] + b[j];
  }
  return y;
}

}  // namespace reference
}  // namespace lra

#endif  // LRA_CORE_KERNELS_REFERENCE_REFERENCE_H_

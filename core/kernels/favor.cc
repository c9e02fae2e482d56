#include "core/kernels/favor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "Eigen/Core"
#include "Eigen/QR"
#include "absl/base/internal/raw_logging.h"
#include "core/kernels/strided_view.h"

namespace lra {
namespace kernels {
namespace {

void Check(const FavorShape& s, const int* lengths) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.length >= 1 && s.heads >= 1 && s.head_dim >= 1 &&
                     s.features >= 1,
                 "FavorFeatures: batch, length, heads, head_dim and features must be >= 1");
  if (lengths)
    for (int b = 0; b < s.batch; ++b)
      ABSL_RAW_CHECK(lengths[b] >= 0 && lengths[b] <= s.length,
                     "FavorFeatures: lengths[b] must lie in [0, L]");
}

// One (b, head): U = c X W^T over `rows` rows, g_i = c^2 |x_i|^2 / 2, the exponent
// E = U - g - M (M per row for queries, one max for keys) and the argmax of each max.
struct Head {
  RowMat u;                    // [rows, m]: u, then exp(u - g - M) in place
  Eigen::VectorXi arg_row;     // queries: argmax column per row; keys: [row, column]
};

Head Exponent(const FavorShape& s, const float* x, const float* w, int rows, bool is_query) {
  const int d = s.head_dim, m = s.features;
  const float c = 1.0f / std::sqrt(std::sqrt(static_cast<float>(d)));
  const ConstMatView xv = View(x, rows, d, int64_t{s.heads} * d);
  const ConstMatView wv = View(w, m, d, d);
  Head h;
  h.u.noalias() = c * (xv * wv.transpose());
  const Eigen::VectorXf g = xv.rowwise().squaredNorm() * (c * c / 2.0f);
  if (is_query) {
    h.arg_row.resize(rows);
    for (int i = 0; i < rows; ++i) {
      int r;
      const float mx = h.u.row(i).maxCoeff(&r);
      h.arg_row[i] = r;
      h.u.row(i).array() = (h.u.row(i).array() - g[i] - mx).exp();
    }
  } else {
    // The first argmax in row-major order, as jax's flat argmax.
    float mx = -INFINITY;
    int bi = 0, br = 0;
    for (int i = 0; i < rows; ++i)
      for (int e = 0; e < s.features; ++e)
        if (h.u(i, e) > mx) {
          mx = h.u(i, e);
          bi = i;
          br = e;
        }
    h.arg_row.resize(2);
    h.arg_row << bi, br;
    h.u.array().colwise() -= g.array();
    h.u.array() = (h.u.array() - mx).exp();
  }
  return h;
}

template <typename Fn>
void ForEachHead(const FavorShape& s, const int* lengths, bool is_query, Fn fn) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < int64_t{s.batch} * s.heads; ++t) {
    const int b = static_cast<int>(t / s.heads), h = static_cast<int>(t % s.heads);
    const int rows = is_query || !lengths ? s.length : lengths[b];
    fn(b, rows, int64_t{b} * s.length * s.heads + h);  // (b, 0, h) as a row of [B*L*heads]
  }
}

}  // namespace

void FavorFeaturesForward(const FavorShape& s, const float* x, const float* w,
                          int64_t w_batch_stride, const int* lengths, bool is_query,
                          float* features) {
  Check(s, lengths);
  const int d = s.head_dim, m = s.features;
  const float rho = 1.0f / std::sqrt(static_cast<float>(m));
  ForEachHead(s, lengths, is_query, [&](int b, int rows, int64_t row0) {
    MatView f = View(features + row0 * m, s.length, m, int64_t{s.heads} * m);
    if (rows > 0) {
      const Head h = Exponent(s, x + row0 * d, w + b * w_batch_stride, rows, is_query);
      f.topRows(rows) = rho * (h.u.array() + kFavorEps).matrix();
    }
    f.bottomRows(s.length - rows).setZero();
  });
}

void FavorFeaturesBackward(const FavorShape& s, const float* x, const float* w,
                           int64_t w_batch_stride, const int* lengths, bool is_query,
                           const float* dfeatures, float* dx) {
  Check(s, lengths);
  const int d = s.head_dim, m = s.features;
  const float rho = 1.0f / std::sqrt(static_cast<float>(m));
  const float c = 1.0f / std::sqrt(std::sqrt(static_cast<float>(d)));
  ForEachHead(s, lengths, is_query, [&](int b, int rows, int64_t row0) {
    MatView dxv = View(dx + row0 * d, s.length, d, int64_t{s.heads} * d);
    dxv.bottomRows(s.length - rows).setZero();
    if (rows == 0) return;
    const float* wb = w + b * w_batch_stride;
    const Head h = Exponent(s, x + row0 * d, wb, rows, is_query);
    // A = dphi * rho e: the gradient of the exponent u - g - M.
    RowMat a = View(dfeatures + row0 * m, rows, m, int64_t{s.heads} * m).cwiseProduct(h.u) * rho;
    const Eigen::VectorXf dg = -a.rowwise().sum();  // d/dg_i
    if (is_query) {
      for (int i = 0; i < rows; ++i) a(i, h.arg_row[i]) += dg[i];  // M_i = u_i,arg
    } else {
      a(h.arg_row[0], h.arg_row[1]) += dg.sum();  // M = u at the argmax
    }
    const ConstMatView xv = View(x + row0 * d, rows, d, int64_t{s.heads} * d);
    // du/dx = c w_r, dg/dx = c^2 x.
    dxv.topRows(rows).noalias() = c * (a * View(wb, m, d, d));
    dxv.topRows(rows) += (dg * (c * c)).asDiagonal() * xv;
  });
}

void OrthogonalRandomMatrix(int m, int d, const float* blocks, const float* norms, float* w) {
  ABSL_RAW_CHECK(m >= 1 && d >= 1, "OrthogonalRandomMatrix: features and head_dim must be >= 1");
  for (int r0 = 0, blk = 0; r0 < m; r0 += d, ++blk) {
    const Eigen::MatrixXd g =
        View(blocks + int64_t{blk} * d * d, d, d, d).cast<double>();
    const Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(g).householderQ();
    for (int r = r0; r < std::min(m, r0 + d); ++r)
      for (int e = 0; e < d; ++e) w[int64_t{r} * d + e] = static_cast<float>(q(e, r - r0));
  }
  for (int r = 0; r < m; ++r) {
    const float n = View(norms + int64_t{r} * d, 1, d, d).norm();
    for (int e = 0; e < d; ++e) w[int64_t{r} * d + e] *= n;
  }
}

}  // namespace kernels
}  // namespace lra

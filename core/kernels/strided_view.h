// Eigen views of row-major float matrices stored in place with a row stride, as the attention
// kernels read one (batch, head) slice of a [B, L, heads, d] array (stride heads * d).
#ifndef LRA_CORE_KERNELS_STRIDED_VIEW_H_
#define LRA_CORE_KERNELS_STRIDED_VIEW_H_

#include <cstdint>

#include "Eigen/Core"

namespace lra {
namespace kernels {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatView = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstMatView = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;

inline MatView View(float* p, int rows, int cols, int64_t stride) {
  return MatView(p, rows, cols, Eigen::OuterStride<>(stride));
}
inline ConstMatView View(const float* p, int rows, int cols, int64_t stride) {
  return ConstMatView(p, rows, cols, Eigen::OuterStride<>(stride));
}

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_STRIDED_VIEW_H_

#include "core/ops/shape_ops.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "core/parallel.h"

namespace lra {
namespace {

// Copies x (shape `in`) into y permuted: y[idx] = x[idx permuted back]. Element size es bytes.
void PermuteCopy(const char* xp, const Shape& in, const std::vector<int>& perm, char* yp,
                 size_t es) {
  const int rank = in.rank();
  std::vector<int64_t> in_stride(rank, 1);
  for (int d = rank - 2; d >= 0; --d) in_stride[d] = in_stride[d + 1] * in[d + 1];
  std::vector<int64_t> out_dims(rank), src_stride(rank);
  for (int d = 0; d < rank; ++d) {
    out_dims[d] = in[perm[d]];
    src_stride[d] = in_stride[perm[d]];
  }
  const int64_t n = in.numel();
  if (n == 0) return;
  const int64_t inner = rank ? out_dims[rank - 1] : 1;
  const int64_t inner_stride = rank ? src_stride[rank - 1] : 1;
  const int64_t rows = n / inner;
  ParallelFor(
      rows, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          int64_t rem = r, off = 0;
          for (int d = rank - 2; d >= 0; --d) {
            off += (rem % out_dims[d]) * src_stride[d];
            rem /= out_dims[d];
          }
          char* dst = yp + r * inner * es;
          if (inner_stride == 1) {
            std::memcpy(dst, xp + off * es, inner * es);
          } else if (es == 4) {
            const float* s = reinterpret_cast<const float*>(xp) + off;
            float* o = reinterpret_cast<float*>(dst);
            for (int64_t j = 0; j < inner; ++j) o[j] = s[j * inner_stride];
          } else {
            for (int64_t j = 0; j < inner; ++j)
              std::memcpy(dst + j * es, xp + (off + j * inner_stride) * es, es);
          }
        }
      },
      inner * 4);
}

char* Bytes(Tensor& t) {
  return t.dtype() == DType::kF32 ? reinterpret_cast<char*>(t.data<float>())
                                  : reinterpret_cast<char*>(t.data<c64>());
}
const char* Bytes(const Tensor& t) {
  return t.dtype() == DType::kF32 ? reinterpret_cast<const char*>(t.data<float>())
                                  : reinterpret_cast<const char*>(t.data<c64>());
}

}  // namespace

// Saves nothing: the gradient is dout reshaped back.
Var Reshape(const Var& x, const std::vector<int64_t>& dims) {
  Tensor y = x.value().Reshape(dims);
  return MakeOp("Reshape", y, {x}, [x](const Tensor& dy) {
    AccumulateGrad(x, dy.ReshapeTo(x.shape()));
  });
}

// Saves nothing: the gradient is dout permuted by the inverse permutation.
Var Permute(const Var& x, const std::vector<int>& perm) {
  const int rank = x.rank();
  LRA_CHECK(static_cast<int>(perm.size()) == rank) << "Permute: perm size vs " << x.shape().ToString();
  std::vector<int> inv(rank, -1);
  std::vector<int64_t> od(rank);
  for (int d = 0; d < rank; ++d) {
    LRA_CHECK(perm[d] >= 0 && perm[d] < rank && inv[perm[d]] < 0) << "Permute: bad perm";
    inv[perm[d]] = d;
    od[d] = x.dim(perm[d]);
  }
  Tensor y = Tensor::Empty(Shape(od), x.dtype());
  PermuteCopy(Bytes(x.value()), x.shape(), perm, Bytes(y), DTypeSize(x.dtype()));
  return MakeOp("Permute", y, {x}, [x, inv](const Tensor& dy) {
    Tensor g = Tensor::Empty(x.shape(), x.dtype());
    PermuteCopy(Bytes(dy), dy.shape(), inv, Bytes(g), DTypeSize(dy.dtype()));
    AccumulateGrad(x, g);
  });
}

Var Transpose(const Var& x, int axis0, int axis1) {
  std::vector<int> perm(x.rank());
  for (int d = 0; d < x.rank(); ++d) perm[d] = d;
  std::swap(perm[x.shape().Axis(axis0)], perm[x.shape().Axis(axis1)]);
  return Permute(x, perm);
}

// Saves the split sizes: each input's gradient is its slice of dout.
Var Concat(const std::vector<Var>& xs, int axis) {
  LRA_CHECK(!xs.empty()) << "Concat of nothing";
  const Shape& s0 = xs[0].shape();
  const int ax = s0.Axis(axis);
  const int64_t outer = s0.Rows(ax);
  std::vector<int64_t> widths;  // elements per outer index, per input
  int64_t total = 0, axis_len = 0;
  for (const Var& x : xs) {
    LRA_CHECK(x.rank() == s0.rank() && x.dtype() == xs[0].dtype()) << "Concat: rank/dtype";
    for (int d = 0; d < s0.rank(); ++d)
      if (d != ax)
        LRA_CHECK(x.dim(d) == s0[d]) << "Concat: " << x.shape().ToString() << " vs "
                                     << s0.ToString();
    widths.push_back(x.shape().Cols(ax));
    total += widths.back();
    axis_len += x.dim(ax);
  }
  std::vector<int64_t> od = s0.ToVector();
  od[ax] = axis_len;
  Tensor y = Tensor::Empty(Shape(od), xs[0].dtype());
  const size_t es = DTypeSize(y.dtype());
  char* yp = Bytes(y);
  int64_t col = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    const char* xp = Bytes(xs[k].value());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(yp + (o * total + col) * es, xp + o * widths[k] * es, widths[k] * es);
    col += widths[k];
  }
  return MakeOp("Concat", y, xs, [xs, widths, outer, total, es](const Tensor& dy) {
    const char* dp = Bytes(dy);
    int64_t col = 0;
    for (size_t k = 0; k < xs.size(); ++k) {
      if (xs[k].requires_grad()) {
        Tensor g = Tensor::Empty(xs[k].shape(), dy.dtype());
        char* gp = Bytes(g);
        for (int64_t o = 0; o < outer; ++o)
          std::memcpy(gp + o * widths[k] * es, dp + (o * total + col) * es, widths[k] * es);
        AccumulateGrad(xs[k], g);
      }
      col += widths[k];
    }
  });
}

// Saves the offsets: dx is zero except dout placed at the slice.
Var Slice(const Var& x, int axis, int64_t start, int64_t length) {
  const int ax = x.shape().Axis(axis);
  LRA_CHECK(start >= 0 && length >= 0 && start + length <= x.dim(ax))
      << "Slice [" << start << ", " << start + length << ") of axis " << ax << " in "
      << x.shape().ToString();
  const int64_t outer = x.shape().Rows(ax), len = x.dim(ax);
  const int64_t inner = len ? x.shape().Cols(ax) / len : 0;
  std::vector<int64_t> od = x.shape().ToVector();
  od[ax] = length;
  Tensor y = Tensor::Empty(Shape(od), x.dtype());
  const size_t es = DTypeSize(x.dtype());
  const char* xp = Bytes(x.value());
  char* yp = Bytes(y);
  const int64_t width = length * inner;  // elements per outer index
  ParallelFor(
      outer,
      [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o)
          std::memcpy(yp + o * width * es, xp + (o * len + start) * inner * es, width * es);
      },
      std::max<int64_t>(width, 1));
  return MakeOp("Slice", y, {x}, [x, outer, len, inner, start, length, es](const Tensor& dy) {
    Tensor& g = x.GradForAccumulate();
    // Each element of the gradient gets one add, so splitting the rows over threads changes
    // no bits.
    auto accumulate = [&](auto* gp, const auto* dp) {
      const int64_t width = length * inner;
      ParallelFor(
          outer,
          [&](int64_t o0, int64_t o1) {
            for (int64_t o = o0; o < o1; ++o)
              for (int64_t i = 0; i < width; ++i)
                gp[(o * len + start) * inner + i] += dp[o * width + i];
          },
          std::max<int64_t>(width, 1));
    };
    if (g.dtype() == DType::kF32) {
      accumulate(g.data<float>(), dy.data<float>());
    } else {
      accumulate(g.data<c64>(), dy.data<c64>());
    }
  });
}

}  // namespace lra

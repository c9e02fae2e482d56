#include "core/ops/elementwise.h"

#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/kernels/vmath/vmath.h"
#include "core/ops/unary_internal.h"
#include "core/parallel.h"

namespace lra {
namespace {

// Strides of `s` aligned to an output of rank `rank`, 0 where s broadcasts.
std::vector<int64_t> BroadcastStrides(const Shape& s, int rank, const Shape& out) {
  std::vector<int64_t> st(rank, 0);
  int64_t stride = 1;
  for (int i = s.rank() - 1, o = rank - 1; i >= 0; --i, --o) {
    st[o] = (s[i] == 1 && out[o] != 1) ? 0 : stride;
    stride *= s[i];
  }
  return st;
}

enum class Kind { kSame, kScalarB, kScalarA, kSuffixB, kSuffixA, kGeneral };

// Is `s` a suffix of `out` (ignoring leading 1s in s)?
bool IsSuffix(const Shape& s, const Shape& out) {
  int i = s.rank() - 1, o = out.rank() - 1;
  for (; i >= 0; --i, --o) {
    if (o < 0) return false;
    if (s[i] != out[o]) {
      // Leading 1s of s are fine only if everything before is also 1.
      for (int j = i; j >= 0; --j)
        if (s[j] != 1) return false;
      return true;
    }
  }
  return true;
}

Kind Classify(const Shape& a, const Shape& b, const Shape& out) {
  if (a == out && b == out) return Kind::kSame;
  if (a.numel() == out.numel() && b.numel() == 1) return Kind::kScalarB;
  if (b.numel() == out.numel() && a.numel() == 1) return Kind::kScalarA;
  if (a.numel() == out.numel() && IsSuffix(b, out)) return Kind::kSuffixB;
  if (b.numel() == out.numel() && IsSuffix(a, out)) return Kind::kSuffixA;
  return Kind::kGeneral;
}

// out[i] = f(a[ia(i)], b[ib(i)]) over the broadcast index maps.
template <typename F>
Tensor BinaryForward(const Tensor& a, const Tensor& b, const Shape& out_shape, F f) {
  Tensor out = Tensor::Empty(out_shape);
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* op = out.data<float>();
  const int64_t n = out.numel();
  switch (Classify(a.shape(), b.shape(), out_shape)) {
    case Kind::kSame:
      // omp simd here and below: -O2's cost model leaves loops that need a remainder scalar;
      // f is one operation per element, so vector and scalar give the same bits.
      ParallelFor(n, [&](int64_t s, int64_t e) {
#pragma omp simd
        for (int64_t i = s; i < e; ++i) op[i] = f(ap[i], bp[i]);
      });
      break;
    case Kind::kScalarB: {
      const float bv = bp[0];
      ParallelFor(n, [&](int64_t s, int64_t e) {
#pragma omp simd
        for (int64_t i = s; i < e; ++i) op[i] = f(ap[i], bv);
      });
      break;
    }
    case Kind::kScalarA: {
      const float av = ap[0];
      ParallelFor(n, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) op[i] = f(av, bp[i]);
      });
      break;
    }
    case Kind::kSuffixB: {
      const int64_t m = b.numel(), rows = n / m;
      ParallelFor(
          rows, [&](int64_t s, int64_t e) {
            for (int64_t r = s; r < e; ++r)
#pragma omp simd
              for (int64_t j = 0; j < m; ++j) op[r * m + j] = f(ap[r * m + j], bp[j]);
          },
          m);
      break;
    }
    case Kind::kSuffixA: {
      const int64_t m = a.numel(), rows = n / m;
      ParallelFor(
          rows, [&](int64_t s, int64_t e) {
            for (int64_t r = s; r < e; ++r)
              for (int64_t j = 0; j < m; ++j) op[r * m + j] = f(ap[j], bp[r * m + j]);
          },
          m);
      break;
    }
    case Kind::kGeneral: {
      const int rank = out_shape.rank();
      const auto sa = BroadcastStrides(a.shape(), rank, out_shape);
      const auto sb = BroadcastStrides(b.shape(), rank, out_shape);
      const int64_t inner = rank ? out_shape[rank - 1] : 1;
      const int64_t rows = n / (inner ? inner : 1);
      const int64_t ia_in = rank ? sa[rank - 1] : 0, ib_in = rank ? sb[rank - 1] : 0;
      ParallelFor(
          rows, [&](int64_t s, int64_t e) {
            for (int64_t r = s; r < e; ++r) {
              // Decompose the row index into the outer dims.
              int64_t rem = r, oa = 0, ob = 0;
              for (int d = rank - 2; d >= 0; --d) {
                const int64_t idx = rem % out_shape[d];
                rem /= out_shape[d];
                oa += idx * sa[d];
                ob += idx * sb[d];
              }
              for (int64_t j = 0; j < inner; ++j)
                op[r * inner + j] = f(ap[oa + j * ia_in], bp[ob + j * ib_in]);
            }
          },
          inner * 2);
      break;
    }
  }
  return out;
}

// Adds src (full output shape) into the gradient of v (possibly broadcast).
void AccumulateReduced(const Var& v, const Tensor& full) {
  if (v.shape() == full.shape()) {
    AccumulateGrad(v, full);
  } else {
    AccumulateGrad(v, SumToShape(full, v.shape()));
  }
}

}  // namespace

Shape BroadcastShapes(const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> d(rank);
  for (int o = rank - 1, i = a.rank() - 1, j = b.rank() - 1; o >= 0; --o, --i, --j) {
    const int64_t x = i >= 0 ? a[i] : 1, y = j >= 0 ? b[j] : 1;
    LRA_CHECK(x == y || x == 1 || y == 1)
        << "cannot broadcast " << a.ToString() << " with " << b.ToString();
    d[o] = x == 1 ? y : x;
  }
  return Shape(d);
}

Tensor SumToShape(const Tensor& src, const Shape& shape) {
  const Shape& full = src.shape();
  Tensor out = Tensor::Zeros(shape);
  float* op = out.data<float>();
  const float* sp = src.data<float>();
  const int64_t n = src.numel();
  if (shape.numel() == 1) {
    op[0] = static_cast<float>(ReduceBlocks(n, 4096, [&](int64_t b, int64_t e) {
      double s = 0;
      for (int64_t i = b; i < e; ++i) s += sp[i];
      return s;
    }));
    return out;
  }
  if (IsSuffix(shape, full)) {
    // Column sums over fixed row blocks, combined in block order.
    const int64_t m = shape.numel(), rows = n / m;
    constexpr int64_t kBlock = 256;
    const int64_t nb = (rows + kBlock - 1) / kBlock;
    std::vector<float> part(nb * m, 0.0f);
    ParallelFor(
        nb, [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) {
            float* p = part.data() + b * m;
            for (int64_t r = b * kBlock; r < std::min(rows, (b + 1) * kBlock); ++r)
#pragma omp simd
              for (int64_t j = 0; j < m; ++j) p[j] += sp[r * m + j];
          }
        },
        kBlock * m);
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t j = 0; j < m; ++j) op[j] += part[b * m + j];
    return out;
  }
  // General case: one sequential pass (deterministic; used for rare shapes).
  const int rank = full.rank();
  const auto st = BroadcastStrides(shape, rank, full);
  std::vector<int64_t> idx(rank, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    op[off] += sp[i];
    for (int d = rank - 1; d >= 0; --d) {
      off += st[d];
      if (++idx[d] < full[d]) break;
      off -= st[d] * full[d];
      idx[d] = 0;
    }
  }
  return out;
}

// Add/Sub save nothing; Mul saves both operands; Div saves b and the output.
Var Add(const Var& a, const Var& b) {
  const Shape out = BroadcastShapes(a.shape(), b.shape());
  Tensor y = BinaryForward(a.value(), b.value(), out, [](float x, float z) { return x + z; });
  return MakeOp("Add", y, {a, b}, [a, b](const Tensor& dy) {
    if (a.requires_grad()) AccumulateReduced(a, dy);
    if (b.requires_grad()) AccumulateReduced(b, dy);
  });
}

Var Sub(const Var& a, const Var& b) {
  const Shape out = BroadcastShapes(a.shape(), b.shape());
  Tensor y = BinaryForward(a.value(), b.value(), out, [](float x, float z) { return x - z; });
  return MakeOp("Sub", y, {a, b}, [a, b](const Tensor& dy) {
    if (a.requires_grad()) AccumulateReduced(a, dy);
    if (b.requires_grad()) {
      Tensor neg = BinaryForward(dy, dy, dy.shape(), [](float x, float) { return -x; });
      AccumulateReduced(b, neg);
    }
  });
}

Var Mul(const Var& a, const Var& b) {
  const Shape out = BroadcastShapes(a.shape(), b.shape());
  Tensor y = BinaryForward(a.value(), b.value(), out, [](float x, float z) { return x * z; });
  return MakeOp("Mul", y, {a, b}, [a, b](const Tensor& dy) {
    if (a.requires_grad())
      AccumulateReduced(a, BinaryForward(dy, b.value(), dy.shape(),
                                         [](float g, float z) { return g * z; }));
    if (b.requires_grad())
      AccumulateReduced(b, BinaryForward(dy, a.value(), dy.shape(),
                                         [](float g, float x) { return g * x; }));
  });
}

Var Div(const Var& a, const Var& b) {
  const Shape out = BroadcastShapes(a.shape(), b.shape());
  Tensor y = BinaryForward(a.value(), b.value(), out, [](float x, float z) { return x / z; });
  return MakeOp("Div", y, {a, b}, [a, b, y](const Tensor& dy) {
    if (a.requires_grad())
      AccumulateReduced(a, BinaryForward(dy, b.value(), dy.shape(),
                                         [](float g, float z) { return g / z; }));
    if (b.requires_grad()) {
      // d(a/b)/db = -y / b.
      Tensor gy = BinaryForward(dy, y, dy.shape(), [](float g, float v) { return -g * v; });
      AccumulateReduced(b, BinaryForward(gy, b.value(), dy.shape(),
                                         [](float g, float z) { return g / z; }));
    }
  });
}

using ops_internal::Unary;

Var Scale(const Var& x, float s) {
  return Unary("Scale", x, [s](float v) { return s * v; }, [s](float, float) { return s; }, 1);
}
Var AddScalar(const Var& x, float s) {
  return Unary("AddScalar", x, [s](float v) { return v + s; }, [](float, float) { return 1.0f; },
               1);
}
Var Neg(const Var& x) {
  return Unary("Neg", x, [](float v) { return -v; }, [](float, float) { return -1.0f; }, 1);
}
Var Exp(const Var& x) {
  return Unary("Exp", x, vmath::Exp, [](float, float y) { return y; });
}
Var Log(const Var& x) {
  return Unary("Log", x, [](float v) { return std::log(v); },
               [](float v, float) { return 1.0f / v; });
}
Var Tanh(const Var& x) {
  return Unary("Tanh", x, vmath::Tanh,
               [](float, float y) { return 1.0f - y * y; });
}
Var Sigmoid(const Var& x) {
  return Unary("Sigmoid", x, vmath::Sigmoid,
               [](float, float y) { return y * (1.0f - y); });
}
Var Square(const Var& x) {
  return Unary("Square", x, [](float v) { return v * v; },
               [](float v, float) { return 2.0f * v; }, 1);
}
Var Sqrt(const Var& x) {
  return Unary("Sqrt", x, [](float v) { return std::sqrt(v); },
               [](float, float y) { return 0.5f / y; });
}

// Sum saves nothing (the gradient is dout broadcast).
Var Sum(const Var& x) {
  Tensor y = SumToShape(x.value(), Shape{});
  return MakeOp("Sum", y, {x}, [x](const Tensor& dy) {
    Tensor g = Tensor::Full(x.shape(), dy.data<float>()[0]);
    AccumulateGrad(x, g);
  });
}

Var Mean(const Var& x) {
  const float inv = 1.0f / static_cast<float>(std::max<int64_t>(1, x.numel()));
  return Scale(Sum(x), inv);
}

Var SumAxis(const Var& x, int axis, bool keepdim) {
  const int ax = x.shape().Axis(axis);
  const int64_t outer = x.shape().Rows(ax), len = x.dim(ax), inner = x.shape().Cols(ax) / len;
  std::vector<int64_t> kd = x.shape().ToVector();
  kd[ax] = 1;
  std::vector<int64_t> od = kd;
  if (!keepdim) od.erase(od.begin() + ax);
  Tensor y = Tensor::Empty(Shape(od));
  const float* xp = x.value().data<float>();
  float* yp = y.data<float>();
  ParallelFor(
      outer, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) {
          float* dst = yp + o * inner;
          for (int64_t j = 0; j < inner; ++j) dst[j] = 0.0f;
          for (int64_t l = 0; l < len; ++l) {
            const float* src = xp + (o * len + l) * inner;
            for (int64_t j = 0; j < inner; ++j) dst[j] += src[j];
          }
        }
      },
      len * inner);
  return MakeOp("SumAxis", y, {x}, [x, outer, len, inner](const Tensor& dy) {
    bool ow;
    Tensor& g = x.GradForWrite(&ow);
    float* gp = g.data<float>();
    const float* dp = dy.data<float>();
    ParallelFor(
        outer, [&](int64_t o0, int64_t o1) {
          for (int64_t o = o0; o < o1; ++o)
            for (int64_t l = 0; l < len; ++l) {
              float* dst = gp + (o * len + l) * inner;
              const float* src = dp + o * inner;
              if (ow) {
                for (int64_t j = 0; j < inner; ++j) dst[j] = src[j];
              } else {
                for (int64_t j = 0; j < inner; ++j) dst[j] += src[j];
              }
            }
        },
        len * inner);
  });
}

}  // namespace lra

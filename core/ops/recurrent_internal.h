// Internal to ssm.cc and rnn.cc: a gradient buffer a backward pass can overwrite, a transpose;
// ssm.cc's switch for testing its portable kernels.
#ifndef LRA_CORE_OPS_RECURRENT_INTERNAL_H_
#define LRA_CORE_OPS_RECURRENT_INTERNAL_H_

#include <cstdint>

#include "core/tape.h"

namespace lra {
namespace recurrent_internal {

// For an input v (which may be undefined or need no gradient) and its shape: data() is a
// buffer the caller fills completely; when this is v's first gradient it is v's gradient
// itself (no temporary, no copy), otherwise a temporary that Finish() adds in.
class GradBuffer {
 public:
  GradBuffer(const Var& v, const Shape& shape) : v_(v) {
    if (v.defined() && v.requires_grad()) {
      bool overwrite;
      Tensor& g = v.GradForWrite(&overwrite);
      if (overwrite) {
        buf_ = g;  // shares the gradient's storage
        direct_ = true;
        return;
      }
    }
    buf_ = Tensor::Empty(shape);
  }
  float* data() { return buf_.data<float>(); }
  void Finish() {
    if (!direct_ && v_.defined() && v_.requires_grad()) AddInto(v_.GradForAccumulate(), buf_);
  }

 private:
  Var v_;
  Tensor buf_;
  bool direct_ = false;
};

// w [k, n] -> a new [n, k] tensor.
inline Tensor Transposed2d(const Tensor& w) {
  const int64_t k = w.dim(0), n = w.dim(1);
  Tensor t = Tensor::Empty({n, k});
  const float* src = w.data<float>();
  float* dst = t.data<float>();
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) dst[j * k + i] = src[i * n + j];
  return t;
}

}  // namespace recurrent_internal

namespace ssm_internal {
// Tests only: false makes ssm.cc take its portable kernels (the ones CPUs without AVX-512 run)
// instead of its AVX-512-only ones (the VSCALEFPS exp), so a test can compare the two on one
// machine. Not for use while another thread runs the ops.
void SetAvx512ForTesting(bool allowed);

// out[r * per + i] = sum over p in [0, parts), in that order, of part[(r * parts + p) * per + i],
// for r in [0, rows): the fixed-order sum of per-item partial gradients (SelectiveScan's dB and
// dC). One parallel region over all rows x per elements, so the result is the same for any
// thread count.
void SumPartsRows(const float* part, int64_t rows, int64_t parts, int64_t per, float* out);
}  // namespace ssm_internal
}  // namespace lra

#endif  // LRA_CORE_OPS_RECURRENT_INTERNAL_H_

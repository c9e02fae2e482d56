#include "models/rnn/reverse.h"

#include <algorithm>
#include <vector>

#include "core/ops/ops.h"

namespace lra::models {

Var ReverseWithinLengths(const Var& x, const int32_t* lengths) {
  const int64_t b = x.shape().dim(0), l = x.shape().dim(1);
  const int64_t f = b * l == 0 ? 0 : x.numel() / (b * l);
  std::vector<int32_t> ids(static_cast<size_t>(b * l));
  for (int64_t i = 0; i < b; ++i) {
    const int64_t n = lengths ? std::clamp<int64_t>(lengths[i], 0, l) : l;
    for (int64_t t = 0; t < l; ++t)
      ids[i * l + t] = static_cast<int32_t>(i * l + (t < n ? n - 1 - t : t));
  }
  std::vector<int64_t> dims(x.shape().rank());
  for (int a = 0; a < x.shape().rank(); ++a) dims[a] = x.shape().dim(a);
  Var rows = Embedding(Reshape(x, {b * l, f}), ids, Shape{b * l});
  return Reshape(rows, dims);
}

}  // namespace lra::models

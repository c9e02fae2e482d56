#include "core/ops/embedding.h"

#include <cstring>

#include "core/check.h"
#include "core/parallel.h"

namespace lra {
namespace {

// dst[j] += src[j]. dy and the table's gradient are distinct tensors; so the add vectorizes (the
// loop inline in the lambda stayed scalar: 1.4% of S4D's training step at L = 1K).
void AddRow(const float* __restrict__ src, int64_t n, float* __restrict__ dst) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) dst[j] += src[j];
}

}  // namespace

// Saves the ids (a copy of the int vector): dtable[id] += dy[i].
Var Embedding(const Var& table, const std::vector<int32_t>& ids, const Shape& ids_shape) {
  LRA_CHECK(table.rank() == 2) << "Embedding: table " << table.shape().ToString();
  const int64_t v = table.dim(0), h = table.dim(1), n = ids_shape.numel();
  LRA_CHECK(static_cast<int64_t>(ids.size()) == n)
      << "Embedding: " << ids.size() << " ids for shape " << ids_shape.ToString();
  for (int32_t id : ids) LRA_CHECK(id >= 0 && id < v) << "Embedding: id " << id << " not in [0, " << v << ")";
  std::vector<int64_t> od = ids_shape.ToVector();
  od.push_back(h);
  Tensor y = Tensor::Empty(Shape(od));
  const float* tp = table.value().data<float>();
  float* yp = y.data<float>();
  ParallelFor(
      n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) std::memcpy(yp + i * h, tp + int64_t{ids[i]} * h, h * 4);
      },
      h);
  return MakeOp("Embedding", y, {table}, [table, ids, n, h](const Tensor& dy) {
    Tensor& g = table.GradForAccumulate();
    float* gp = g.data<float>();
    const float* dp = dy.data<float>();
    // Split columns across threads; each column is summed over ids in index order.
    ParallelFor(
        h, [&](int64_t c0, int64_t c1) {
          for (int64_t i = 0; i < n; ++i)
            AddRow(dp + i * h + c0, c1 - c0, gp + int64_t{ids[i]} * h + c0);
        },
        n);
  });
}

}  // namespace lra

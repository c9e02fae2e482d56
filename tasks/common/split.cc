#include "tasks/common/split.h"

#include <numeric>
#include <utility>

namespace lra::tasks {

std::vector<int64_t> SeededPermutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  SeededRng rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

int64_t TfdsPercentBoundary(int64_t n, int pct) {
  const int64_t q = n * pct;
  int64_t base = q / 100;
  const int64_t rem = q % 100;
  if (rem > 50 || (rem == 50 && (base % 2) == 1)) ++base;
  return base;
}

}  // namespace lra::tasks

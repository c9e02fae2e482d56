// One OpenMP pool for the whole process: oneDNN (built with its OpenMP runtime), Eigen, FFTW's
// OpenMP helpers and our own loops all run on the one libgomp team (core/README.md, "Threads and
// the libraries").
//
// Call SetNumThreads(n) once at start-up, before the first matmul: oneDNN fixes a primitive's
// thread count when the primitive is created (its primitive cache key holds `impl_nthr_`, the
// thread count the implementation was made for: oneapi-src/oneDNN 0730dbf,
// src/common/primitive_hashing.hpp, key_t), so a later change would leave cached primitives on
// the old count. The matmul primitive cache keys on the thread count,
// so a change is still correct, only slower on the first call after it.
//
// ParallelFor splits [0, n) into one contiguous static chunk per thread, so which thread
// computes which element never depends on scheduling. Reductions use ReduceBlocks: fixed-size
// blocks summed in a fixed order, so results are bitwise identical for any thread count.
#ifndef LRA_CORE_PARALLEL_H_
#define LRA_CORE_PARALLEL_H_

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace lra {

void SetNumThreads(int n);
int NumThreads();

// Below this many elements an elementwise loop runs on the calling thread: waking the second
// thread costs a few microseconds, about what 2^15 simple float ops take on one core.
constexpr int64_t kParallelGrain = int64_t{1} << 15;

// Calls f(begin, end) on disjoint chunks covering [0, n). `cost` scales n for the threshold
// (use e.g. 8 for loops doing ~8x the work of an add per element).
template <typename F>
void ParallelFor(int64_t n, F&& f, int64_t cost = 1) {
  if (n <= 0) return;
  if (n * cost < kParallelGrain || omp_in_parallel() || omp_get_max_threads() == 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads();
    const int64_t t = omp_get_thread_num();
    const int64_t chunk = (n + nt - 1) / nt;
    const int64_t b = std::min(n, t * chunk);
    const int64_t e = std::min(n, b + chunk);
    if (b < e) f(b, e);
  }
}

// Deterministic sum of block(begin, end) -> double over fixed blocks of `block` elements,
// combined in block order. Independent of the thread count.
template <typename F>
double ReduceBlocks(int64_t n, int64_t block, F&& partial) {
  if (n <= 0) return 0.0;
  const int64_t nb = (n + block - 1) / block;
  if (nb == 1) return partial(int64_t{0}, n);
  std::vector<double> parts(nb);
  ParallelFor(
      nb,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
          parts[b] = partial(b * block, std::min(n, (b + 1) * block));
      },
      block);
  double s = 0.0;
  for (double p : parts) s += p;
  return s;
}

}  // namespace lra

#endif  // LRA_CORE_PARALLEL_H_

#include "core/parallel.h"

#include "core/check.h"

namespace lra {

void SetNumThreads(int n) {
  LRA_CHECK(n >= 1) << "SetNumThreads(" << n << ")";
  omp_set_num_threads(n);
}

int NumThreads() { return omp_get_max_threads(); }

}  // namespace lra

#include "core/kernels/fft.h"

#include <fftw3.h>

#include <map>
#include <mutex>
#include <tuple>

#include "absl/base/internal/raw_logging.h"

namespace lra {
namespace kernels {
namespace {

#include "core/kernels/fft_wisdom.inc"

// The one lock of the plan cache and of every FFTW planner call made here.
std::mutex& PlannerMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

// Imports the shipped wisdom once per process, before the first plan; call with PlannerMutex()
// held. FFTW rejects it whole (returns 0) when it was made by another FFTW version or build (its
// header names the version and checksums of the build's solver table).
bool ImportShippedWisdom() {
  static const bool ok = fftwf_import_wisdom_from_string(kShippedFftWisdom) != 0;
  return ok;
}

}  // namespace

const RealFft& RealFft::Get(int n, FftRigor rigor, FftAlignment alignment) {
  ABSL_RAW_CHECK(n >= 1, "RealFft::Get: size must be at least 1");
  static auto* cache = new std::map<std::tuple<int, int, int>, RealFft*>;
  std::lock_guard<std::mutex> lock(PlannerMutex());
  static const bool thread_safe_planner = [] {
    // Other code in the process (a test, another library) may plan concurrently.
    fftwf_make_planner_thread_safe();
    return true;
  }();
  (void)thread_safe_planner;
  const bool shipped = ImportShippedWisdom();
  const auto key = std::make_tuple(n, static_cast<int>(rigor), static_cast<int>(alignment));
  auto it = cache->find(key);
  if (it != cache->end()) return *it->second;
  // Plan on scratch arrays from fftwf_malloc: FFTW_MEASURE overwrites them, and for a kSimd plan
  // their alignment is what later arrays must match.
  float* real = fftwf_alloc_real(n);
  fftwf_complex* cplx = fftwf_alloc_complex(n / 2 + 1);
  ABSL_RAW_CHECK(real != nullptr && cplx != nullptr, "fftwf_malloc failed");
  auto* fft = new RealFft;
  fft->n_ = n;
  fftwf_plan r2c = nullptr, c2r = nullptr;
  if (shipped && rigor == FftRigor::kEstimate && alignment == FftAlignment::kSimd) {
    // The shipped plan of this size, if there is one: FFTW_WISDOM_ONLY plans from wisdom alone
    // and returns null without it, so no timing enters the choice.
    r2c = fftwf_plan_dft_r2c_1d(n, real, cplx, FFTW_PATIENT | FFTW_WISDOM_ONLY);
    c2r = fftwf_plan_dft_c2r_1d(n, cplx, real, FFTW_PATIENT | FFTW_WISDOM_ONLY);
    fft->shipped_ = r2c != nullptr && c2r != nullptr;
    if (!fft->shipped_) {
      if (r2c != nullptr) fftwf_destroy_plan(r2c);
      if (c2r != nullptr) fftwf_destroy_plan(c2r);
      r2c = c2r = nullptr;
    }
  }
  if (!fft->shipped_) {
    unsigned flags = rigor == FftRigor::kMeasure ? FFTW_MEASURE : FFTW_ESTIMATE;
    if (alignment == FftAlignment::kAny) flags |= FFTW_UNALIGNED;
    r2c = fftwf_plan_dft_r2c_1d(n, real, cplx, flags);
    c2r = fftwf_plan_dft_c2r_1d(n, cplx, real, flags);
  }
  ABSL_RAW_CHECK(r2c != nullptr && c2r != nullptr, "FFTW planning failed");
  fft->r2c_ = r2c;
  fft->c2r_ = c2r;
  fftwf_free(real);
  fftwf_free(cplx);
  cache->emplace(key, fft);
  return *fft;
}

void RealFft::Forward(const float* x, std::complex<float>* out) const {
  // An out-of-place r2c plan leaves its input alone (FFTW_PRESERVE_INPUT is the default for
  // every transform but c2r: fftw.org/fftw3_doc/Planner-Flags.html); the API takes a non-const
  // pointer.
  fftwf_execute_dft_r2c(static_cast<fftwf_plan>(r2c_), const_cast<float*>(x),
                        reinterpret_cast<fftwf_complex*>(out));
}

void RealFft::Inverse(std::complex<float>* x, float* out) const {
  fftwf_execute_dft_c2r(static_cast<fftwf_plan>(c2r_), reinterpret_cast<fftwf_complex*>(x),
                        out);
}

bool RealFft::ShippedWisdomLoaded() {
  // Get() imports it; importing here too keeps the answer right before the first plan.
  std::lock_guard<std::mutex> lock(PlannerMutex());
  return ImportShippedWisdom();
}

float* FftAllocFloats(int64_t count) { return fftwf_alloc_real(static_cast<size_t>(count)); }

void FftFree(float* p) { fftwf_free(p); }

}  // namespace kernels
}  // namespace lra

// Real 1-D FFTs of one size, planned once per process: the project's only door to FFTW. Every
// FFTW transform in the project (models/s4/ssm_kernel_dplr.cc; the FFTW baseline of
// core/kernels/lane_fft_benchmark.cc) goes through it, so there is one plan cache, one planner
// lock and one place that decides the planner flags. The FFT convolution of S4/S4D runs on
// core/kernels/lane_fft.h instead (16 channels per SIMD lane, no transposes).
//
//   const RealFft& fft = RealFft::Get(n);        // cached; FftRigor::kEstimate by default
//   fft.Forward(x, spectrum);                     // n floats -> n/2 + 1 complex, unnormalized
//   fft.Inverse(spectrum, x);                     // n/2 + 1 complex -> n floats, times n; destroys
//                                                 // spectrum
//
// Both directions follow FFTW's sign and scale conventions (forward exp(-2 pi i jk/n), inverse
// exp(+2 pi i jk/n), neither scaled: FFTW 3 manual,
// fftw.org/fftw3_doc/The-1d-Real_002ddata-DFT.html), so Inverse(Forward(x)) = n x. Inverse reads
// only the real parts of the first and (n even) the last bin: c2r assumes Hermitian input.
//
// Thread safety: Get may be called from any thread (the cache and FFTW's planner are guarded by
// one mutex, and fftwf_make_planner_thread_safe guards planning done elsewhere in the process);
// Forward and Inverse may run concurrently from any number of threads on distinct arrays: "the
// only thread-safe routine in FFTW is fftw_execute (and the new-array variants thereof)"
// (FFTW 3 manual, fftw.org/fftw3_doc/Thread-safety.html).
// Plans live until the process exits.
#ifndef LRA_CORE_KERNELS_FFT_H_
#define LRA_CORE_KERNELS_FFT_H_

#include <complex>
#include <cstdint>

namespace lra {
namespace kernels {

// FFTW planner effort. kEstimate (the default) picks the algorithm from the size alone, so a
// size gets the same plan, and the same rounding, in every process on a CPU with the same SIMD
// features: training is bitwise reproducible. kMeasure times candidate algorithms (0.3-0.5 s
// for the first plan of a size in the process, then cached) and keeps the fastest; the choice
// follows the timings, so two processes can get different plans and results that differ in the
// last bits (seen as two runs of the smoke suite giving different checkpoints for Path-X and
// Fashion-MNIST). Use it only where reproducibility does not matter. (FFTW_ESTIMATE and
// FFTW_MEASURE: FFTW 3 manual, fftw.org/fftw3_doc/Planner-Flags.html.)
//
// Shipped plans. fft_wisdom.inc holds FFTW wisdom (FFTW_PATIENT plans, the fastest of several
// timed candidates) for the sizes of the S4/S4D convolution at the LRA and benchmark lengths
// (2048, 4000, 4096, 8000, 8192, 32768; fft_wisdom_tool.cc made it and says how to remake it).
// Get(n, kEstimate, kSimd) for such a size builds its plans from that wisdom alone
// (FFTW_WISDOM_ONLY: no timing in the process), so the plan is as reproducible as an
// FFTW_ESTIMATE plan and faster: an r2c + c2r pair on one row took 3.2 / 6.7 / 15.0 us at
// n = 2048 / 4096 / 8192 against FFTW_ESTIMATE's 4.6 / 9.6 / 22.4 us (fastest of 20-30
// interleaved rounds, a development VM of README.md "Measured performance"). Where FFTW rejects the wisdom (another FFTW version or
// build) or a plan cannot be made from it (the CPU lacks a SIMD set the plan uses), Get falls
// back to FFTW_ESTIMATE; shipped() says which. A process that also makes kMeasure plans of these
// sizes adds its own wisdom, which later plans of the size may use: keep such processes
// (benchmarks) apart from runs that must reproduce.
enum class FftRigor { kMeasure, kEstimate };

// What the arrays passed to Forward / Inverse promise. kSimd: every array is aligned at least as
// fftwf_malloc aligns (FftAllocFloats gives that; 64-byte aligned arrays are); the plan may then
// use SIMD loads that need alignment (FFTW 3 manual,
// fftw.org/fftw3_doc/SIMD-alignment-and-fftw_005fmalloc.html). kAny: any array, e.g. a
// std::vector (FFTW_UNALIGNED); the plan may be slower and may round differently from a kSimd
// plan, so a caller keeps one choice for results to stay bitwise the same.
enum class FftAlignment { kSimd, kAny };

class RealFft {
 public:
  // The plans for size n >= 1, made on first use and cached per (n, rigor, alignment).
  static const RealFft& Get(int n, FftRigor rigor = FftRigor::kEstimate,
                            FftAlignment alignment = FftAlignment::kSimd);

  int size() const { return n_; }
  // Whether the plans come from the shipped wisdom (header: "Shipped plans").
  bool shipped() const { return shipped_; }
  // Whether FFTW accepted the shipped wisdom in this process.
  static bool ShippedWisdomLoaded();

  // out[k] = sum_j x[j] exp(-2 pi i jk/n), k = 0..n/2. x (n floats) is not modified.
  void Forward(const float* x, std::complex<float>* out) const;
  // out[j] = sum_{k=0}^{n-1} X[k] exp(+2 pi i jk/n) with X Hermitian-extended from x[0..n/2]:
  // n times the inverse DFT. x is overwritten (FFTW's c2r destroys its input).
  void Inverse(std::complex<float>* x, float* out) const;

  RealFft(const RealFft&) = delete;
  RealFft& operator=(const RealFft&) = delete;

 private:
  RealFft() = default;
  int n_ = 0;
  bool shipped_ = false;
  void* r2c_ = nullptr;  // fftwf_plan
  void* c2r_ = nullptr;  // fftwf_plan
};

// Floats from FFTW's allocator, aligned for FftAlignment::kSimd plans; nullptr when out of
// memory. Free with FftFree.
float* FftAllocFloats(int64_t count);
void FftFree(float* p);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_FFT_H_

// Real 1-D FFTs of 16 sequences at once, one per SIMD lane ("lane layout": element j of lane c
// at x[j * 16 + c]). Activations of the S4/S4D convolution are [B, L, H] with the channels
// innermost, so 16 channels at one position are one 64-byte vector: this transform reads them as
// they are, with every butterfly a full-width vector operation, twiddles broadcast and no
// shuffles, where RealFft (FFTW, core/kernels/fft.h) needs the 16 channels transposed into rows
// first.
//
//   const LaneFft& fft = LaneFft::Get(n);   // cached per n; n even, n/2 7-smooth, n >= 4
//   fft.Forward(x, spec, work);             // x [n][16] -> spec [n/2+1][2][16]
//   fft.Inverse(spec, y, work);             // spec -> y [n][16], n times the inverse DFT
//
// Conventions are RealFft's (FFTW's), lane by lane, so a caller can swap one for the other:
// Forward: X[k] = sum_j x[j] exp(-2 pi i jk/n), k = 0..n/2. Inverse: y[j] = sum_{k=0}^{n-1} X[k]
// exp(+2 pi i jk/n) with X Hermitian-extended from bins 0..n/2; unnormalized, so
// Inverse(Forward(x)) = n x. Inverse ignores the imaginary parts of bins 0 and n/2, as FFTW's
// c2r does (it assumes Hermitian input: FFTW 3 manual,
// fftw.org/fftw3_doc/The-1d-Real_002ddata-DFT.html).
//
// Layouts. x and y: n rows of 16 floats. spec: n/2 + 1 bins, each 32 floats: bin k's 16 real
// parts, then its 16 imaginary parts (spec[k * 32 + c] = Re X_c[k], spec[k * 32 + 16 + c] =
// Im X_c[k]). work: WorkFloats() = 32 n + 64 P floats (P <= 16, the first radix below). All
// four should be 64-byte aligned (each lane vector is then one cache line; unaligned arrays
// work, slower). x, spec, y and work must not overlap. Forward leaves x unchanged; Inverse
// leaves spec unchanged. Neither allocates.
//
// Algorithm. The n reals of a lane are read as m = n/2 complex numbers z[j] = x[2j] + i x[2j+1]
// (in the lane layout x already is that array, [m][re 16 | im 16], so no packing pass). The
// size-m complex FFT is mixed-radix: radix 16 while it divides m, then one of 8, 4, 2, then 3, 5
// and 7 (Van Loan, "Computational Frameworks for the Fast Fourier Transform", SIAM 1992,
// chapter 2). Radix 16 and 8 are each two stages (4 x 4, 4 x 2) in registers, so a pass over
// memory does the work of two. The first pass, of radix P, is a decimation-in-frequency step
// that writes P blocks of l = m/P lane vectors (block r holds what Z[P k' + r], k' < l, is the
// DFT of); the blocks are l + 1 vectors apart, so the 16 vectors of a butterfly do not share an
// L1 set. Each block's size-l DFT then runs by itself while it is in cache, as Stockham
// autosort passes (Van Loan section 1.7; decimation in frequency, twiddles after the
// butterfly) between the block and a scratch block. Z[k] ends in block k mod P, position
// k div P, where the split below reads it. The real spectrum follows from the standard split
// (Sorensen, Jones, Heideman and Burrus, "Real-valued fast Fourier transform algorithms", IEEE
// Trans. ASSP 35(6), 849-863, 1987):
//   E[k] = (Z[k] + conj Z[m-k]) / 2,  O[k] = -i (Z[k] - conj Z[m-k]) / 2,
//   X[k] = E[k] + exp(-2 pi i k/n) O[k],  X[m-k] = conj(E[k] - exp(-2 pi i k/n) O[k]).
// Inverse runs the same steps backwards: Z'[k] = F + T, Z'[m-k] = conj(F - T) with
// F = X[k] + conj X[m-k], T = i exp(+2 pi i k/n) (X[k] - conj X[m-k]), written into the blocks;
// the blocks' inverse DFTs; then a last radix-P pass, decimation in time (twiddles before the
// butterfly), from the blocks into y in natural order. Z' = 2 Z, so this gives 2m z = n z.
// Twiddles are computed in double and rounded once to float when the plan is made.
//
// Instruction sets and rounding. The hot code is compiled three times, for AVX-512F, AVX2+FMA
// and baseline x86-64 (GCC target attributes), and the best the CPU has is picked at run time,
// so the portable build uses AVX-512 where the CPU has it (zmm registers; checked with
// objdump). Results are bitwise the same from run to run and for any thread count (lanes never
// meet, and each lane's operations are in a fixed order). GCC contracts a * b + c into an FMA
// (C++ is not an ISO-C mode, so -ffp-contract=fast) in the AVX-512 and AVX2+FMA builds and not
// in the baseline one, so machines with and without FMA can differ in the last bits; all three
// stay within the error bounds of lane_fft_test.cc, which runs each one the CPU has.
//
// Thread safety: Get may be called from any thread (one mutex guards the cache); Forward and
// Inverse are const and may run concurrently on distinct arrays. Plans live until the process
// exits.
#ifndef LRA_CORE_KERNELS_LANE_FFT_H_
#define LRA_CORE_KERNELS_LANE_FFT_H_

#include <cstdint>
#include <vector>

namespace lra {
namespace kernels {

// The instruction sets LaneFft has code for, in increasing order.
enum class LaneFftIsa { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

class LaneFft {
 public:
  static constexpr int kLanes = 16;

  // Whether Get accepts n: even, n >= 4, and n/2 has no prime factor above 7 (every size
  // FftConv::FftSize returns).
  static bool Supports(int n);
  // The plan for size n, made on first use and cached for the process.
  static const LaneFft& Get(int n);

  int size() const { return n_; }
  // Floats of spec: (n/2 + 1) bins of 2 x 16.
  int64_t SpecFloats() const { return (static_cast<int64_t>(n_) / 2 + 1) * 2 * kLanes; }
  // Floats of the work array Forward and Inverse need: two copies of the first pass's blocks,
  // 2 P (l + 1) lane vectors of 32 floats (l = n / (2P), P the first radix), 32 n + 64 P.
  int64_t WorkFloats() const { return 2 * plan_.first.radix * plan_.bs * 2 * kLanes; }
  // The radices of the complex passes, in the order they run (for tests and benchmarks).
  std::vector<int> Radices() const;

  // spec = the DFT of each lane of x, bins 0..n/2 (layouts: header). x is not modified.
  void Forward(const float* x, float* spec, float* work) const;
  // y = n times the inverse DFT of each lane's Hermitian spectrum spec (the imaginary parts of
  // bins 0 and n/2 are ignored). spec is not modified.
  void Inverse(const float* spec, float* y, float* work) const;

  LaneFft(const LaneFft&) = delete;
  LaneFft& operator=(const LaneFft&) = delete;

  // One complex pass: `radix`-point butterflies over l groups at stride s. Its twiddles start
  // at twiddles_[tw]: for each group j, radix - 1 (cos, sin) pairs of 2 pi j r / (l * radix),
  // r = 1..radix-1. Public so that the kernels in lane_fft.cc see it.
  struct Pass {
    int radix;
    int l;
    int s;
    int64_t tw;
  };
  // The size-m complex FFT: a first pass of radix P over all m (l = m / P groups, s = 1) that
  // leaves P blocks of l, then the Stockham passes of one block's size-l DFT (s from 1 up).
  // The blocks are bs = l + 1 lane vectors apart: at l apart (a multiple of 4 KiB for the
  // power-of-two sizes) the 16 blocks' vectors that one butterfly or split step touches would
  // all fall in the same L1 set.
  struct Plan {
    Pass first;
    std::vector<Pass> sub;
    int64_t bs;
  };

 private:
  explicit LaneFft(int n);
  int n_;
  int m_;
  Plan plan_;
  std::vector<float> twiddles_;
  // (cos, sin) of 2 pi k/n for k = 0..m/2: the real-spectrum split.
  std::vector<float> split_;
  // For odd radices p: cos(2 pi t r/p), then sin(2 pi t r/p), t, r = 1..(p-1)/2, at odd_[p].
  std::vector<float> odd_[8];
};

// The instruction set Forward and Inverse run on now: the best the CPU has, capped by
// SetLaneFftIsaForTesting.
LaneFftIsa LaneFftIsaInUse();
// Caps the instruction set (tests run each build the CPU has); kAvx512 lifts the cap. Not for
// use while another thread runs a transform.
void SetLaneFftIsaForTesting(LaneFftIsa cap);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_LANE_FFT_H_

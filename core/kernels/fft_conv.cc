#include "core/kernels/fft_conv.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <complex>
#include <cstring>
#include <type_traits>

#include "absl/base/internal/raw_logging.h"
#include "core/kernels/fft.h"
#include "core/kernels/vmath/vmath.h"

namespace lra {
namespace kernels {
namespace {

// Rows are padded so every row starts on a 64-byte boundary. FFTW's new-array execute needs the
// same SIMD alignment as the arrays the plan was made with (FFTW 3 manual,
// fftw.org/fftw3_doc/New_002darray-Execute-Functions.html); an unpadded complex stride of n/2+1
// misaligns odd rows, and a kSimd plan then reads them with aligned loads and crashes.
constexpr int kFloatsPerLine = 16;
int RoundUp(int x, int m) { return (x + m - 1) / m * m; }
// One extra cache line per real row: the gather/scatter walks a column across a block's rows,
// and a power-of-two row stride would put every row in the same L1 set (48 KiB, 12-way: sets
// repeat every 4 KiB), evicting on every access.
int RealStride(int n) { return RoundUp(n, kFloatsPerLine) + kFloatsPerLine; }
int ComplexStride(int n) { return RoundUp(n / 2 + 1, kFloatsPerLine / 2); }  // in complex

bool IsSevenSmooth(int n) {
  for (int p : {2, 3, 5, 7}) {
    while (n % p == 0) n /= p;
  }
  return n == 1;
}

// The interleaved complex rows of the block buffers, as RealFft takes them.
inline std::complex<float>* AsComplex(float* x) {
  return reinterpret_cast<std::complex<float>*>(x);
}

// y[i] = a[i] * b[i] (conj_a: conj(a[i]) * b[i]) over interleaved complex rows.
inline void ComplexMul(const float* a, const float* b, float* y, int count, bool conj_a) {
  const float sign = conj_a ? -1.0f : 1.0f;
#pragma omp simd
  for (int i = 0; i < count; ++i) {
    float ar = a[2 * i], ai = sign * a[2 * i + 1];
    float br = b[2 * i], bi = b[2 * i + 1];
    y[2 * i] = ar * br - ai * bi;
    y[2 * i + 1] = ar * bi + ai * br;
  }
}

// acc[i] += conj(a[i]) * b[i].
inline void ComplexConjMulAdd(const float* a, const float* b, float* acc, int count) {
#pragma omp simd
  for (int i = 0; i < count; ++i) {
    float ar = a[2 * i], ai = a[2 * i + 1];
    float br = b[2 * i], bi = b[2 * i + 1];
    acc[2 * i] += ar * br + ai * bi;
    acc[2 * i + 1] += ar * bi - ai * br;
  }
}

// Elementwise loops over rows, each a single rounding per element (no product is added in the
// same statement, so no FMA contraction can occur) and vectorized whatever the aliasing (GCC's
// -O2 cost model leaves loops that need alias checks scalar): the result of an element does not
// depend on SIMD or scalar execution. y may equal x (or a, b).
inline void Scale(const float* x, float s, float* y, int count) {
#pragma omp simd
  for (int i = 0; i < count; ++i) y[i] = x[i] * s;
}
inline void AddRows(const float* a, const float* b, float* y, int count) {
#pragma omp simd
  for (int i = 0; i < count; ++i) y[i] = a[i] + b[i];
}
inline void MulRows(const float* a, const float* b, float* y, int count) {
#pragma omp simd
  for (int i = 0; i < count; ++i) y[i] = a[i] * b[i];
}

// dst[i * ds + j] = src[j * ss + i] for i, j < 8: an 8x8 tile transposed in AVX registers (8
// loads, 24 shuffles, 8 stores instead of 64 scalar moves), written out so nothing spills. The
// target attribute builds it for AVX on any x86-64 build; it runs only where the CPU has AVX
// (HasAvx). Pure copies, so the result is bitwise that of the scalar loop.
__attribute__((target("avx"), always_inline)) inline void Transpose8x8Avx(const float* src,
                                                                         int64_t ss, float* dst,
                                                                         int64_t ds) {
  const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ss),
               r2 = _mm256_loadu_ps(src + 2 * ss), r3 = _mm256_loadu_ps(src + 3 * ss),
               r4 = _mm256_loadu_ps(src + 4 * ss), r5 = _mm256_loadu_ps(src + 5 * ss),
               r6 = _mm256_loadu_ps(src + 6 * ss), r7 = _mm256_loadu_ps(src + 7 * ss);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
               t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
               t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)),
               s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
               s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)),
               s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
               s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)),
               s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
               s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)),
               s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  // s_c (c < 4) holds column c (low lane) and column c + 4 (high lane) of source rows 0-3;
  // s_{c+4} the same of rows 4-7. A 128-bit permute joins the halves into whole columns.
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(dst + ds, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(dst + 2 * ds, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(dst + 3 * ds, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(dst + 4 * ds, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(dst + 5 * ds, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(dst + 6 * ds, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(dst + 7 * ds, _mm256_permute2f128_ps(s3, s7, 0x31));
}

// x [length, tiled] (row stride xs) into `tiled` rows of r (stride rs) (kToRows), or back, in
// 8x8 tiles; length and tiled are multiples of 8. Position blocks run outermost so each cache
// line of x (16 channels) is used whole, and x's lines 16 positions ahead are prefetched: they
// are H floats apart, a stride the hardware prefetcher picks up late.
template <bool kToRows>
__attribute__((target("avx"))) void TransposeTiles(
    std::conditional_t<kToRows, const float*, float*> x, int64_t xs,
    std::conditional_t<kToRows, float*, const float*> r, int64_t rs, int length, int tiled) {
  constexpr int kAhead = 16;
  for (int l = 0; l < length; l += 8) {
    if (l + kAhead < length) {
      for (int j = 0; j < 8; ++j)
        for (int i0 = 0; i0 < tiled; i0 += 16)
          _mm_prefetch(reinterpret_cast<const char*>(x + (l + kAhead + j) * xs + i0),
                       _MM_HINT_T0);
    }
    for (int i0 = 0; i0 < tiled; i0 += 8) {
      if constexpr (kToRows) {
        Transpose8x8Avx(x + l * xs + i0, xs, r + i0 * rs + l, rs);
      } else {
        Transpose8x8Avx(r + i0 * rs + l, rs, x + l * xs + i0, xs);
      }
    }
  }
}

// Asks for [p, p + bytes) in L2 ahead of use (a hint only: no effect on any result). The fused
// backward reads two rows per (batch, channel) from memory, gelu' and the kept spectrum (about
// 6n bytes), each once; fetched one row ahead, they arrive during the current row's transforms
// instead of stalling the loops that read them (BackwardSkipGelu's own time in the S4D step at
// 1K fell by 17%, perf samples per step).
inline void PrefetchL2(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t i = 0; i < bytes; i += 64) _mm_prefetch(c + i, _MM_HINT_T1);
}

bool HasAvx() {
  static const bool has = __builtin_cpu_supports("avx");
  return has;
}

// Zeroes columns [L, n) of rows [0, hb) of `rows` (stride rs).
void ZeroPads(int length, int hb, int n, int rs, float* rows) {
  for (int i = 0; i < hb; ++i) std::memset(rows + i * rs + length, 0, (n - length) * sizeof(float));
}

// Copies x[b, 0:L, h0:h0+hb] (row stride H) into rows of `rows` (stride rs) and, if pad,
// zero-pads columns [L, n) (callers whose pads are still zero from an earlier gather skip it).
// Whole 8x8 tiles go through Transpose8x8Avx, the rest element by element.
void Gather(const float* x, int length, int channels, int hb, int n, int rs, float* rows,
            bool pad = true) {
  if (pad) ZeroPads(length, hb, n, rs, rows);
  const int tiled = HasAvx() ? hb / 8 * 8 : 0;
  const int tiled_len = length / 8 * 8;
  if (tiled > 0)
    TransposeTiles<true>(x, channels, rows, rs, tiled_len, tiled);
  for (int l = 0; l < length; ++l) {
    const float* src = x + static_cast<int64_t>(l) * channels;
    for (int i = l < tiled_len ? tiled : 0; i < hb; ++i) rows[i * rs + l] = src[i];
  }
}

// Inverse of Gather for the first L columns.
void Scatter(const float* rows, int length, int channels, int hb, int rs, float* x) {
  const int tiled = HasAvx() ? hb / 8 * 8 : 0;
  const int tiled_len = length / 8 * 8;
  if (tiled > 0)
    TransposeTiles<false>(x, channels, rows, rs, tiled_len, tiled);
  for (int l = 0; l < length; ++l) {
    float* dst = x + static_cast<int64_t>(l) * channels;
    for (int i = l < tiled_len ? tiled : 0; i < hb; ++i) dst[i] = rows[i * rs + l];
  }
}

// SkipGelu's optional input stages (fft_conv.h) on a gathered block: rows i < hb of `rows`
// (stride rs) hold x[b, 0:L, h0 + i]; each becomes the pre-norm's output, then the length mask's
// product, in place. Each stage is its own loop with LayerNorm's / Mul's expression, so the
// roundings are theirs. Nothing to do when e has neither stage.
void PrepareInput(const FftConv::SkipGelu& e, const ConvShape& shape, int b, int h0, int hb,
                  int rs, float* rows) {
  const int L = shape.length;
  const int64_t total = static_cast<int64_t>(shape.batch) * L;
  const int len = e.lengths != nullptr ? std::clamp(e.lengths[b], 0, L) : L;
  for (int i = 0; i < hb; ++i) {
    float* r = rows + static_cast<int64_t>(i) * rs;
    if (e.norm_stats != nullptr) {
      const float* mean = e.norm_stats + static_cast<int64_t>(b) * L;
      const float* rstd = mean + total;
      const float g = e.norm_gain[h0 + i], bias = e.norm_bias[h0 + i];
#pragma omp simd
      for (int l = 0; l < L; ++l) r[l] = (r[l] - mean[l]) * rstd[l] * g + bias;
    }
    for (int l = len; l < L; ++l) r[l] = r[l] * 0.0f;
  }
}

bool HasInputStages(const FftConv::SkipGelu& e) {
  const bool norm = e.norm_stats != nullptr;
  ABSL_RAW_CHECK(norm == (e.norm_gain != nullptr) && norm == (e.norm_bias != nullptr),
                 "FftConv::SkipGelu: norm_stats, norm_gain and norm_bias go together");
  return norm || e.lengths != nullptr;
}

// SumToShape's order for the columns of a [rows, channels] matrix held transposed: for each
// channel i < hb (row i of `rows`, stride rs) and l = 0..length-1 in order, part[i] +=
// rows[i][l], where l is row r0 + l of the matrix; after each row r with (r + 1) % block == 0
// the block closes: total[i] += part[i], part[i] = 0. Every channel is its own chain of adds in
// that order, so the result does not depend on how many chains advance side by side.
// Channels [0, tiled) (tiled a multiple of 8) advance 8 at a time through 8x8 tiles transposed
// in AVX registers (one vector add per position instead of 8 strided scalar adds).
__attribute__((target("avx"))) void SumColumnsAvx(const float* rows, int rs, int tiled,
                                                  int length, int64_t r0, int64_t block,
                                                  float* part, float* total) {
  const int tiled_len = length / 8 * 8;
  alignas(32) float tile[8 * 8];
  for (int i0 = 0; i0 < tiled; i0 += 8) {
    __m256 p = _mm256_loadu_ps(part + i0), t = _mm256_loadu_ps(total + i0);
    int64_t left = block - r0 % block;  // rows until the open block closes
    const float* src = rows + static_cast<int64_t>(i0) * rs;
    for (int l = 0; l < length; ++l) {
      if (l < tiled_len) {
        if (l % 8 == 0) Transpose8x8Avx(src + l, rs, tile, 8);
        p = _mm256_add_ps(p, _mm256_load_ps(tile + 8 * (l % 8)));
      } else {
        alignas(32) float x[8];
        for (int i = 0; i < 8; ++i) x[i] = src[static_cast<int64_t>(i) * rs + l];
        p = _mm256_add_ps(p, _mm256_load_ps(x));
      }
      if (--left == 0) {
        t = _mm256_add_ps(t, p);
        p = _mm256_setzero_ps();
        left = block;
      }
    }
    _mm256_storeu_ps(part + i0, p);
    _mm256_storeu_ps(total + i0, t);
  }
}

void SumColumnsInOrder(const float* rows, int rs, int hb, int length, int64_t r0, int64_t block,
                       float* part, float* total) {
  const int tiled = HasAvx() ? hb / 8 * 8 : 0;
  if (tiled > 0) SumColumnsAvx(rows, rs, tiled, length, r0, block, part, total);
  for (int i = tiled; i < hb; ++i) {
    const float* src = rows + static_cast<int64_t>(i) * rs;
    int64_t r = r0;
    for (int l = 0; l < length; ++l, ++r) {
      part[i] += src[l];
      if ((r + 1) % block == 0) {
        total[i] += part[i];
        part[i] = 0.0f;
      }
    }
  }
}

}  // namespace

struct FftConv::Buffer {
  float* data = nullptr;
  int64_t floats = 0;
  ~Buffer() { FftFree(data); }
  void Reserve(int64_t n) {
    if (n <= floats) return;
    FftFree(data);
    data = FftAllocFloats(n);
    ABSL_RAW_CHECK(data != nullptr, "FftConv: out of memory for workspace");
    floats = n;
  }
};

// Sizes for one call. All strides are in floats (a complex is 2 floats).
struct FftConv::Layout {
  int n = 0;        // FFT size
  int rs = 0;       // real row stride (floats)
  int cs = 0;       // complex row stride (floats = 2 * complex count)
  int bins = 0;     // n/2 + 1 complex outputs
  int hb = 0;       // channels per block
  int blocks = 0;   // ceil(H / hb)
  int threads = 0;
  // Per-thread scratch: two real blocks (hb x rs), one complex block (hb x cs, the dk
  // accumulator), two single complex rows, a third real block (the fused S4 paths) and 2 hb
  // floats (their per-channel sums of dd).
  int64_t PerThreadFloats() const {
    return 3LL * hb * rs + 1LL * hb * cs + 2LL * cs + 2LL * hb;
  }
  // Offset of the third real block in a thread's scratch (after what Forward/Backward use).
  int64_t ThirdBlock() const { return 2LL * hb * rs + 1LL * hb * cs + 2LL * cs; }
};

FftConv::FftConv(FftConvOptions options)
    : options_(options), spectrum_(new Buffer), scratch_(new Buffer) {}

FftConv::~FftConv() = default;

int FftConv::FftSize(int length) {
  ABSL_RAW_CHECK(length >= 1, "FftConv: length must be >= 1");
  int n = 2 * length;
  while (!IsSevenSmooth(n)) n += 2;
  return n;
}

int64_t FftConv::KernelFloats(const ConvShape& shape) {
  int64_t per = static_cast<int64_t>(shape.channels) * shape.length;
  return shape.direction == ConvDirection::kBidirectional ? 2 * per : per;
}

int64_t FftConv::SpectrumFloats(const ConvShape& shape) {
  const int n = FftSize(shape.length);
  return static_cast<int64_t>(shape.batch) * shape.channels * 2 * ComplexStride(n);
}

int64_t FftConv::WorkspaceBytes() const {
  return (spectrum_->floats + scratch_->floats) * static_cast<int64_t>(sizeof(float));
}

FftConv::Layout FftConv::MakeLayout(const ConvShape& shape, int threads) const {
  ABSL_RAW_CHECK(shape.batch >= 1 && shape.length >= 1 && shape.channels >= 1,
                 "FftConv: batch, length and channels must be >= 1");
  Layout lay;
  lay.n = FftSize(shape.length);
  lay.rs = RealStride(lay.n);
  lay.cs = 2 * ComplexStride(lay.n);
  lay.bins = lay.n / 2 + 1;
  int hb = options_.channel_block;
  if (hb <= 0) {
    // Per channel: 3 real rows (12n bytes; the third only on the fused S4 paths) + 1 complex
    // row (4n bytes). 1 MiB is the whole L2 of a core of the development VM (1 MiB each;
    // core/README.md, "Machine assumptions"); bigger blocks spill to L3 between transforms.
    // Up to n = 8192 (L = 4096) the block stays at 16 channels whatever the budget: 16 floats
    // are one 64-byte line of [B, L, H], and a block of 8 gathers and scatters half lines, at
    // H floats' stride, whose other halves another block (often on the other thread) reads
    // later; BM_FftConv/L:4096 (core/kernels/seq_benchmark.cc) took 116-127 ms with 16 channels
    // (2 MiB of rows) and 145-198 ms with 8 (3 interleaved runs each, 2 threads, load 4-5).
    constexpr int64_t kBudget = 1 << 20;
    constexpr int kWholeLineMaxN = 8192;
    hb = 16;
    while (hb > 1 && lay.n > kWholeLineMaxN && 16LL * lay.n * hb > kBudget) hb /= 2;
  }
  lay.hb = std::min(hb, shape.channels);
  lay.blocks = (shape.channels + lay.hb - 1) / lay.hb;
  lay.threads = threads;
  return lay;
}

void FftConv::Reserve(const Layout& lay) {
  scratch_->Reserve(lay.PerThreadFloats() * lay.threads);
}

// spectrum_[h] = rfft(two-sided kernel row h) / n. The 1/n of the unnormalised c2r is folded in
// here once instead of once per (batch, channel).
void FftConv::KernelSpectrum(const ConvShape& shape, const Layout& lay, const float* k) {
  const int L = shape.length, H = shape.channels, n = lay.n;
  spectrum_->Reserve(static_cast<int64_t>(H) * lay.cs);
  const RealFft& fft = RealFft::Get(n, options_.rigor);
  float* spec = spectrum_->data;
  float* scratch = scratch_->data;
  const int64_t per_thread = lay.PerThreadFloats();
  const bool bidir = shape.direction == ConvDirection::kBidirectional;
  const float inv_n = 1.0f / n;
#pragma omp parallel for schedule(static)
  for (int h = 0; h < H; ++h) {
    float* row = scratch + per_thread * omp_get_thread_num();  // first real row of the thread
    std::memset(row, 0, n * sizeof(float));
    std::memcpy(row, k + static_cast<int64_t>(h) * L, L * sizeof(float));
    if (bidir) {
      // flip(kb) ends at n-1: kb[i] sits at lag -(i+1) == n-1-i (mod n). n >= 2L keeps it
      // clear of kf's [0, L).
      const float* kb = k + (static_cast<int64_t>(H) + h) * L;
      for (int i = 0; i < L; ++i) row[n - 1 - i] = kb[i];
    }
    float* out = spec + static_cast<int64_t>(h) * lay.cs;
    fft.Forward(row, AsComplex(out));
    Scale(out, inv_n, out, 2 * lay.bins);
  }
}

// The forward's loop over (batch, channel block): gathers u's block into urows and leaves each
// row's conv(u, k) in the same row of vrows, calling row(b, h, u_row, conv_row, scratch_row)
// after each row and block(b, h0, hb, urows, vrows) after the block. u_spectra (null: not kept)
// receives rfft(u row) of every (b, h), rows of lay.cs floats (SpectrumFloats in all).
template <typename Row, typename Block>
void FftConv::ForwardBlocks(const ConvShape& shape, const float* u, const float* k,
                            float* u_spectra, const SkipGelu* input, Row row, Block block) {
  const bool prepare = input != nullptr && HasInputStages(*input);
  const Layout lay = MakeLayout(shape, omp_get_max_threads());
  Reserve(lay);
  KernelSpectrum(shape, lay, k);
  const RealFft& fft = RealFft::Get(lay.n, options_.rigor);
  const int L = shape.length, H = shape.channels;
  const int64_t per_thread = lay.PerThreadFloats();
  const int64_t items = static_cast<int64_t>(shape.batch) * lay.blocks;
  float* scratch = scratch_->data;
  const float* spec = spectrum_->data;
#pragma omp parallel
  {
    // urows' pads [L, n) are zeroed once per thread and call: the r2c transform leaves its input
    // alone (core/kernels/fft.cc) and row() writes columns [0, L) only, so they stay zero.
    bool pads_zero = false;
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int b = static_cast<int>(item / lay.blocks);
      const int h0 = static_cast<int>(item % lay.blocks) * lay.hb;
      const int hb = std::min(lay.hb, H - h0);
      float* urows = scratch + per_thread * omp_get_thread_num();
      float* vrows = urows + 1LL * lay.hb * lay.rs;
      float* crow = urows + 2LL * lay.hb * lay.rs + 1LL * lay.hb * lay.cs;
      float* spare = urows + lay.ThirdBlock();
      if (!pads_zero) ZeroPads(L, lay.hb, lay.n, lay.rs, urows);
      pads_zero = true;
      Gather(u + static_cast<int64_t>(b) * L * H + h0, L, H, hb, lay.n, lay.rs, urows,
             /*pad=*/false);
      if (prepare) PrepareInput(*input, shape, b, h0, hb, lay.rs, urows);
      for (int i = 0; i < hb; ++i) {
        float* ur = urows + i * lay.rs;
        float* vr = vrows + i * lay.rs;
        // The transform goes straight to its kept row (64-byte aligned like crow: same plan,
        // same rounding) when u_spectra is given.
        float* urow_spec =
            u_spectra != nullptr ? u_spectra + (static_cast<int64_t>(b) * H + h0 + i) * lay.cs
                                 : crow;
        fft.Forward(ur, AsComplex(urow_spec));
        ComplexMul(spec + static_cast<int64_t>(h0 + i) * lay.cs, urow_spec, crow, lay.bins, false);
        fft.Inverse(AsComplex(crow), vr);
        row(b, h0 + i, ur, vr, spare);
      }
      block(b, h0, hb, urows, vrows);
    }
  }
}

void FftConv::Forward(const ConvShape& shape, const float* u, const float* k, float* y) {
  const int L = shape.length, H = shape.channels, rs = MakeLayout(shape, 1).rs;
  ForwardBlocks(
      shape, u, k, /*u_spectra=*/nullptr, /*input=*/nullptr,
      [](int, int, float*, float*, float*) {},
      [&](int b, int h0, int hb, float*, float* vrows) {
        Scatter(vrows, L, H, hb, rs, y + static_cast<int64_t>(b) * L * H + h0);
      });
}

// dk for channels [h0, h0 + hb) from their spectra summed over the batch (acc, rows of lay.cs
// floats; destroyed), with rows of `g` (stride lay.rs) as scratch.
void FftConv::KernelGrad(const RealFft& fft, const ConvShape& shape, const Layout& lay, int h0,
                         int hb, float* acc, float* g, float* dk) {
  const int L = shape.length, H = shape.channels, n = lay.n;
  const float inv_n = 1.0f / n;
  for (int i = 0; i < hb; ++i) {
    float* gr = g + i * lay.rs;
    fft.Inverse(AsComplex(acc + i * lay.cs), gr);
    Scale(gr, inv_n, dk + static_cast<int64_t>(h0 + i) * L, L);
    if (shape.direction == ConvDirection::kBidirectional) {
      float* dkb = dk + (static_cast<int64_t>(H) + h0 + i) * L;
      for (int j = 0; j < L - 1; ++j) dkb[j] = gr[n - 1 - j] * inv_n;
      dkb[L - 1] = 0.0f;  // lag -L never occurs (see header)
    }
  }
}

void FftConv::Backward(const ConvShape& shape, const float* u, const float* k, const float* dy,
                       float* du, float* dk) {
  if (du == nullptr && dk == nullptr) return;
  const Layout lay = MakeLayout(shape, omp_get_max_threads());
  Reserve(lay);
  if (du != nullptr) KernelSpectrum(shape, lay, k);
  const RealFft& fft = RealFft::Get(lay.n, options_.rigor);
  const int B = shape.batch, L = shape.length, H = shape.channels, n = lay.n;
  const int64_t per_thread = lay.PerThreadFloats();
  float* scratch = scratch_->data;
  const float* spec = spectrum_->data;
  // With y = irfft(U K)/n over the zero-padded length n (K is the two-sided kernel):
  //   du = irfft(conj(K) DY)/n, restricted to [0, L)      (correlation with the kernel)
  //   dK = sum_b irfft(conj(U_b) DY_b)/n                   (correlation of dy with u)
  // dK is accumulated over the batch in the frequency domain, so the loop runs over channel
  // blocks in parallel and over the batch inside (one inverse transform per channel for dk).
#pragma omp parallel for schedule(dynamic, 1)
  for (int blk = 0; blk < lay.blocks; ++blk) {
    const int h0 = blk * lay.hb;
    const int hb = std::min(lay.hb, H - h0);
    float* urows = scratch + per_thread * omp_get_thread_num();
    float* drows = urows + 1LL * lay.hb * lay.rs;
    float* acc = drows + 1LL * lay.hb * lay.rs;
    float* cu = acc + 1LL * lay.hb * lay.cs;
    float* cd = cu + lay.cs;
    if (dk != nullptr) std::memset(acc, 0, sizeof(float) * hb * lay.cs);
    for (int b = 0; b < B; ++b) {
      const int64_t base = static_cast<int64_t>(b) * L * H + h0;
      if (dk != nullptr) Gather(u + base, L, H, hb, n, lay.rs, urows);
      Gather(dy + base, L, H, hb, n, lay.rs, drows);
      for (int i = 0; i < hb; ++i) {
        fft.Forward(drows + i * lay.rs, AsComplex(cd));
        if (dk != nullptr) {
          fft.Forward(urows + i * lay.rs, AsComplex(cu));
          ComplexConjMulAdd(cu, cd, acc + i * lay.cs, lay.bins);
        }
        if (du != nullptr) {
          ComplexMul(spec + static_cast<int64_t>(h0 + i) * lay.cs, cd, cu, lay.bins, true);
          fft.Inverse(AsComplex(cu), drows + i * lay.rs);
        }
      }
      if (du != nullptr) Scatter(drows, L, H, hb, lay.rs, du + base);
    }
    if (dk != nullptr) KernelGrad(fft, shape, lay, h0, hb, acc, urows, dk);
  }
}

// ---- fused S4 paths (header: ForwardSkipGelu). Every product that the unfused ops store in a
// tensor before adding it is stored in a row here too, in its own loop, so no compiler
// contraction into an FMA can change its rounding. ----

void FftConv::ForwardSkipGelu(const ConvShape& shape, const float* u, const float* k,
                              const SkipGelu& e, float* g, float* y, float* u_spectra) {
  ABSL_RAW_CHECK(e.d != nullptr, "FftConv::ForwardSkipGelu: d is required");
  const int L = shape.length, H = shape.channels, rs = MakeLayout(shape, 1).rs;
  ForwardBlocks(
      shape, u, k, u_spectra, &e,
      // ur: u, then gelu(v) * mask; vr: conv, then v; tmp: u * d.
      [&](int b, int h, float* ur, float* vr, float* tmp) {
        // Add(conv, Mul(u, d)): the product is rounded on its own first.
        // gelu'(v) goes straight to its row of g, in row layout [B, H, L]: only
        // BackwardSkipGelu reads it, and row by row.
        float* g_row = g + (static_cast<int64_t>(b) * H + h) * L;
        Scale(ur, e.d[h], tmp, L);
        AddRows(vr, tmp, vr, L);
        vmath::GeluErfWithGrad(vr, ur, g_row, L);
        if (e.mask != nullptr) Scale(ur, e.mask[static_cast<int64_t>(b) * H + h], ur, L);
      },
      [&](int b, int h0, int hb, float* urows, float*) {
        Scatter(urows, L, H, hb, rs, y + static_cast<int64_t>(b) * L * H + h0);
      });
}

void FftConv::BackwardSkipGelu(const ConvShape& shape, const float* u, const float* k,
                               const SkipGelu& e, const float* g, const float* dy, float* du,
                               float* dk, float* dd, const float* u_spectra) {
  ABSL_RAW_CHECK(e.d != nullptr, "FftConv::BackwardSkipGelu: d is required");
  if (du == nullptr && dk == nullptr && dd == nullptr) return;
  const Layout lay = MakeLayout(shape, omp_get_max_threads());
  Reserve(lay);
  if (du != nullptr) KernelSpectrum(shape, lay, k);
  const RealFft& fft = RealFft::Get(lay.n, options_.rigor);
  const int B = shape.batch, L = shape.length, H = shape.channels, n = lay.n;
  // With the forward's spectra of u, dd comes from the batch sum of conj(U) DV that dk
  // accumulates anyway (Parseval), and u's rows are not read at all; without them, u's rows are
  // gathered for dk's transforms and dd's products.
  const bool dd_spectral = dd != nullptr && u_spectra != nullptr;
  const bool use_acc = dk != nullptr || dd_spectral;
  const bool need_u = u_spectra == nullptr && (dk != nullptr || dd != nullptr);
  const bool prepare = HasInputStages(e);
  const int64_t per_thread = lay.PerThreadFloats();
  float* scratch = scratch_->data;
  const float* spec = spectrum_->data;
  // The unfused SumToShape's row blocks (core/ops/elementwise.cc): rows of [B*L, H].
  constexpr int64_t kSumBlock = 256;
  // As Backward, with dv = gelu'(v) * (dy * mask) in place of dy, plus du += dv * d and
  // dd = sum over rows of dv * u.
#pragma omp parallel
  {
    // The pads [L, n) of urows and drows are zeroed once per thread and call: nothing below
    // writes past column L of them (the r2c transform leaves its input alone, and KernelGrad's
    // scratch is vrows).
    bool pads_zero = false;
#pragma omp for schedule(dynamic, 1)
    for (int blk = 0; blk < lay.blocks; ++blk) {
      const int h0 = blk * lay.hb;
      const int hb = std::min(lay.hb, H - h0);
      float* urows = scratch + per_thread * omp_get_thread_num();
      float* drows = urows + 1LL * lay.hb * lay.rs;  // dy, then dv
      float* acc = drows + 1LL * lay.hb * lay.rs;
      float* cu = acc + 1LL * lay.hb * lay.cs;
      float* cd = cu + lay.cs;
      float* vrows = urows + lay.ThirdBlock();  // the rows of du, then of dv * u
      float* part = vrows + 1LL * lay.hb * lay.rs;  // dd: the open 256-row block's sum
      float* total = part + lay.hb;                 // dd: the closed blocks' sum
      if (use_acc) std::memset(acc, 0, sizeof(float) * hb * lay.cs);
      std::fill(part, part + hb, 0.0f);
      std::fill(total, total + hb, 0.0f);
      if (!pads_zero) {
        ZeroPads(L, lay.hb, n, lay.rs, urows);
        ZeroPads(L, lay.hb, n, lay.rs, drows);
        pads_zero = true;
      }
      for (int b = 0; b < B; ++b) {
        const int64_t base = static_cast<int64_t>(b) * L * H + h0;
        if (need_u) {
          Gather(u + base, L, H, hb, n, lay.rs, urows, /*pad=*/false);
          if (prepare) PrepareInput(e, shape, b, h0, hb, lay.rs, urows);
        }
        Gather(dy + base, L, H, hb, n, lay.rs, drows, /*pad=*/false);
        for (int i = 0; i < hb; ++i) {
          float* ur = urows + i * lay.rs;
          float* dr = drows + i * lay.rs;
          float* vr = vrows + i * lay.rs;
          const float* g_row = g + (static_cast<int64_t>(b) * H + h0 + i) * L;
          // The next channel's rows: (b, h0 + i + 1), or after the block's last channel
          // (b + 1, h0).
          if (i + 1 < hb || b + 1 < B) {
            const int64_t next = i + 1 < hb ? static_cast<int64_t>(b) * H + h0 + i + 1
                                            : static_cast<int64_t>(b + 1) * H + h0;
            PrefetchL2(g + next * L, L * sizeof(float));
            if (use_acc && u_spectra != nullptr)
              PrefetchL2(u_spectra + next * lay.cs, 2 * lay.bins * sizeof(float));
          }
          if (e.mask != nullptr) Scale(dr, e.mask[static_cast<int64_t>(b) * H + h0 + i], dr, L);
          // dv = (dy * mask) * gelu'(v) in place: GeluErfBackward's product, with the derivative
          // the forward kept; columns [L, n) stay zero.
          MulRows(dr, g_row, dr, L);
          fft.Forward(dr, AsComplex(cd));
          if (use_acc) {
            const float* us = cu;
            if (u_spectra != nullptr) {
              us = u_spectra + (static_cast<int64_t>(b) * H + h0 + i) * lay.cs;
            } else {
              fft.Forward(ur, AsComplex(cu));
            }
            ComplexConjMulAdd(us, cd, acc + i * lay.cs, lay.bins);
          }
          if (du != nullptr) {
            ComplexMul(spec + static_cast<int64_t>(h0 + i) * lay.cs, cd, cu, lay.bins, true);
            fft.Inverse(AsComplex(cu), vr);
            // The unfused gradient of u is (dv * d) + conv: Mul's product first, then AddInto.
            Scale(dr, e.d[h0 + i], cd, L);
            AddRows(cd, vr, vr, L);
            // The length mask's Mul backward: du times the 0/1 mask (0 past the length).
            if (e.lengths != nullptr)
              for (int l = std::clamp(e.lengths[b], 0, L); l < L; ++l) vr[l] = vr[l] * 0.0f;
          }
        }
        if (du != nullptr) Scatter(vrows, L, H, hb, lay.rs, du + base);
        if (dd != nullptr && !dd_spectral) {
          // Mul's backward stores dv * u (in vrows now that du is out), then SumToShape adds the
          // rows of [B*L, H] in order: one chain per channel, run side by side.
          for (int i = 0; i < hb; ++i)
            MulRows(drows + i * lay.rs, urows + i * lay.rs, vrows + i * lay.rs, L);
          SumColumnsInOrder(vrows, lay.rs, hb, L, static_cast<int64_t>(b) * L, kSumBlock, part,
                            total);
        }
      }
      if (dd_spectral) {
        // sum_l dv[l] u[l] over the zero-padded length n = (1/n) sum_k conj(U[k]) DV[k]; both
        // are real, so the bins k and n - k pair up: (1/n) (A[0] + A[n/2] + 2 sum_{0<k<n/2}
        // Re A[k]) with A the batch sum (n is even). Before KernelGrad, whose c2r destroys acc.
        for (int i = 0; i < hb; ++i) {
          const float* a = acc + i * lay.cs;
          double sum = static_cast<double>(a[0]) + a[n];
          for (int q = 1; q < n / 2; ++q) sum += 2.0 * a[2 * q];
          dd[h0 + i] = static_cast<float>(sum / n);
        }
      } else if (dd != nullptr) {
        const bool open = (static_cast<int64_t>(B) * L) % kSumBlock != 0;
        for (int i = 0; i < hb; ++i) dd[h0 + i] = open ? total[i] + part[i] : total[i];
      }
      if (dk != nullptr) KernelGrad(fft, shape, lay, h0, hb, acc, vrows, dk);
    }
  }
}

}  // namespace kernels
}  // namespace lra

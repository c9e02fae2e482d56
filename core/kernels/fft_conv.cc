#include "core/kernels/fft_conv.h"

#include <omp.h>

#include <algorithm>
#include <complex>
#include <cstring>

#include "absl/base/internal/raw_logging.h"
#include "core/kernels/fft.h"

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

// Copies x[b, 0:L, h0:h0+hb] (row stride H) into rows of `rows` (stride rs) and zero-pads
// columns [L, n). Reading hb consecutive floats per position uses whole cache lines.
void Gather(const float* x, int length, int channels, int hb, int n, int rs, float* rows) {
  for (int i = 0; i < hb; ++i) std::memset(rows + i * rs + length, 0, (n - length) * sizeof(float));
  for (int l = 0; l < length; ++l) {
    const float* src = x + static_cast<int64_t>(l) * channels;
    for (int i = 0; i < hb; ++i) rows[i * rs + l] = src[i];
  }
}

// Inverse of Gather for the first L columns.
void Scatter(const float* rows, int length, int channels, int hb, int rs, float* x) {
  for (int l = 0; l < length; ++l) {
    float* dst = x + static_cast<int64_t>(l) * channels;
    for (int i = 0; i < hb; ++i) dst[i] = rows[i * rs + l];
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
  // accumulator) and two single complex rows.
  int64_t PerThreadFloats() const { return 2LL * hb * rs + 1LL * hb * cs + 2LL * cs; }
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
    // Per channel: 2 real rows (8n bytes) + 1 complex row (4n bytes). 1 MiB leaves half of a
    // 2 MiB per-core L2 (core/README.md, "Machine assumptions") for the source/destination lines
    // and FFTW's twiddles.
    constexpr int64_t kBudget = 1 << 20;
    hb = 16;
    while (hb > 1 && 12LL * lay.n * hb > kBudget) hb /= 2;
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
    for (int i = 0; i < 2 * lay.bins; ++i) out[i] *= inv_n;
  }
}

void FftConv::Forward(const ConvShape& shape, const float* u, const float* k, float* y) {
  const Layout lay = MakeLayout(shape, omp_get_max_threads());
  Reserve(lay);
  KernelSpectrum(shape, lay, k);
  const RealFft& fft = RealFft::Get(lay.n, options_.rigor);
  const int L = shape.length, H = shape.channels;
  const int64_t per_thread = lay.PerThreadFloats();
  const int64_t items = static_cast<int64_t>(shape.batch) * lay.blocks;
  float* scratch = scratch_->data;
  const float* spec = spectrum_->data;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t item = 0; item < items; ++item) {
    const int b = static_cast<int>(item / lay.blocks);
    const int h0 = static_cast<int>(item % lay.blocks) * lay.hb;
    const int hb = std::min(lay.hb, H - h0);
    float* rows = scratch + per_thread * omp_get_thread_num();
    float* crow = rows + 2LL * lay.hb * lay.rs + 1LL * lay.hb * lay.cs;
    const int64_t base = static_cast<int64_t>(b) * L * H + h0;
    Gather(u + base, L, H, hb, lay.n, lay.rs, rows);
    for (int i = 0; i < hb; ++i) {
      float* r = rows + i * lay.rs;
      fft.Forward(r, AsComplex(crow));
      ComplexMul(spec + static_cast<int64_t>(h0 + i) * lay.cs, crow, crow, lay.bins, false);
      fft.Inverse(AsComplex(crow), r);
    }
    Scatter(rows, L, H, hb, lay.rs, y + base);
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
  const bool bidir = shape.direction == ConvDirection::kBidirectional;
  const int64_t per_thread = lay.PerThreadFloats();
  float* scratch = scratch_->data;
  const float* spec = spectrum_->data;
  const float inv_n = 1.0f / n;
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
    if (dk != nullptr) {
      for (int i = 0; i < hb; ++i) {
        float* g = urows + i * lay.rs;
        fft.Inverse(AsComplex(acc + i * lay.cs), g);
        float* dkf = dk + static_cast<int64_t>(h0 + i) * L;
        for (int j = 0; j < L; ++j) dkf[j] = g[j] * inv_n;
        if (bidir) {
          float* dkb = dk + (static_cast<int64_t>(H) + h0 + i) * L;
          for (int j = 0; j < L - 1; ++j) dkb[j] = g[n - 1 - j] * inv_n;
          dkb[L - 1] = 0.0f;  // lag -L never occurs (see header)
        }
      }
    }
  }
}

}  // namespace kernels
}  // namespace lra

#include "core/kernels/fft_conv.h"

#include <omp.h>

#include <algorithm>
#include <complex>
#include <cstring>

#include "absl/base/internal/raw_logging.h"
#include "core/kernels/fft.h"
#include "core/kernels/vmath/vmath.h"

namespace lra {
namespace kernels {
namespace {

// A block is kLanes channels side by side, "lane layout": position l of lane c at
// x[l * kLanes + c]. [B, L, H] holds 16 consecutive channels of one position in one 64-byte
// line, so a block's gather and scatter are line copies, and every elementwise step below runs
// over whole blocks.
constexpr int kLanes = LaneFft::kLanes;

bool IsSevenSmooth(int n) {
  for (int p : {2, 3, 5, 7}) {
    while (n % p == 0) n /= p;
  }
  return n == 1;
}

// Elementwise loops over lane blocks, each a single rounding per element (no product is added
// in the same statement, so no FMA contraction can occur) and vectorized whatever the aliasing
// (GCC's -O2 cost model leaves loops that need alias checks scalar): the result of an element
// does not depend on SIMD or scalar execution. y may equal x (or a, b).
inline void Scale(const float* x, float s, float* y, int64_t count) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] * s;
}
inline void AddRows(const float* a, const float* b, float* y, int64_t count) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) y[i] = a[i] + b[i];
}
inline void MulRows(const float* a, const float* b, float* y, int64_t count) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) y[i] = a[i] * b[i];
}
// y[l][c] = x[l][c] * s[c] for l < rows: a per-channel scale of a lane block.
inline void ScaleLanes(const float* x, const float* s, float* y, int rows) {
  for (int l = 0; l < rows; ++l) {
#pragma omp simd
    for (int c = 0; c < kLanes; ++c) y[l * kLanes + c] = x[l * kLanes + c] * s[c];
  }
}

// Spectra of a lane block: bin q's kLanes real parts, then its kLanes imaginary parts
// (LaneFft's layout). y = a * b (conj_a: conj(a) * b), bin by bin and lane by lane.
inline void ComplexMul(const float* a, const float* b, float* y, int bins, bool conj_a) {
  const float sign = conj_a ? -1.0f : 1.0f;
  for (int q = 0; q < bins; ++q) {
    const float* ar = a + 2 * kLanes * q;
    const float* br = b + 2 * kLanes * q;
    float* yr = y + 2 * kLanes * q;
#pragma omp simd
    for (int c = 0; c < kLanes; ++c) {
      float xr = ar[c], xi = sign * ar[kLanes + c];
      float zr = br[c], zi = br[kLanes + c];
      yr[c] = xr * zr - xi * zi;
      yr[kLanes + c] = xr * zi + xi * zr;
    }
  }
}

// acc += conj(a) * b, bin by bin and lane by lane.
inline void ComplexConjMulAdd(const float* a, const float* b, float* acc, int bins) {
  for (int q = 0; q < bins; ++q) {
    const float* ar = a + 2 * kLanes * q;
    const float* br = b + 2 * kLanes * q;
    float* yr = acc + 2 * kLanes * q;
#pragma omp simd
    for (int c = 0; c < kLanes; ++c) {
      float xr = ar[c], xi = ar[kLanes + c];
      float zr = br[c], zi = br[kLanes + c];
      yr[c] += xr * zr + xi * zi;
      yr[kLanes + c] += xr * zi - xi * zr;
    }
  }
}

// Copies x[0:L, 0:hb] (row stride H: x points at a batch's position 0, channel h0) into rows
// [0, L) of the lane block `lanes`, lanes [hb, kLanes) zero. Rows [L, n) are not touched. The
// 16-float rows are copied inline (as library memcpy calls they cost more than the copies).
void Gather(const float* x, int length, int channels, int hb, float* lanes) {
  for (int l = 0; l < length; ++l) {
    const float* src = x + static_cast<int64_t>(l) * channels;
    float* dst = lanes + l * kLanes;
    if (hb == kLanes) {
#pragma omp simd
      for (int c = 0; c < kLanes; ++c) dst[c] = src[c];
    } else {
      for (int c = 0; c < kLanes; ++c) dst[c] = c < hb ? src[c] : 0.0f;
    }
  }
}

// Inverse of Gather for rows [0, L) and lanes [0, hb).
void Scatter(const float* lanes, int length, int channels, int hb, float* x) {
  for (int l = 0; l < length; ++l) {
    float* dst = x + static_cast<int64_t>(l) * channels;
    const float* src = lanes + l * kLanes;
    if (hb == kLanes) {
#pragma omp simd
      for (int c = 0; c < kLanes; ++c) dst[c] = src[c];
    } else {
      for (int c = 0; c < hb; ++c) dst[c] = src[c];
    }
  }
}

// Zeroes rows [L, n) of a lane block.
void ZeroPads(int length, int n, float* lanes) {
  std::memset(lanes + static_cast<int64_t>(length) * kLanes, 0,
              static_cast<size_t>(n - length) * kLanes * sizeof(float));
}

// v[c] = p[c] for c < hb, 0 for the unused lanes: a per-channel constant as a lane vector.
void LaneVector(const float* p, int hb, float* v) {
  for (int c = 0; c < kLanes; ++c) v[c] = c < hb ? p[c] : 0.0f;
}

// SkipGelu's optional input stages (fft_conv.h) on a gathered block (rows [0, L) of `lanes`
// hold x[b, 0:L, h0:h0 + hb]): each element becomes the pre-norm's output, then the length
// mask's product, in place. Each stage is its own loop with LayerNorm's / Mul's expression, so
// the roundings are theirs. Nothing to do when e has neither stage.
void PrepareInput(const FftConv::SkipGelu& e, const ConvShape& shape, int b, int h0, int hb,
                  float* lanes) {
  const int L = shape.length;
  const int64_t total = static_cast<int64_t>(shape.batch) * L;
  const int len = e.lengths != nullptr ? std::clamp(e.lengths[b], 0, L) : L;
  if (e.norm_stats != nullptr) {
    const float* mean = e.norm_stats + static_cast<int64_t>(b) * L;
    const float* rstd = mean + total;
    alignas(64) float g[kLanes], bias[kLanes];
    LaneVector(e.norm_gain + h0, hb, g);
    LaneVector(e.norm_bias + h0, hb, bias);
    for (int l = 0; l < L; ++l) {
      float* r = lanes + l * kLanes;
      const float m = mean[l], s = rstd[l];
#pragma omp simd
      for (int c = 0; c < kLanes; ++c) r[c] = (r[c] - m) * s * g[c] + bias[c];
    }
  }
  for (int64_t i = static_cast<int64_t>(len) * kLanes; i < static_cast<int64_t>(L) * kLanes; ++i)
    lanes[i] = lanes[i] * 0.0f;
}

bool HasInputStages(const FftConv::SkipGelu& e) {
  const bool norm = e.norm_stats != nullptr;
  ABSL_RAW_CHECK(norm == (e.norm_gain != nullptr) && norm == (e.norm_bias != nullptr),
                 "FftConv::SkipGelu: norm_stats, norm_gain and norm_bias go together");
  return norm || e.lengths != nullptr;
}

// SumToShape's order for the columns of a [rows, channels] matrix: for each lane c and
// l = 0..length-1 in order, part[c] += lanes[l][c], where l is row r0 + l of the matrix; after
// each row r with (r + 1) % block == 0 the block closes: total[c] += part[c], part[c] = 0. Every
// channel is its own chain of adds in that order, the lanes side by side.
void SumColumnsInOrder(const float* lanes, int length, int64_t r0, int64_t block, float* part,
                       float* total) {
  int64_t left = block - r0 % block;  // rows until the open block closes
  for (int l = 0; l < length; ++l) {
#pragma omp simd
    for (int c = 0; c < kLanes; ++c) part[c] += lanes[l * kLanes + c];
    if (--left == 0) {
#pragma omp simd
      for (int c = 0; c < kLanes; ++c) {
        total[c] += part[c];
        part[c] = 0.0f;
      }
      left = block;
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

// Sizes for one call, in floats. Every block and spectrum starts on a 64-byte boundary.
struct FftConv::Layout {
  int n = 0;        // FFT size
  int bins = 0;     // n/2 + 1 complex outputs per lane
  int hb = 0;       // channels per block (<= kLanes)
  int blocks = 0;   // ceil(H / hb)
  int threads = 0;
  int64_t real = 0;  // one real lane block: n rows of kLanes
  int64_t spec = 0;  // one spectrum: bins x 2 x kLanes
  int64_t work = 0;  // LaneFft's work buffer, rounded up to a 64-byte multiple
  // Per-thread scratch: three real blocks (u, dy / dv, conv / du), three spectra (the dk
  // accumulator and two transforms), the transforms' work buffer and 2 kLanes floats (the
  // per-channel sums of dd).
  int64_t PerThreadFloats() const { return 3 * real + 3 * spec + work + 2 * kLanes; }
  // The calling thread's share of `scratch`, carved in that order.
  struct Thread {
    float *u, *d, *v;      // real blocks
    float *acc, *cu, *cd;  // spectra
    float* work;           // LaneFft's work
    float *part, *total;   // kLanes each
  };
  Thread ForThisThread(float* scratch) const {
    Thread t;
    t.u = scratch + PerThreadFloats() * omp_get_thread_num();
    t.d = t.u + real;
    t.v = t.d + real;
    t.acc = t.v + real;
    t.cu = t.acc + spec;
    t.cd = t.cu + spec;
    t.work = t.cd + spec;
    t.part = t.work + work;
    t.total = t.part + kLanes;
    return t;
  }
};

FftConv::FftConv() : spectrum_(new Buffer), scratch_(new Buffer) {}

FftConv::~FftConv() = default;

int FftConv::FftSize(int length) {
  ABSL_RAW_CHECK(length >= 1, "FftConv: length must be >= 1");
  int n = std::max(4, 2 * length);  // LaneFft's smallest size is 4
  while (!IsSevenSmooth(n)) n += 2;
  return n;
}

int64_t FftConv::KernelFloats(const ConvShape& shape) {
  int64_t per = static_cast<int64_t>(shape.channels) * shape.length;
  return shape.direction == ConvDirection::kBidirectional ? 2 * per : per;
}

int64_t FftConv::SpectrumFloats(const ConvShape& shape) {
  const int n = FftSize(shape.length);
  const int64_t blocks = (shape.channels + kLanes - 1) / kLanes;
  return static_cast<int64_t>(shape.batch) * blocks * 2 * kLanes * (n / 2 + 1);
}

int64_t FftConv::WorkspaceBytes() const {
  return (spectrum_->floats + scratch_->floats) * static_cast<int64_t>(sizeof(float));
}

FftConv::Layout FftConv::MakeLayout(const ConvShape& shape, int threads) const {
  ABSL_RAW_CHECK(shape.batch >= 1 && shape.length >= 1 && shape.channels >= 1,
                 "FftConv: batch, length and channels must be >= 1");
  Layout lay;
  lay.n = FftSize(shape.length);
  lay.bins = lay.n / 2 + 1;
  lay.hb = std::min(kLanes, shape.channels);
  lay.blocks = (shape.channels + lay.hb - 1) / lay.hb;
  lay.threads = threads;
  lay.real = static_cast<int64_t>(lay.n) * kLanes;
  lay.spec = static_cast<int64_t>(lay.bins) * 2 * kLanes;
  lay.work = LaneFft::Get(lay.n).WorkFloats();  // a multiple of 16 floats
  return lay;
}

void FftConv::Reserve(const Layout& lay) {
  scratch_->Reserve(lay.PerThreadFloats() * lay.threads);
}

// spectrum_ block j = rfft(two-sided kernel rows of channels [j hb, j hb + hb)) / n, in lane
// layout. The 1/n of the unnormalised inverse is folded in here once instead of once per
// (batch, channel).
void FftConv::KernelSpectrum(const ConvShape& shape, const Layout& lay, const float* k) {
  const int L = shape.length, H = shape.channels, n = lay.n;
  spectrum_->Reserve(lay.blocks * lay.spec);
  const LaneFft& fft = LaneFft::Get(n);
  float* spec = spectrum_->data;
  float* scratch = scratch_->data;
  const bool bidir = shape.direction == ConvDirection::kBidirectional;
  const float inv_n = 1.0f / n;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < lay.blocks; ++blk) {
    const Layout::Thread t = lay.ForThisThread(scratch);
    float* rows = t.u;
    float* work = t.work;
    const int h0 = blk * lay.hb, hb = std::min(lay.hb, H - h0);
    std::memset(rows, 0, lay.real * sizeof(float));
    for (int c = 0; c < hb; ++c) {
      const float* kf = k + static_cast<int64_t>(h0 + c) * L;
      for (int j = 0; j < L; ++j) rows[j * kLanes + c] = kf[j];
      if (bidir) {
        // flip(kb) ends at n-1: kb[i] sits at lag -(i+1) == n-1-i (mod n). n >= 2L keeps it
        // clear of kf's [0, L).
        const float* kb = k + (static_cast<int64_t>(H) + h0 + c) * L;
        for (int i = 0; i < L; ++i) rows[(n - 1 - i) * kLanes + c] = kb[i];
      }
    }
    float* out = spec + blk * lay.spec;
    fft.Forward(rows, out, work);
    Scale(out, inv_n, out, lay.spec);
  }
}

// The forward's loop over (batch, channel block): gathers u's block into ulanes (through the
// input stages when `input` has them) and leaves conv(u, k) in vlanes, then calls
// block(b, h0, hb, ulanes, vlanes, tmp) with `tmp` a free block of at least L kLanes floats.
// u_spectra (null: not kept) receives rfft(u block) of every (b, block), lay.spec floats each
// (SpectrumFloats in all).
template <typename Block>
void FftConv::ForwardBlocks(const ConvShape& shape, const float* u, const float* k,
                            float* u_spectra, const SkipGelu* input, Block block) {
  const bool prepare = input != nullptr && HasInputStages(*input);
  const Layout lay = MakeLayout(shape, omp_get_max_threads());
  Reserve(lay);
  KernelSpectrum(shape, lay, k);
  const LaneFft& fft = LaneFft::Get(lay.n);
  const int L = shape.length, H = shape.channels;
  const int64_t items = static_cast<int64_t>(shape.batch) * lay.blocks;
  float* scratch = scratch_->data;
  const float* spec = spectrum_->data;
#pragma omp parallel
  {
    // ulanes' pads [L, n) are zeroed once per thread and call: the forward transform leaves its
    // input alone and nothing below writes past row L of it, so they stay zero.
    bool pads_zero = false;
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int b = static_cast<int>(item / lay.blocks);
      const int blk = static_cast<int>(item % lay.blocks);
      const int h0 = blk * lay.hb;
      const int hb = std::min(lay.hb, H - h0);
      const Layout::Thread t = lay.ForThisThread(scratch);
      float* ulanes = t.u;
      float* vlanes = t.v;
      float* tmp = t.d;
      float* cspec = t.cd;
      float* uspec = t.cu;
      float* work = t.work;
      if (!pads_zero) ZeroPads(L, lay.n, ulanes);
      pads_zero = true;
      Gather(u + static_cast<int64_t>(b) * L * H + h0, L, H, hb, ulanes);
      if (prepare) PrepareInput(*input, shape, b, h0, hb, ulanes);
      if (u_spectra != nullptr) uspec = u_spectra + item * lay.spec;
      fft.Forward(ulanes, uspec, work);
      ComplexMul(spec + blk * lay.spec, uspec, cspec, lay.bins, false);
      fft.Inverse(cspec, vlanes, work);
      block(b, h0, hb, ulanes, vlanes, tmp);
    }
  }
}

void FftConv::Forward(const ConvShape& shape, const float* u, const float* k, float* y) {
  const int L = shape.length, H = shape.channels;
  ForwardBlocks(shape, u, k, /*u_spectra=*/nullptr, /*input=*/nullptr,
                [&](int b, int h0, int hb, float*, float* vlanes, float*) {
                  Scatter(vlanes, L, H, hb, y + static_cast<int64_t>(b) * L * H + h0);
                });
}

// dk for channels [h0, h0 + hb) from their spectra summed over the batch (acc, destroyed), with
// the real block `rows` as scratch.
void FftConv::KernelGrad(const LaneFft& fft, const ConvShape& shape, const Layout& lay, int h0,
                         int hb, float* acc, float* rows, float* work, float* dk) {
  const int L = shape.length, H = shape.channels, n = lay.n;
  const float inv_n = 1.0f / n;
  fft.Inverse(acc, rows, work);
  for (int c = 0; c < hb; ++c) {
    float* dkf = dk + static_cast<int64_t>(h0 + c) * L;
    for (int j = 0; j < L; ++j) dkf[j] = rows[j * kLanes + c] * inv_n;
    if (shape.direction == ConvDirection::kBidirectional) {
      float* dkb = dk + (static_cast<int64_t>(H) + h0 + c) * L;
      for (int j = 0; j < L - 1; ++j) dkb[j] = rows[(n - 1 - j) * kLanes + c] * inv_n;
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
  const LaneFft& fft = LaneFft::Get(lay.n);
  const int B = shape.batch, L = shape.length, H = shape.channels;
  float* scratch = scratch_->data;
  const float* spec = spectrum_->data;
  // With y = irfft(U K)/n over the zero-padded length n (K is the two-sided kernel):
  //   du = irfft(conj(K) DY)/n, restricted to [0, L)      (correlation with the kernel)
  //   dK = sum_b irfft(conj(U_b) DY_b)/n                   (correlation of dy with u)
  // dK is accumulated over the batch in the frequency domain, so the loop runs over channel
  // blocks in parallel and over the batch inside (one inverse transform per block for dk).
#pragma omp parallel
  {
    bool pads_zero = false;
#pragma omp for schedule(dynamic, 1)
    for (int blk = 0; blk < lay.blocks; ++blk) {
      const int h0 = blk * lay.hb;
      const int hb = std::min(lay.hb, H - h0);
      const Layout::Thread t = lay.ForThisThread(scratch);
      float *ulanes = t.u, *dlanes = t.d, *vlanes = t.v;
      float *acc = t.acc, *cu = t.cu, *cd = t.cd, *work = t.work;
      if (!pads_zero) {
        ZeroPads(L, lay.n, ulanes);
        ZeroPads(L, lay.n, dlanes);
        pads_zero = true;
      }
      if (dk != nullptr) std::memset(acc, 0, sizeof(float) * lay.spec);
      for (int b = 0; b < B; ++b) {
        const int64_t base = static_cast<int64_t>(b) * L * H + h0;
        Gather(dy + base, L, H, hb, dlanes);
        fft.Forward(dlanes, cd, work);
        if (dk != nullptr) {
          Gather(u + base, L, H, hb, ulanes);
          fft.Forward(ulanes, cu, work);
          ComplexConjMulAdd(cu, cd, acc, lay.bins);
        }
        if (du != nullptr) {
          ComplexMul(spec + blk * lay.spec, cd, cu, lay.bins, true);
          fft.Inverse(cu, vlanes, work);
          Scatter(vlanes, L, H, hb, du + base);
        }
      }
      if (dk != nullptr) KernelGrad(fft, shape, lay, h0, hb, acc, vlanes, work, dk);
    }
  }
}

// ---- fused S4 paths (header: ForwardSkipGelu). Every product that the unfused ops store in a
// tensor before adding it is stored in a block here too, in its own loop, so no compiler
// contraction into an FMA can change its rounding. ----

void FftConv::ForwardSkipGelu(const ConvShape& shape, const float* u, const float* k,
                              const SkipGelu& e, float* g, float* y, float* u_spectra) {
  ABSL_RAW_CHECK(e.d != nullptr, "FftConv::ForwardSkipGelu: d is required");
  const int L = shape.length, H = shape.channels;
  const int64_t rows = static_cast<int64_t>(L) * kLanes;
  ForwardBlocks(
      shape, u, k, u_spectra, &e,
      // ulanes: u, then gelu(v) * mask; vlanes: conv, then v; tmp: u * d, then gelu'(v).
      [&](int b, int h0, int hb, float* ulanes, float* vlanes, float* tmp) {
        alignas(64) float d[kLanes];
        LaneVector(e.d + h0, hb, d);
        // Add(conv, Mul(u, d)): the product is rounded on its own first.
        ScaleLanes(ulanes, d, tmp, L);
        AddRows(vlanes, tmp, vlanes, rows);
        vmath::GeluErfWithGrad(vlanes, ulanes, tmp, rows);
        if (e.mask != nullptr) {
          alignas(64) float m[kLanes];
          LaneVector(e.mask + static_cast<int64_t>(b) * H + h0, hb, m);
          ScaleLanes(ulanes, m, ulanes, L);
        }
        const int64_t base = static_cast<int64_t>(b) * L * H + h0;
        Scatter(ulanes, L, H, hb, y + base);
        Scatter(tmp, L, H, hb, g + base);  // gelu'(v), [B, L, H] like y
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
  const LaneFft& fft = LaneFft::Get(lay.n);
  const int B = shape.batch, L = shape.length, H = shape.channels, n = lay.n;
  const int64_t rows = static_cast<int64_t>(L) * kLanes;
  // With the forward's spectra of u, dd comes from the batch sum of conj(U) DV that dk
  // accumulates anyway (Parseval), and u is not read at all; without them, u's blocks are
  // gathered for dk's transforms and dd's products.
  const bool dd_spectral = dd != nullptr && u_spectra != nullptr;
  const bool use_acc = dk != nullptr || dd_spectral;
  const bool need_u = u_spectra == nullptr && (dk != nullptr || dd != nullptr);
  const bool prepare = HasInputStages(e);
  float* scratch = scratch_->data;
  const float* spec = spectrum_->data;
  // The unfused SumToShape's row blocks (core/ops/elementwise.cc): rows of [B*L, H].
  constexpr int64_t kSumBlock = 256;
  // As Backward, with dv = gelu'(v) * (dy * mask) in place of dy, plus du += dv * d and
  // dd = sum over rows of dv * u.
#pragma omp parallel
  {
    // The pads [L, n) of ulanes and dlanes are zeroed once per thread and call: nothing below
    // writes past row L of them (the forward transform leaves its input alone, and KernelGrad's
    // scratch is vlanes).
    bool pads_zero = false;
#pragma omp for schedule(dynamic, 1)
    for (int blk = 0; blk < lay.blocks; ++blk) {
      const int h0 = blk * lay.hb;
      const int hb = std::min(lay.hb, H - h0);
      const Layout::Thread t = lay.ForThisThread(scratch);
      float* ulanes = t.u;
      float* dlanes = t.d;  // dy, then dv
      float* vlanes = t.v;  // du, then dv * u
      float *acc = t.acc, *cd = t.cd, *work = t.work;
      float* cu = t.cu;        // u's spectrum, then du's, then dv * d
      float* part = t.part;    // dd: the open 256-row block's sum
      float* total = t.total;  // dd: the closed blocks' sum
      alignas(64) float d[kLanes];
      LaneVector(e.d + h0, hb, d);
      if (use_acc) std::memset(acc, 0, sizeof(float) * lay.spec);
      std::fill(part, part + kLanes, 0.0f);
      std::fill(total, total + kLanes, 0.0f);
      if (!pads_zero) {
        ZeroPads(L, n, ulanes);
        ZeroPads(L, n, dlanes);
        pads_zero = true;
      }
      for (int b = 0; b < B; ++b) {
        const int64_t base = static_cast<int64_t>(b) * L * H + h0;
        if (need_u) {
          Gather(u + base, L, H, hb, ulanes);
          if (prepare) PrepareInput(e, shape, b, h0, hb, ulanes);
        }
        Gather(dy + base, L, H, hb, dlanes);
        if (e.mask != nullptr) {
          alignas(64) float m[kLanes];
          LaneVector(e.mask + static_cast<int64_t>(b) * H + h0, hb, m);
          ScaleLanes(dlanes, m, dlanes, L);
        }
        // dv = (dy * mask) * gelu'(v) in place: GeluErfBackward's product, with the derivative
        // the forward kept ([B, L, H]); rows [L, n) stay zero.
        for (int l = 0; l < L; ++l) {
          const float* gl = g + base + static_cast<int64_t>(l) * H;
          float* dl = dlanes + l * kLanes;
#pragma omp simd
          for (int c = 0; c < hb; ++c) dl[c] = dl[c] * gl[c];  // lanes [hb, kLanes) stay 0
        }
        fft.Forward(dlanes, cd, work);
        if (use_acc) {
          const float* us = cu;
          if (u_spectra != nullptr) {
            us = u_spectra + (static_cast<int64_t>(b) * lay.blocks + blk) * lay.spec;
          } else {
            fft.Forward(ulanes, cu, work);
          }
          ComplexConjMulAdd(us, cd, acc, lay.bins);
        }
        if (du != nullptr) {
          ComplexMul(spec + blk * lay.spec, cd, cu, lay.bins, true);
          fft.Inverse(cu, vlanes, work);
          // The unfused gradient of u is (dv * d) + conv: Mul's product first, then AddInto.
          ScaleLanes(dlanes, d, cu, L);
          AddRows(cu, vlanes, vlanes, rows);
          // The length mask's Mul backward: du times the 0/1 mask (0 past the length).
          if (e.lengths != nullptr) {
            for (int64_t i = static_cast<int64_t>(std::clamp(e.lengths[b], 0, L)) * kLanes;
                 i < rows; ++i)
              vlanes[i] = vlanes[i] * 0.0f;
          }
          Scatter(vlanes, L, H, hb, du + base);
        }
        if (dd != nullptr && !dd_spectral) {
          // Mul's backward stores dv * u (in vlanes now that du is out), then SumToShape adds
          // the rows of [B*L, H] in order: one chain per channel, the lanes side by side.
          MulRows(dlanes, ulanes, vlanes, rows);
          SumColumnsInOrder(vlanes, L, static_cast<int64_t>(b) * L, kSumBlock, part, total);
        }
      }
      if (dd_spectral) {
        // sum_l dv[l] u[l] over the zero-padded length n = (1/n) sum_k conj(U[k]) DV[k]; both
        // are real, so the bins k and n - k pair up: (1/n) (A[0] + A[n/2] + 2 sum_{0<k<n/2}
        // Re A[k]) with A the batch sum (n is even). Before KernelGrad, whose inverse
        // transform destroys acc.
        for (int c = 0; c < hb; ++c) {
          double sum = static_cast<double>(acc[c]) + acc[(n / 2) * 2 * kLanes + c];
          for (int q = 1; q < n / 2; ++q) sum += 2.0 * acc[q * 2 * kLanes + c];
          dd[h0 + c] = static_cast<float>(sum / n);
        }
      } else if (dd != nullptr) {
        const bool open = (static_cast<int64_t>(B) * L) % kSumBlock != 0;
        for (int c = 0; c < hb; ++c) dd[h0 + c] = open ? total[c] + part[c] : total[c];
      }
      if (dk != nullptr) KernelGrad(fft, shape, lay, h0, hb, acc, vlanes, work, dk);
    }
  }
}

}  // namespace kernels
}  // namespace lra

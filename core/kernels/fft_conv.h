// FFT long convolution, the convolution mode of S4/S4D (state-spaces/s4 e757cef,
// src/models/sequence/kernels/fftconv.py, FFTConv.forward).
//
// Raw-pointer kernel: float arrays and int shapes, no tensor library. The autodiff op that wraps
// it lives in core/ (owned by the core helper).
//
// Layouts (all row-major, contiguous):
//   u, y, du, dy : [B, L, H]   H (channels) innermost: what a [B*L, H] linear layer produces.
//   k, dk        : [H, L]      causal kernel, L innermost.
//                  [2, H, L]   bidirectional: k[0] is the forward kernel kf, k[1] the backward
//                              kernel kb (S4's `channels=2` kernel, split as `(s c) h l`).
//
// Math (t, s in [0, L)):
//   causal:        y[b,t,h] = sum_{s<=t} kf[h, t-s] u[b,s,h]
//   bidirectional: y[b,t,h] = sum_{s<=t} kf[h, t-s] u[b,s,h] + sum_{s>t} kb[h, s-t-1] u[b,s,h]
// The bidirectional form is S4's: the length-n two-sided kernel is kf padded on the right plus
// flip(kb) padded on the left, so the lag -1 uses kb[0] (the same fftconv.py, lines 96-99:
// `F.pad(k0, (0, L)) + F.pad(k1.flip(-1), (L, 0))`) and kb[h, L-1] (lag -L) never contributes;
// its gradient is exactly 0.
// The D*u skip term of S4 is not part of this kernel.
//
// Method: zero-padded real FFTs of size n >= 2L (so circular = linear convolution; both
// directions share the one transform), 16 channels at a time in lane layout with LaneFft
// (core/kernels/lane_fft.h: channel c of a block in SIMD lane c), inside an OpenMP loop over
// (batch, channel block). 16 consecutive channels of one position are one 64-byte line of
// [B, L, H], so a block's gather and scatter are line copies (no transposes), every
// elementwise step runs over whole blocks, and each channel's arithmetic is the same whichever
// lane or block it lands in (bitwise: fft_conv_test ChannelsDoNotDependOnTheirBlock). H need not
// be a multiple of 16: the last block runs with its unused lanes at zero. n is 2L when 2L is
// 7-smooth (every power of two, 1000, 1024, ...), otherwise the next 7-smooth even size (LaneFft
// has radix 2, 3, 4, 5, 7, 8 and 16 passes), at least 4; the result is the same.
#ifndef LRA_CORE_KERNELS_FFT_CONV_H_
#define LRA_CORE_KERNELS_FFT_CONV_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/kernels/lane_fft.h"

namespace lra {
namespace kernels {

enum class ConvDirection { kCausal, kBidirectional };

// Geometry of one convolution call.
struct ConvShape {
  int batch = 0;     // B >= 1
  int length = 0;    // L >= 1
  int channels = 0;  // H >= 1
  ConvDirection direction = ConvDirection::kCausal;
};

class FftConv {
 public:
  FftConv();
  ~FftConv();
  FftConv(const FftConv&) = delete;
  FftConv& operator=(const FftConv&) = delete;

  // The FFT size used for length L: the smallest even 7-smooth n >= max(2L, 4).
  static int FftSize(int length);
  // Number of floats in k (and dk): H*L causal, 2*H*L bidirectional.
  static int64_t KernelFloats(const ConvShape& shape);

  // y = conv(u, k); y is overwritten. u, k, y must not alias.
  void Forward(const ConvShape& shape, const float* u, const float* k, float* y);

  // Given dy = dLoss/dy, OVERWRITES du = dLoss/du (if du != nullptr) and dk = dLoss/dk (if
  // dk != nullptr; summed over the batch). Either may be null to skip its work. The kernel
  // spectrum is recomputed from k, so Backward does not depend on state left by Forward and one
  // object may serve several layers in any order.
  void Backward(const ConvShape& shape, const float* u, const float* k, const float* dy, float* du,
                float* dk);

  // The S4 block's convolution fused with its D skip, GELU and tied dropout (state-spaces/s4
  // d589d98 src/models/sequence/ss/s4.py lines 222-229: y = conv + D u, activation, dropout),
  // done block by block while each block of 16 channels is in cache instead of as four passes
  // over [B, L, H]:
  //   v = conv(u, k) + u * d[h]
  //   y = gelu_erf(v) * mask[b, h]       (mask null: no dropout)
  //   g = gelu_erf'(v)                   (written to g, [B, L, H] like y: the backward needs v
  //                                      for nothing else, so it multiplies instead of
  //                                      recomputing erf and exp)
  // d is [H]; mask is [B, H] (0 or 1/(1-p): one tied-dropout value per (batch, channel), as
  // core/ops/dropout.h's TiedDropout over the length axis). The arithmetic is that of the unfused
  // ops (FftConv, Mul, Add, vmath::GeluErf, the dropout's multiply), in the same order, and g is the
  // derivative vmath::GeluErfBackward computes (vmath::GeluErfWithGrad), so the results are
  // bitwise theirs (core/ops/sequence_test.cc checks it).
  //
  // Optional input stages, applied as each block is gathered (in place in the block, so the
  // input after them is never stored as [B, L, H]):
  //  - pre-norm (norm_stats, norm_gain, norm_bias: all or none): u is then the raw x of an S4
  //    block, and the convolution's input is its pre-LayerNorm's output
  //      z[b,l,h] = (x[b,l,h] - mean[b L + l]) * rstd[b L + l] * gain[h] + bias[h]
  //    in LayerNorm's order of operations (core/ops/norm.cc), so bitwise the stored output of
  //    core/ops' LayerNorm; mean and rstd are rows 0 and 1 of norm_stats [2, B L], as
  //    core/ops/norm.h's LayerNormStats returns them;
  //  - lengths ([B]): then z is multiplied by 0 at positions l >= lengths[b] (S4 zeroes the
  //    layer input past each sequence's length, models/s4/s4_model.cc MaskPastLengths, which
  //    multiplies by a 0/1 mask; the same product here).
  // Backward's du is then the gradient with respect to z before the length mask (the mask's
  // product applied: 0 past the lengths), i.e. what the unfused mask's Mul hands to the
  // LayerNorm's backward; the caller runs that backward (core/ops/norm.h LayerNormBackward).
  struct SkipGelu {
    const float* d = nullptr;     // [H], required
    const float* mask = nullptr;  // [B, H] or null
    const float* norm_stats = nullptr;  // [2, B L] or null
    const float* norm_gain = nullptr;   // [H] or null
    const float* norm_bias = nullptr;   // [H] or null
    const int32_t* lengths = nullptr;   // [B] or null
  };
  //
  // u_spectra (optional, SpectrumFloats(shape) floats, 64-byte aligned) keeps the forward's
  // rfft of every row of u for BackwardSkipGelu, which then skips that transform (one of the
  // five per row and layer) and never reads u, at up to 8 (n/2 + 8) bytes per (b, h) row held
  // from the forward to the backward (about twice u itself).
  void ForwardSkipGelu(const ConvShape& shape, const float* u, const float* k, const SkipGelu& e,
                       float* g, float* y, float* u_spectra = nullptr);
  // Given dy = dLoss/dy and the forward's g: OVERWRITES du [B, L, H], dk (as Backward) and
  // dd = dLoss/dd [H] = sum over (b, l) of dv u, each skipped when null. u_spectra: what
  // ForwardSkipGelu kept for the same shape and u, or null. Without it, dd sums the rows of
  // [B*L, H] in blocks of 256 rows, then the blocks in order, as core/ops' SumToShape does for
  // the unfused Mul (bitwise the unfused ops); with it, dd comes from the batch sum of
  // conj(U) DV that dk accumulates anyway (Parseval: sum_l dv u = (1/n) sum_k conj(U) DV), so
  // u is not gathered; its rounding is the FFTs' (LaneFft's forward bound, lane_fft_test.cc,
  // on dv and on u, summed over the batch), not the sum's.
  // du and dk are bitwise the same either way.
  void BackwardSkipGelu(const ConvShape& shape, const float* u, const float* k,
                        const SkipGelu& e, const float* g, const float* dy, float* du, float* dk,
                        float* dd, const float* u_spectra = nullptr);
  // Floats of ForwardSkipGelu's u_spectra: for each (batch, block of 16 channels) the block's
  // LaneFft spectrum, (n/2 + 1) x 2 x 16 floats (a partial last block takes a whole one).
  static int64_t SpectrumFloats(const ConvShape& shape);

  // Bytes of scratch this object holds (kernel spectrum + per-thread block buffers). Grows to
  // the largest shape seen; no allocation happens in a call whose shape fits.
  int64_t WorkspaceBytes() const;

  // Not thread-safe per object: one call at a time (the call itself is OpenMP-parallel).
  // Objects may be used concurrently with each other; LaneFft plans are shared process-wide.

 private:
  struct Buffer;
  struct Layout;
  Layout MakeLayout(const ConvShape& shape, int threads) const;
  void Reserve(const Layout& layout);
  void KernelSpectrum(const ConvShape& shape, const Layout& layout, const float* k);
  template <typename Block>
  void ForwardBlocks(const ConvShape& shape, const float* u, const float* k, float* u_spectra,
                     const SkipGelu* input, Block block);
  static void KernelGrad(const LaneFft& fft, const ConvShape& shape, const Layout& lay, int h0,
                         int hb, float* acc, float* rows, float* work, float* dk);

  std::unique_ptr<Buffer> spectrum_;  // the kernel's LaneFft spectrum per channel block, / n
  std::unique_ptr<Buffer> scratch_;   // per-thread block buffers
};

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_FFT_CONV_H_

#include "models/s4/prenorm_conv.h"

#include <algorithm>
#include <vector>

#include "core/check.h"
#include "core/kernels/fft_conv.h"

namespace lra {
namespace s4 {
namespace {

// One engine per thread, as core/ops/sequence.cc's: it holds scratch and is not thread-safe.
kernels::FftConv& Engine() {
  thread_local kernels::FftConv engine;
  return engine;
}

// Where the kernel writes v's gradient: v's own buffer on its first gradient, else a temporary
// added in afterwards (core/ops/sequence.cc does the same).
struct Target {
  Target(const Var& v, bool needed) : v_(v), needed_(needed) {
    if (!needed) return;
    bool ow;
    Tensor& g = v.GradForWrite(&ow);
    if (ow) {
      direct_ = &g;
    } else {
      temp_ = Tensor::Empty(v.shape());
    }
  }
  float* data() {
    if (!needed_) return nullptr;
    return direct_ != nullptr ? direct_->data<float>() : temp_.data<float>();
  }
  void Finish() {
    if (needed_ && direct_ == nullptr) AddInto(v_.GradForAccumulate(), temp_);
  }

 private:
  const Var& v_;
  bool needed_;
  Tensor* direct_ = nullptr;
  Tensor temp_;
};

}  // namespace

Var PreNormConvSkipGelu(const Var& x, const Var& gain, const Var& bias, float eps,
                        const int32_t* lengths, const Var& k, const Var& d,
                        ConvDirection direction, float dropout, bool training, Rng& rng,
                        const Tensor& given_stats) {
  LRA_CHECK(x.rank() == 3) << "PreNormConvSkipGelu: x " << x.shape().ToString()
                           << " must be [B, L, H]";
  const int64_t b = x.dim(0), l = x.dim(1), h = x.dim(2);
  const Shape vec{h};
  LRA_CHECK(gain.shape() == vec && bias.shape() == vec && d.shape() == vec)
      << "PreNormConvSkipGelu: gain " << gain.shape().ToString() << " bias "
      << bias.shape().ToString() << " d " << d.shape().ToString() << ", want [" << h << "]";
  const Shape kwant = direction == ConvDirection::kCausal ? Shape{h, l} : Shape{2, h, l};
  LRA_CHECK(k.shape() == kwant) << "PreNormConvSkipGelu: kernel " << k.shape().ToString()
                                << ", want " << kwant.ToString();
  LRA_CHECK(dropout >= 0.0f && dropout < 1.0f) << "PreNormConvSkipGelu: dropout " << dropout;
  kernels::ConvShape s;
  s.batch = static_cast<int>(b);
  s.length = static_cast<int>(l);
  s.channels = static_cast<int>(h);
  s.direction = direction;
  // MaskPastLengths' mask only where some sequence is shorter than L (it returns z unmasked
  // otherwise; a mask of ones would give the same bits anyway).
  std::vector<int32_t> lens;
  if (lengths != nullptr && std::any_of(lengths, lengths + b, [&](int32_t n) { return n < l; }))
    lens.assign(lengths, lengths + b);
  // TiedDropout's draws (core/ops/dropout.cc), as FftConvSkipGelu takes them.
  Tensor mask;
  if (training && dropout > 0.0f) {
    const int64_t count = b * h;
    std::vector<uint8_t> keep(count);
    rng.FillBernoulli(keep.data(), count, 1.0f - dropout);
    mask = Tensor::Empty({b, h});
    const float scale = 1.0f / (1.0f - dropout);
    for (int64_t i = 0; i < count; ++i) mask.data<float>()[i] = keep[i] ? scale : 0.0f;
  }
  LRA_CHECK(!given_stats.defined() || given_stats.shape() == Shape({2, b * l}))
      << "PreNormConvSkipGelu: stats " << given_stats.shape().ToString() << ", want [2, "
      << b * l << "]";
  const Tensor stats = given_stats.defined() ? given_stats : LayerNormStats(x.value(), eps);
  kernels::FftConv* eng = &Engine();
  auto input = [=](kernels::FftConv::SkipGelu* e) {
    e->d = d.value().data<float>();
    e->mask = mask.defined() ? mask.data<float>() : nullptr;
    e->norm_stats = stats.data<float>();
    e->norm_gain = gain.value().data<float>();
    e->norm_bias = bias.value().data<float>();
    e->lengths = lens.empty() ? nullptr : lens.data();
  };
  kernels::FftConv::SkipGelu e;
  input(&e);
  Tensor g = Tensor::Empty({b, l, h});  // gelu'(conv + z d), [B, L, H]
  Tensor y = Tensor::Empty(x.shape());
  Tensor u_spectra;
  if (NeedsGrad({k})) u_spectra = Tensor::Empty({kernels::FftConv::SpectrumFloats(s)});
  eng->ForwardSkipGelu(s, x.value().data<float>(), k.value().data<float>(), e, g.data<float>(),
                       y.data<float>(), u_spectra.defined() ? u_spectra.data<float>() : nullptr);
  if (!NeedsGrad({x, gain, bias, k, d})) return Constant(y);
  return MakeOp("PreNormConvSkipGelu", y, {x, gain, bias, k, d},
                [x, gain, bias, k, d, s, eng, stats, g, u_spectra, input](const Tensor& dy) {
    kernels::FftConv::SkipGelu e;
    input(&e);
    // The gradient of LayerNorm's output (after the mask's Mul backward), then LayerNorm's
    // backward from it.
    const bool need_dz = x.requires_grad() || gain.requires_grad() || bias.requires_grad();
    Tensor dz = need_dz ? Tensor::Empty(x.shape()) : Tensor();
    Target dk(k, k.requires_grad()), dd(d, d.requires_grad());
    eng->BackwardSkipGelu(s, x.value().data<float>(), k.value().data<float>(), e,
                          g.data<float>(), dy.data<float>(),
                          need_dz ? dz.data<float>() : nullptr, dk.data(), dd.data(),
                          u_spectra.defined() ? u_spectra.data<float>() : nullptr);
    dk.Finish();
    dd.Finish();
    if (need_dz) LayerNormBackward(x, gain, bias, stats, dz.data<float>());
  });
}

}  // namespace s4
}  // namespace lra

#include "core/ops/sequence.h"

#include <vector>

#include "core/check.h"

namespace lra {
namespace {

// One engine per thread: the kernel objects hold scratch and are not thread-safe per object.
kernels::FftConv& DefaultFftConv() {
  thread_local kernels::FftConv engine;
  return engine;
}

kernels::Attention& DefaultAttention(AttentionAlgorithm algo) {
  thread_local kernels::Attention dense(kernels::AttentionOptions{AttentionAlgorithm::kDense});
  thread_local kernels::Attention blocked(kernels::AttentionOptions{AttentionAlgorithm::kBlocked});
  return algo == AttentionAlgorithm::kDense ? dense : blocked;
}

// Buffer the kernel can overwrite for v's gradient: the gradient itself on first use, else a
// temporary that Finish() adds in.
struct GradTarget {
  const Var* v;
  Tensor* direct = nullptr;
  Tensor temp;
  float* data() { return direct ? direct->data<float>() : temp.data<float>(); }
  void Finish() {
    if (!direct && temp.defined()) AddInto(v->GradForAccumulate(), temp);
  }
};

GradTarget Target(const Var& v, bool needed) {
  GradTarget t{&v};
  if (needed) {
    bool ow;
    Tensor& g = v.GradForWrite(&ow);
    if (ow) {
      t.direct = &g;
      return t;
    }
  }
  t.temp = Tensor::Empty(v.shape());
  if (!needed) t.v = nullptr;
  return t;
}

// The kernel geometry of u [B, L, H] and k ([H, L] causal, [2, H, L] bidirectional), checked.
kernels::ConvShape CheckedConvShape(const char* op, const Var& u, const Var& k,
                                    ConvDirection direction) {
  LRA_CHECK(u.rank() == 3) << op << ": u " << u.shape().ToString() << " must be [B, L, H]";
  kernels::ConvShape s;
  s.batch = static_cast<int>(u.dim(0));
  s.length = static_cast<int>(u.dim(1));
  s.channels = static_cast<int>(u.dim(2));
  s.direction = direction;
  const Shape want = direction == ConvDirection::kCausal ? Shape{u.dim(2), u.dim(1)}
                                                         : Shape{2, u.dim(2), u.dim(1)};
  LRA_CHECK(k.shape() == want) << op << ": kernel " << k.shape().ToString() << ", want "
                               << want.ToString();
  return s;
}

}  // namespace

// Saves u and k (shared storage); the kernel recomputes the spectrum of k in backward.
Var FftConv(const Var& u, const Var& k, ConvDirection direction, kernels::FftConv* engine) {
  const kernels::ConvShape s = CheckedConvShape("FftConv", u, k, direction);
  kernels::FftConv* eng = engine ? engine : &DefaultFftConv();
  Tensor y = Tensor::Empty(u.shape());
  eng->Forward(s, u.value().data<float>(), k.value().data<float>(), y.data<float>());
  return MakeOp("FftConv", y, {u, k}, [u, k, s, eng](const Tensor& dy) {
    GradTarget du = Target(u, u.requires_grad());
    GradTarget dk = Target(k, k.requires_grad());
    eng->Backward(s, u.value().data<float>(), k.value().data<float>(), dy.data<float>(),
                  u.requires_grad() ? du.data() : nullptr, k.requires_grad() ? dk.data() : nullptr);
    if (u.requires_grad()) du.Finish();
    if (k.requires_grad()) dk.Finish();
  });
}

Var FftConvSkipGelu(const Var& u, const Var& k, const Var& d, ConvDirection direction,
                    float dropout, bool training, Rng& rng, kernels::FftConv* engine) {
  const kernels::ConvShape s = CheckedConvShape("FftConvSkipGelu", u, k, direction);
  LRA_CHECK(d.shape() == Shape{u.dim(2)})
      << "FftConvSkipGelu: d " << d.shape().ToString() << ", want [" << u.dim(2) << "]";
  LRA_CHECK(dropout >= 0.0f && dropout < 1.0f) << "FftConvSkipGelu: dropout " << dropout;
  // TiedDropout's draws (core/ops/dropout.cc): one Bernoulli per (batch, channel).
  Tensor mask;
  if (training && dropout > 0.0f) {
    const int64_t count = u.dim(0) * u.dim(2);
    std::vector<uint8_t> keep(count);
    rng.FillBernoulli(keep.data(), count, 1.0f - dropout);
    mask = Tensor::Empty({u.dim(0), u.dim(2)});
    const float scale = 1.0f / (1.0f - dropout);
    for (int64_t i = 0; i < count; ++i) mask.data<float>()[i] = keep[i] ? scale : 0.0f;
  }
  kernels::FftConv* eng = engine ? engine : &DefaultFftConv();
  kernels::FftConv::SkipGelu e;
  e.d = d.value().data<float>();
  e.mask = mask.defined() ? mask.data<float>() : nullptr;
  Tensor g = Tensor::Empty(u.shape());  // gelu'(conv + u d), [B, L, H]
  Tensor y = Tensor::Empty(u.shape());
  // The rfft of u's rows, kept for dk's backward (one transform per row fewer; bitwise the same).
  Tensor u_spectra;
  if (NeedsGrad({k})) u_spectra = Tensor::Empty({kernels::FftConv::SpectrumFloats(s)});
  eng->ForwardSkipGelu(s, u.value().data<float>(), k.value().data<float>(), e, g.data<float>(),
                       y.data<float>(), u_spectra.defined() ? u_spectra.data<float>() : nullptr);
  if (!NeedsGrad({u, k, d})) return Constant(y);
  return MakeOp("FftConvSkipGelu", y, {u, k, d},
                [u, k, d, s, eng, g, mask, u_spectra](const Tensor& dy) {
    GradTarget du = Target(u, u.requires_grad());
    GradTarget dk = Target(k, k.requires_grad());
    GradTarget dd = Target(d, d.requires_grad());
    kernels::FftConv::SkipGelu e;
    e.d = d.value().data<float>();
    e.mask = mask.defined() ? mask.data<float>() : nullptr;
    eng->BackwardSkipGelu(s, u.value().data<float>(), k.value().data<float>(), e,
                          g.data<float>(), dy.data<float>(),
                          u.requires_grad() ? du.data() : nullptr,
                          k.requires_grad() ? dk.data() : nullptr,
                          d.requires_grad() ? dd.data() : nullptr,
                          u_spectra.defined() ? u_spectra.data<float>() : nullptr);
    if (u.requires_grad()) du.Finish();
    if (k.requires_grad()) dk.Finish();
    if (d.requires_grad()) dd.Finish();
  });
}

// Saves q, k, v, the output, the kernel's saved state (probabilities for dense, row logsumexp
// for blocked), the mask and the dropout key; not the dropout mask, which the kernel
// regenerates.
Var Attention(const Var& q, const Var& k, const Var& v, const std::vector<int32_t>& lengths,
              const AttentionConfig& config, const std::vector<uint8_t>& mask, Rng* rng) {
  LRA_CHECK(q.rank() == 3 && q.shape() == k.shape() && q.shape() == v.shape())
      << "Attention: q " << q.shape().ToString() << " k " << k.shape().ToString() << " v "
      << v.shape().ToString() << " must all be [B, L, heads * d]";
  LRA_CHECK(config.heads >= 1 && q.dim(2) % config.heads == 0)
      << "Attention: width " << q.dim(2) << " not divisible by " << config.heads << " heads";
  kernels::AttentionShape s;
  s.batch = static_cast<int>(q.dim(0));
  s.length = static_cast<int>(q.dim(1));
  s.heads = config.heads;
  s.head_dim = static_cast<int>(q.dim(2) / config.heads);
  s.causal = config.causal;
  LRA_CHECK(lengths.empty() || static_cast<int>(lengths.size()) == s.batch)
      << "Attention: " << lengths.size() << " lengths for batch " << s.batch;
  for (int32_t n : lengths)
    LRA_CHECK(n >= 0 && n <= s.length) << "Attention: length " << n << " not in [0, " << s.length << "]";
  LRA_CHECK(mask.empty() || static_cast<int64_t>(mask.size()) == q.dim(0) * q.dim(1))
      << "Attention: mask of " << mask.size() << " bytes, want B * L = "
      << q.dim(0) * q.dim(1);
  LRA_CHECK(config.dropout >= 0.0f && config.dropout < 1.0f)
      << "Attention: dropout " << config.dropout << " not in [0, 1)";
  kernels::AttentionDropout drop;
  if (config.dropout > 0.0f) {
    LRA_CHECK(rng != nullptr) << "Attention: dropout " << config.dropout << " needs an Rng";
    drop.rate = config.dropout;
    drop.seed = rng->NextU64();
  }
  kernels::Attention& eng = DefaultAttention(config.algorithm);
  const bool grad = NeedsGrad({q, k, v});
  Tensor saved = Tensor::Empty({eng.SavedFloats(s)});
  Tensor out = Tensor::Empty(q.shape());
  const int* lp = lengths.empty() ? nullptr : lengths.data();
  const uint8_t* kp = mask.empty() ? nullptr : mask.data();
  eng.Forward(s, q.value().data<float>(), k.value().data<float>(), v.value().data<float>(), lp,
              kp, drop, out.data<float>(), saved.data<float>());
  if (!grad) return Constant(out);
  const AttentionAlgorithm algo = config.algorithm;
  return MakeOp("Attention", out, {q, k, v},
                [q, k, v, lengths, mask, drop, s, out, saved, algo](const Tensor& dout) {
    GradTarget dq = Target(q, q.requires_grad());
    GradTarget dk = Target(k, k.requires_grad());
    GradTarget dv = Target(v, v.requires_grad());
    const int* lp = lengths.empty() ? nullptr : lengths.data();
    const uint8_t* kp = mask.empty() ? nullptr : mask.data();
    DefaultAttention(algo).Backward(s, q.value().data<float>(), k.value().data<float>(),
                                    v.value().data<float>(), lp, kp, drop, out.data<float>(),
                                    saved.data<float>(), dout.data<float>(), dq.data(), dk.data(),
                                    dv.data());
    if (q.requires_grad()) dq.Finish();
    if (k.requires_grad()) dk.Finish();
    if (v.requires_grad()) dv.Finish();
  });
}

}  // namespace lra

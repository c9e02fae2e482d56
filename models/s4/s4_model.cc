#include "models/s4/s4_model.h"

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/ops/ops.h"
#include "core/random.h"
#include "models/common/layers.h"
#include "models/registry.h"
#include "models/s4/prenorm_conv.h"
#include "models/s4/ssm_init.h"
#include "models/s4/ssm_kernel.h"
#include "models/s4/ssm_recurrent.h"

namespace lra::models::s4model {
namespace {

using ::lra::s4::DiagInit;
using ::lra::s4::Discretization;
using ::lra::s4::DtTransform;
using ::lra::s4::PreNormConvSkipGelu;
using ::lra::s4::RealTransform;
using ::lra::s4::SsmDims;
using ::lra::s4::SsmGrads;
using ::lra::s4::SsmOptions;
using ::lra::s4::SsmParams;
using cd = std::complex<double>;

// Complex parameters are stored as float tensors [..., 2] (real, imaginary interleaved; S4's
// view_as_real), so every optimizer and checkpoint sees plain float parameters. Gradients are
// dF/dRe, dF/dIm in the same layout, which is what the raw kernels produce.
Tensor ComplexTensor(const std::vector<int64_t>& dims, const std::vector<c64>& v) {
  std::vector<int64_t> d = dims;
  d.push_back(2);
  Tensor t = Tensor::Empty(Shape(d));
  LRA_CHECK(static_cast<int64_t>(v.size()) * 2 == t.numel()) << "ComplexTensor: size";
  std::memcpy(t.data<float>(), v.data(), v.size() * sizeof(c64));
  return t;
}
const c64* AsComplex(const Tensor& t) { return reinterpret_cast<const c64*>(t.data<float>()); }
c64* AsComplex(Tensor& t) { return reinterpret_cast<c64*>(t.data<float>()); }

// Where the block's dropouts sit (see s4_model.h): S4's V3 code (state-spaces/s4 d589d98) or its
// V4 code (e757cef), which adds an untied dropout before the GELU.
enum class BlockVersion { kV3, kV4 };

// Which parameters skip weight decay, besides the SSM's A, B, P and dt (which never decay):
//   kBiasesNormsEmbedding  every bias, norm parameter and the embedding (this code's default)
//   kNone                  none: S4's V3 recipe. d589d98 configs/config.yaml sets no
//                          train.optimizer_param_grouping, so train.py line 456 never calls
//                          add_optimizer_hooks and every parameter without an SSM `_optim`
//                          takes the optimizer's weight decay (train.py lines 460-461).
//   kBackboneBiasesNorms   the backbone's biases and norm parameters only: S4's V4 recipe.
//                          e757cef configs/config.yaml lines 42-44 and train.py line 460 call
//                          add_optimizer_hooks(self.model) on the backbone alone
//                          (src/utils/optim_groups.py lines 12-38), so the encoder (embedding,
//                          linear pixel encoder; self.encoder, train.py line 191) and the
//                          decoder (self.decoder, line 192) decay.
enum class NoDecay { kBiasesNormsEmbedding, kNone, kBackboneBiasesNorms };

struct Config {
  bool nplr = false;
  int l_max = 0;  // DPLR kernel length (C-tilde is defined for it)
  int d_model = 0, n_layers = 0, d_state = 0, n_ssm = 0;
  DiagInit init = DiagInit::kLin;
  SsmOptions ssm;
  double dt_min = 1e-3, dt_max = 1e-1;
  bool bidirectional = false, prenorm = true, glu = true, tie_dropout = true;
  bool linear_pixels = true;
  NormKind norm = NormKind::kLayer;
  PoolKind pool = PoolKind::kMean;
  PixelNorm pixel_norm = PixelNorm::kUnit;
  BlockVersion block_version = BlockVersion::kV3;
  NoDecay no_decay = NoDecay::kBiasesNormsEmbedding;
  float dropout = 0.0f;
  double lr_ssm = 1e-3, lr_dt = -1, lr_c = -1;
};

absl::StatusOr<Config> ParseConfig(const Options& o) {
  Config c;
  c.nplr = o.String("mode") == "nplr";
  c.d_model = o.Int("d_model");
  c.n_layers = o.Int("n_layers");
  c.d_state = o.Int("d_state");
  c.n_ssm = o.Int("n_ssm");
  const std::string init = o.String("init");
  c.init = init == "lin" ? DiagInit::kLin : init == "inv" ? DiagInit::kInv
           : init == "legs" ? DiagInit::kLegs : DiagInit::kReal;
  c.ssm.disc = o.String("disc") == "zoh" ? Discretization::kZoh : Discretization::kBilinear;
  c.ssm.dt_transform = o.String("dt_transform") == "exp" ? DtTransform::kExp
                                                           : DtTransform::kSoftplus;
  const std::string rt = o.String("real_transform");
  c.ssm.real_transform = rt == "exp" ? RealTransform::kExp
                         : rt == "relu" ? RealTransform::kRelu : RealTransform::kNone;
  c.dt_min = o.Float("dt_min");
  c.dt_max = o.Float("dt_max");
  c.bidirectional = o.Bool("bidirectional");
  c.prenorm = o.Bool("prenorm");
  c.glu = o.Bool("glu");
  c.tie_dropout = o.Bool("tie_dropout");
  c.linear_pixels = o.Bool("linear_pixels");
  c.dropout = static_cast<float>(o.Float("dropout"));
  c.lr_ssm = o.Float("lr_ssm");
  c.lr_dt = o.Float("lr_dt");
  c.lr_c = o.Float("lr_c");
  c.l_max = o.Int("l_max");
  auto norm = ParseNormKind(o.String("norm"));
  if (!norm.ok()) return norm.status();
  c.norm = *norm;
  auto pool = ParsePoolKind(o.String("pool"));
  if (!pool.ok()) return pool.status();
  c.pool = *pool;
  auto pixel_norm = ParsePixelNorm(o.String("pixel_norm"));
  if (!pixel_norm.ok()) return pixel_norm.status();
  c.pixel_norm = *pixel_norm;
  c.block_version = o.String("block_version") == "v4" ? BlockVersion::kV4 : BlockVersion::kV3;
  const std::string no_decay = o.String("no_decay");
  c.no_decay = no_decay == "none"                    ? NoDecay::kNone
               : no_decay == "backbone_biases_norms" ? NoDecay::kBackboneBiasesNorms
                                                     : NoDecay::kBiasesNormsEmbedding;
  if (c.d_model < 1 || c.n_layers < 0 || c.d_state < 2 || c.d_state % 2)
    return absl::InvalidArgumentError(absl::StrCat(
        "s4: need d_model >= 1, n_layers >= 0 and an even d_state >= 2 (got d_model=", c.d_model,
        " n_layers=", c.n_layers, " d_state=", c.d_state, ")"));
  if (c.n_ssm < 0 || (c.n_ssm > 0 && c.d_model % c.n_ssm != 0))
    return absl::InvalidArgumentError(absl::StrCat("s4: n_ssm=", c.n_ssm,
                                                   " must divide d_model=", c.d_model,
                                                   " (0 means one copy per channel)"));
  if (!(c.dt_min > 0 && c.dt_min <= c.dt_max))
    return absl::InvalidArgumentError("s4: need 0 < dt_min <= dt_max");
  if (c.dropout < 0 || c.dropout >= 1)
    return absl::InvalidArgumentError("s4: dropout must be in [0, 1)");
  if (c.nplr && c.ssm.disc != Discretization::kBilinear)
    return absl::InvalidArgumentError(
        "s4: mode=nplr (DPLR S4) is bilinear only; set disc=bilinear or use the s4d model");
  if (c.nplr && init != "legs")
    return absl::InvalidArgumentError("s4: mode=nplr supports init=legs (HiPPO-LegS) only");
  return c;
}

// The SSM convolution kernel K [Q, H, L] as one tape op over the raw SSM parameters.
Var SsmKernel(const Config& cfg, const SsmDims& d, const Var& dt, const Var& a_re,
              const Var& a_im, const Var& b, const Var& p, const Var& c) {
  Tensor k = Tensor::Empty({d.q, d.h, d.l});
  auto params = [=]() {
    SsmParams<float> sp;
    sp.dt_raw = dt.value().data<float>();
    sp.a_re_raw = a_re.value().data<float>();
    sp.a_im = a_im.value().data<float>();
    sp.b = AsComplex(b.value());
    if (p.defined()) sp.p = AsComplex(p.value());
    sp.c = AsComplex(c.value());
    return sp;
  };
  const bool nplr = cfg.nplr;
  if (nplr) {
    ::lra::s4::DplrKernelForward(d, cfg.ssm, params(), k.data<float>());
  } else {
    ::lra::s4::S4dKernelForward(d, cfg.ssm, params(), k.data<float>());
  }
  std::vector<Var> inputs = {dt, a_re, a_im, b, c};
  if (nplr) inputs.push_back(p);
  const SsmOptions opt = cfg.ssm;
  return MakeOp(nplr ? "DplrKernel" : "S4dKernel", std::move(k), inputs,
                [dt, a_re, a_im, b, p, c, d, opt, params, nplr](const Tensor& dk) {
    // The raw kernel backward accumulates (+=), so it writes into zeroed buffers that are then
    // handed to the tape.
    Tensor gdt = Tensor::Zeros(dt.shape()), gre = Tensor::Zeros(a_re.shape()),
           gim = Tensor::Zeros(a_im.shape()), gb = Tensor::Zeros(b.shape()),
           gc = Tensor::Zeros(c.shape());
    Tensor gp = nplr ? Tensor::Zeros(p.shape()) : Tensor();
    SsmGrads<float> g;
    if (dt.requires_grad()) g.dt_raw = gdt.data<float>();
    if (a_re.requires_grad()) g.a_re_raw = gre.data<float>();
    if (a_im.requires_grad()) g.a_im = gim.data<float>();
    if (b.requires_grad()) g.b = AsComplex(gb);
    if (c.requires_grad()) g.c = AsComplex(gc);
    if (nplr && p.requires_grad()) g.p = AsComplex(gp);
    if (nplr) {
      ::lra::s4::DplrKernelBackward(d, opt, params(), dk.data<float>(), g);
    } else {
      ::lra::s4::S4dKernelBackward(d, opt, params(), dk.data<float>(), g);
    }
    Var v;
    if (g.dt_raw) (v = dt, AccumulateGrad(v, gdt));
    if (g.a_re_raw) (v = a_re, AccumulateGrad(v, gre));
    if (g.a_im) (v = a_im, AccumulateGrad(v, gim));
    if (g.b) (v = b, AccumulateGrad(v, gb));
    if (g.c) (v = c, AccumulateGrad(v, gc));
    if (g.p) (v = p, AccumulateGrad(v, gp));
  });
}

// k [Q, H, Lk] -> k[..., :L] (the DPLR kernel is generated at l_max and truncated, as S4 does).
Var TruncateKernel(const Var& k, int l) {
  const int64_t rows = k.dim(0) * k.dim(1), lk = k.dim(2);
  if (l == lk) return k;
  Tensor out = Tensor::Empty({k.dim(0), k.dim(1), l});
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(out.data<float>() + r * l, k.value().data<float>() + r * lk, l * sizeof(float));
  return MakeOp("TruncateKernel", std::move(out), {k}, [k, rows, lk, l](const Tensor& dy) {
    Tensor dk = Tensor::Zeros(k.shape());
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dk.data<float>() + r * lk, dy.data<float>() + r * l, l * sizeof(float));
    Var v = k;
    AccumulateGrad(v, dk);
  });
}

// z [B, L, H] times 0 at positions t >= lengths[b] (lengths null, or every length >= L: z).
Var MaskPastLengths(const Var& z, const int32_t* lengths) {
  if (lengths == nullptr) return z;
  const int64_t b = z.dim(0), l = z.dim(1);
  bool any = false;
  for (int64_t i = 0; i < b; ++i) any = any || lengths[i] < l;
  if (!any) return z;
  Tensor mask = Tensor::Empty({b, l, 1});
  float* m = mask.data<float>();
  for (int64_t i = 0; i < b; ++i)
    for (int64_t t = 0; t < l; ++t) m[i * l + t] = t < lengths[i] ? 1.0f : 0.0f;
  return lra::Mul(z, Constant(mask));
}

// One residual block: Norm + mask + SSM conv + D skip + [V4: dropout] + GELU + dropout +
// Linear/GLU + dropout + residual.
class S4Block {
 public:
  S4Block(ParamStore& ps, const std::string& name, const Config& cfg, std::mt19937_64& rng)
      : cfg_(cfg) {
    const int h = cfg.d_model, m = cfg.d_state / 2, s = cfg.n_ssm == 0 ? h : cfg.n_ssm;
    const int q = cfg.bidirectional ? 2 : 1;
    std::vector<float> dt(h), are(s * m), aim(s * m);
    std::vector<c64> bv(s * m), cv(q * h * m);
    ::lra::s4::InitDtRaw(cfg.ssm.dt_transform, cfg.dt_min, cfg.dt_max, h, rng, dt.data());
    std::vector<cd> a, b0, p0;
    const bool v3 = cfg.block_version == BlockVersion::kV3;
    if (cfg.nplr) {
      // HiPPO-LegS in NPLR form: Lambda, P and B in the eigenbasis; the parameter C holds
      // C-tilde for length l_max (set below from C ~ CN(0, 1)). B = V* B_legs: V4 clips its
      // imaginary part to [-2, 2] (state-spaces/s4 e757cef src/models/hippo/hippo.py line 203,
      // nplr's default B_clip=2.0, applied at lines 274-275); V3 does not (d589d98
      // src/models/hippo/hippo.py line 195, nplr has no B_clip).
      ::lra::s4::NplrInit init = ::lra::s4::HippoLegsNplr(cfg.d_state);
      a = init.lambda;
      b0 = init.b;
      p0 = init.p;
      if (!v3)
        for (cd& x : b0) x = {x.real(), std::clamp(x.imag(), -2.0, 2.0)};
    } else {
      a = ::lra::s4::S4dInitA(cfg.init, cfg.d_state);
      // S4D-LegS: V4 clips Im(B) as above (S4dInitB); V3's diag mode takes LegS B unclipped
      // (d589d98 src/models/sequence/ss/dplr.py line 79, ssm() -> hippo.nplr).
      b0 = v3 && cfg.init == DiagInit::kLegs ? ::lra::s4::HippoLegsNplr(cfg.d_state).b
                                             : ::lra::s4::S4dInitB(cfg.init, cfg.d_state);
    }
    std::vector<c64> pv(cfg.nplr ? s * m : 0);
    for (int i = 0; i < s; ++i) {
      ::lra::s4::AToRaw(cfg.ssm.real_transform, a.data(), m, are.data() + i * m, aim.data() + i * m);
      for (int n = 0; n < m; ++n) bv[i * m + n] = c64(b0[n]);
      if (cfg.nplr)
        for (int n = 0; n < m; ++n) pv[i * m + n] = c64(p0[n]);
    }
    ::lra::s4::InitC(q * h * m, rng, cv.data());
    // V3's diag mode (S4D) starts the C parameter at C * B (d589d98
    // src/models/sequence/ss/kernel.py line 975, SSKernel, mode == "diag"), and its kernel
    // multiplies by B again (line 790); V4 starts at C (e757cef
    // src/models/sequence/kernels/ssm.py line 182). B = 1 for init=lin/inv, so only LegS differs.
    if (!cfg.nplr && v3)
      for (int i = 0; i < q * h; ++i)
        for (int n = 0; n < m; ++n) cv[i * m + n] *= c64(b0[n]);
    dims_ = SsmDims{q, h, m, s, cfg.nplr ? cfg.l_max : 0};
    if (cfg.nplr) ToCTilde(dt, are, aim, bv, pv, cv);
    dt_ = ps.Add(name + ".ssm.dt_raw", Tensor::FromVector({h}, dt), "ssm_dt");
    a_re_ = ps.Add(name + ".ssm.a_re_raw", Tensor::FromVector({s, m}, are), "ssm");
    a_im_ = ps.Add(name + ".ssm.a_im", Tensor::FromVector({s, m}, aim), "ssm");
    b_ = ps.Add(name + ".ssm.b", ComplexTensor({s, m}, bv), "ssm");
    if (cfg.nplr) p_ = ps.Add(name + ".ssm.p", ComplexTensor({s, m}, pv), "ssm");
    c_ = ps.Add(name + ".ssm.c", ComplexTensor({q, h, m}, cv), "ssm_C");
    // D ~ N(0, 1): randn(channels, H) (state-spaces/s4 e757cef
    // src/models/sequence/kernels/fftconv.py line 57; d589d98 src/models/sequence/ss/s4.py
    // line 129).
    std::normal_distribution<float> nd;
    std::vector<float> dd(h);
    for (float& x : dd) x = nd(rng);
    d_ = ps.Add(name + ".ssm.d", Tensor::FromVector({h}, dd));
    out_ = LinearLayer(ps, name + ".out", h, cfg.glu ? 2 * h : h);
    norm_ = Norm(ps, name + ".norm", h, cfg.norm);
  }

  // x [B, L, H]; lengths [B] (null: every row is full). stats: LayerNorm statistics of x
  // ([2, B L], core/ops/norm.h LayerNormStats) if already formed, else undefined; next_stats
  // (optional) receives those of the output where this block forms them while writing it
  // (LinearGluResidual's next_stats; undefined otherwise), for the next block's fused pre-norm.
  Var Forward(const Var& x, const int32_t* lengths, bool training, Rng& rng,
              const Tensor& stats = Tensor(), Tensor* next_stats = nullptr) const {
    if (next_stats != nullptr) *next_stats = Tensor();
    const bool dropping = training && cfg_.dropout > 0;
    // conv + D skip + GELU + tied dropout fused (below), and with a pre-LayerNorm the norm and
    // the length mask fused into the conv's gather too (prenorm_conv.h): LayerNorm's output is
    // then never stored.
    const bool fused_conv =
        !dropping || (cfg_.tie_dropout && cfg_.block_version == BlockVersion::kV3);
    const bool fused_norm = fused_conv && cfg_.prenorm && cfg_.norm == NormKind::kLayer;
    Var z = cfg_.prenorm && !fused_norm ? norm_.Forward(x, training) : x;
    // S4 zeroes the layer input past each sequence's length, after the pre-norm and before the
    // convolution and the D skip; the residual stream x and the norms stay unmasked. V4:
    // state-spaces/s4 e757cef src/models/sequence/modules/s4block.py lines 153-161
    // (S4Block.forward); V3: d589d98 src/models/sequence/ss/s4.py lines 175-178 (S4.forward).
    // `lengths` reaches every block: the encoder passes the dataloader's `lengths` on
    // (e757cef src/models/nn/utils.py wrap_kwargs; train.py lines 301-302), and
    // src/models/sequence/backbones/model.py line 125 / backbones/block.py line 105 hand it to
    // each layer (d589d98: src/models/sequence/model.py line 93, block.py line 96). A causal
    // kernel never reads later positions, so there it changes only the outputs at pad positions
    // (which pooling ignores); conv and recurrent mode stay equal on the prefix.
    if (!fused_norm) z = MaskPastLengths(z, lengths);
    SsmDims d = dims_;
    const int l = static_cast<int>(x.dim(1));
    Var k;
    if (cfg_.nplr) {
      LRA_CHECK(l <= d.l) << "s4: sequence length " << l << " > l_max " << d.l;
      k = TruncateKernel(SsmKernel(cfg_, d, dt_, a_re_, a_im_, b_, p_, c_), l);
    } else {
      d.l = l;
      k = SsmKernel(cfg_, d, dt_, a_re_, a_im_, b_, Var(), c_);
    }
    // D skip: z * d_ broadcasts the [H] scale over [B, L, H].
    // The SSM kernel comes as [directions, H, L]; core's FftConv wants [H, L] when causal.
    const int64_t h = z.dim(2);
    k = cfg_.bidirectional ? lra::Reshape(k, {2, h, l}) : lra::Reshape(k, {h, l});
    const lra::ConvDirection dir = cfg_.bidirectional ? lra::ConvDirection::kBidirectional
                                                      : lra::ConvDirection::kCausal;
    // tie_dropout: one mask per (batch, channel) shared along the length axis (DropoutNd).
    auto drop = [&](const Var& v) {
      return cfg_.tie_dropout ? lra::TiedDropout(v, cfg_.dropout, /*axis=*/1, training, rng)
                              : lra::Dropout(v, cfg_.dropout, training, rng);
    };
    Var y;
    if (fused_norm) {
      // LayerNorm + length mask + the fused conv below in one op: bitwise those three ops.
      y = PreNormConvSkipGelu(x, norm_.gain(), norm_.bias(), norm_.eps(), lengths, k, d_, dir,
                              dropping ? cfg_.dropout : 0.0f, training, rng, stats);
    } else if (fused_conv) {
      // conv + D skip + GELU + tied dropout in one pass per channel row (core/ops/sequence.h
      // FftConvSkipGelu): bitwise the unfused ops below but for d's gradient (from the FFT
      // spectra, within rounding), with the same dropout draws.
      y = lra::FftConvSkipGelu(z, k, d_, dir, dropping ? cfg_.dropout : 0.0f, training, rng);
    } else {
      y = UnfusedConvSkipGelu(z, k, dir, drop, training, rng);
    }
    Var r;
    if (cfg_.glu && (!dropping || cfg_.tie_dropout)) {
      // Linear + GLU + tied dropout + residual add as one op (core/ops/activation.h): bitwise
      // the ops below, with TiedDropout's draws (one Bernoulli per (batch, channel), taken here
      // where TiedDropout would take them: core/ops/dropout.cc).
      Tensor mask;
      if (dropping) {
        const int64_t count = x.dim(0) * h;
        std::vector<uint8_t> keep(count);
        rng.FillBernoulli(keep.data(), count, 1.0f - cfg_.dropout);
        mask = Tensor::Empty({x.dim(0), h});
        const float scale = 1.0f / (1.0f - cfg_.dropout);
        for (int64_t i = 0; i < count; ++i) mask.data<float>()[i] = keep[i] ? scale : 0.0f;
      }
      // The output is the next block's input when pre-norm: its norm statistics are taken as
      // each row is written (the next block uses them only on its fused pre-norm path, which
      // every block of the model takes or none).
      r = lra::LinearGluResidual(x, y, out_.weight(), out_.bias(), mask,
                                 fused_norm ? next_stats : nullptr, norm_.eps());
    } else {
      y = out_.Forward(y);
      if (cfg_.glu) y = lra::Glu(y);
      // On the residual branch (tie_dropout): SequenceResidualBlock, d589d98
      // src/models/sequence/block.py lines 67, 99; e757cef
      // src/models/sequence/backbones/block.py lines 76-77, 116.
      y = drop(y);
      r = lra::Add(x, y);
    }
    return cfg_.prenorm ? r : norm_.Forward(r, training);
  }

  // conv + D skip + [V4: dropout] + GELU + dropout as separate ops: the path for the dropouts
  // that FftConvSkipGelu does not fuse (V4's untied pre-GELU dropout, untied dropout).
  template <typename Drop>
  Var UnfusedConvSkipGelu(const Var& z, const Var& k, lra::ConvDirection dir, Drop& drop,
                          bool training, Rng& rng) const {
    Var y = lra::Add(lra::FftConv(z, k, dir), lra::Mul(z, d_));
    // V4 only: FFTConv's own dropout on conv + D, before the activation, and always untied:
    // S4Block builds FFTConv with `dropout` but not `tie_dropout` (state-spaces/s4 e757cef
    // src/models/sequence/modules/s4block.py line 108), so FFTConv's tie_dropout=False picks
    // nn.Dropout (e757cef src/models/sequence/kernels/fftconv.py lines 78-79, applied at line
    // 136 before self.activation, which is the identity here; S4Block's GELU follows at
    // s4block.py line 170). V3's S4 layer has no such dropout (d589d98
    // src/models/sequence/ss/s4.py line 229).
    if (cfg_.block_version == BlockVersion::kV4)
      y = lra::Dropout(y, cfg_.dropout, training, rng);
    y = lra::Gelu(y, lra::GeluKind::kErf);  // PyTorch nn.GELU, as the S4 code uses
    // After the GELU (tie_dropout): V3 d589d98 src/models/sequence/ss/s4.py lines 142-143, 229;
    // V4 e757cef src/models/sequence/modules/s4block.py lines 118-119, 176.
    return drop(y);
  }

  // ---- recurrent mode: ssm_recurrent.h's S4dRecurrence / DplrRecurrence (references there),
  // then the rest of the block per token ----
  struct Step {
    std::shared_ptr<::lra::s4::DplrRecurrence> dplr;  // DPLR: dense 2M recurrence per channel
    std::shared_ptr<::lra::s4::S4dRecurrence> diag;   // S4D: the raw kernels' SIMD recurrence
  };
  Step Discretize() const {
    SsmParams<float> sp;
    sp.dt_raw = dt_.value().data<float>();
    sp.a_re_raw = a_re_.value().data<float>();
    sp.a_im = a_im_.value().data<float>();
    sp.b = AsComplex(b_.value());
    if (cfg_.nplr) sp.p = AsComplex(p_.value());
    sp.c = AsComplex(c_.value());
    Step st;
    if (cfg_.nplr) {
      st.dplr = std::make_shared<::lra::s4::DplrRecurrence>(dims_, cfg_.ssm, sp);
    } else {
      SsmDims d = dims_;
      d.l = 1;  // the recurrence does not depend on a length
      st.diag = std::make_shared<::lra::s4::S4dRecurrence>(d, cfg_.ssm, sp);
    }
    return st;
  }

  // One token for `streams` streams: x [streams, H] updated in place; state [streams, H, M].
  void StepTokens(const Step& st, int streams, std::complex<float>* state, float* x,
                  std::vector<float>& scratch) const {
    const int h = dims_.h, m = dims_.m, out_w = cfg_.glu ? 2 * h : h;
    scratch.resize(static_cast<size_t>(h) * 3 + out_w);
    float* z = scratch.data();
    float* g = z + h;
    float* o = g + h;
    float* ys = o + out_w;
    const float* dd = d_.value().data<float>();
    const float* w = out_.weight().value().data<float>();
    const float* bias = out_.bias().value().data<float>();
    for (int sidx = 0; sidx < streams; ++sidx) {
      float* xs = x + static_cast<size_t>(sidx) * h;
      if (cfg_.prenorm) norm_.ApplyRow(xs, z); else std::memcpy(z, xs, h * sizeof(float));
      std::complex<float>* s = state + static_cast<size_t>(sidx) * h * m;
      {
        // Both recurrences keep [H][2M] floats per stream: the size of H*M complex values.
        if (st.dplr) st.dplr->Step(1, z, reinterpret_cast<float*>(s), ys);
        else st.diag->Step(1, z, reinterpret_cast<float*>(s), ys);
        using A = Eigen::Map<Eigen::ArrayXf>;
        using CA = Eigen::Map<const Eigen::ArrayXf>;
        A y(ys, h);
        y += CA(dd, h) * CA(z, h);
        A(g, h) = 0.5f * y * (1.0f + (y * 0.7071067811865476f).erf());
      }
      Eigen::Map<Eigen::RowVectorXf> ov(o, out_w);
      ov = Eigen::Map<const Eigen::RowVectorXf>(g, h) *
               Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic,
                                              Eigen::RowMajor>>(w, h, out_w) +
           Eigen::Map<const Eigen::RowVectorXf>(bias, out_w);
      Eigen::Map<Eigen::ArrayXf> xa(xs, h), oa(o, h);
      if (cfg_.glu) {
        xa += oa / (1.0f + (-Eigen::Map<Eigen::ArrayXf>(o + h, h)).exp());
      } else {
        xa += oa;
      }
      if (!cfg_.prenorm) {
        std::memcpy(z, xs, h * sizeof(float));
        norm_.ApplyRow(z, xs);
      }
    }
  }
  int modes() const { return dims_.m; }

 private:
  // DPLR: the parameter C holds C-tilde for length l_max. S4 draws C ~ CN(0, 1) and converts it
  // once, C-tilde = (I - dA^L)^T C, before the first kernel (state-spaces/s4 e757cef
  // src/models/sequence/kernels/ssm.py lines 182 and 683-709, SSMKernelDPLR._setup_C, called
  // from forward at line 793; V3: d589d98 src/models/sequence/ss/kernel.py lines 93-117, 254
  // and the draw at line 953). `c` holds the draw and is overwritten with C-tilde, computed in
  // double from the initial (float) parameters with ssm_recurrent.h's DplrCTildeFromC.
  void ToCTilde(const std::vector<float>& dt, const std::vector<float>& are,
                const std::vector<float>& aim, const std::vector<c64>& b,
                const std::vector<c64>& p, std::vector<c64>& c) const {
    const std::vector<double> dtd(dt.begin(), dt.end()), ared(are.begin(), are.end()),
        aimd(aim.begin(), aim.end());
    const std::vector<cd> bd(b.begin(), b.end()), pd(p.begin(), p.end()),
        cdraw(c.begin(), c.end());
    std::vector<cd> ct(c.size());
    const SsmParams<double> sp{dtd.data(), ared.data(), aimd.data(), bd.data(), pd.data(),
                               /*c=*/nullptr};
    ::lra::s4::DplrCTildeFromC(dims_, cfg_.ssm, sp, cdraw.data(), ct.data());
    for (size_t i = 0; i < c.size(); ++i) c[i] = c64(ct[i]);
  }

  Config cfg_;
  SsmDims dims_;
  Var dt_, a_re_, a_im_, b_, p_, c_, d_;
  LinearLayer out_;
  Norm norm_;
};

class S4Model;

class S4Recurrent : public RecurrentModel {
 public:
  explicit S4Recurrent(S4Model* model) : model_(model) {}
  absl::Status Reset(int num_streams) override;
  void Step(const int32_t* tokens, float* logits) override;
  const float* LastFeatures() const override { return features_.data(); }
  int feature_dim() const override;
  int64_t StateBytes(int64_t tokens) const override;

 private:
  S4Model* model_;
  int streams_ = 0;
  int64_t count_ = 0;
  std::vector<S4Block::Step> steps_;
  std::vector<std::vector<std::complex<float>>> state_;  // per layer [streams, H, M]
  std::vector<float> x_, features_, sum_, scratch_;
};

class S4Model : public Model {
 public:
  S4Model(const TaskInfo& task, const Config& cfg, uint64_t seed)
      : task_(task), cfg_(cfg), ps_(seed), recurrent_(this) {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 1);  // SSM inits take a std engine
    encoder_ = Encoder(ps_, "encoder", task, cfg.d_model, cfg.linear_pixels, cfg.pixel_norm);
    for (int i = 0; i < cfg.n_layers; ++i)
      blocks_.emplace_back(ps_, absl::StrCat("layers.", i), cfg, rng);
    if (cfg.prenorm) final_norm_ = Norm(ps_, "final_norm", cfg.d_model, cfg.norm);
    if (task.pair) {
      dual_ = DualHead(ps_, "decoder", cfg.d_model, task.num_classes, DualKind::kNli,
                       cfg.d_model, /*gelu=*/true);
    } else {
      head_ = ClassifierHead(ps_, "decoder", cfg.d_model, task.num_classes, HeadKind::kLinear);
    }
  }

  Var Features(const int32_t* tokens, const int32_t* lengths, int b, int l, bool training,
               Rng& rng) const {
    Var x = encoder_.Forward(tokens, b, l);
    Tensor stats;  // LayerNorm statistics of x, when the previous block formed them
    for (size_t i = 0; i < blocks_.size(); ++i) {
      Tensor next;
      x = blocks_[i].Forward(x, lengths, training, rng, stats,
                             i + 1 < blocks_.size() ? &next : nullptr);
      stats = next;
    }
    if (cfg_.prenorm) x = final_norm_.Forward(x, training);
    return x;
  }

  Var Forward(const Batch& batch, bool training, Rng& rng) override {
    auto encode = [&](const int32_t* tokens, const int32_t* lengths, int b, int l) {
      return Pool(Features(tokens, lengths, b, l, training, rng), cfg_.pool, lengths);
    };
    if (task_.pair) {
      auto [x1, x2] = EncodePair(batch, task_.pad_id, encode);
      return dual_.Forward(x1, x2);
    }
    return head_.Forward(encode(batch.tokens, batch.lengths, batch.batch_size, batch.length));
  }

  std::vector<ParamGroup> ParamGroups() override {
    auto opt = [](double lr) { return lr < 0 ? std::optional<double>() : std::optional<double>(lr); };
    std::vector<ParamGroup> groups = ps_.Groups({{"ssm", {opt(cfg_.lr_ssm), 0.0}},
                                                 {"ssm_dt", {opt(cfg_.lr_dt), 0.0}},
                                                 {"ssm_C", {opt(cfg_.lr_c), std::nullopt}}});
    if (cfg_.no_decay == NoDecay::kBiasesNormsEmbedding) return groups;
    // Move the parameters that decay under the chosen recipe from "no_decay" to "default".
    auto find = [&](const char* name) {
      return std::find_if(groups.begin(), groups.end(),
                          [&](const ParamGroup& g) { return g.name == name; });
    };
    auto nd = find(kNoDecay);
    if (nd == groups.end()) return groups;
    std::vector<Var> keep, move;
    for (const Var& v : nd->params) {
      const bool outside_backbone =
          v.name().rfind("encoder.", 0) == 0 || v.name().rfind("decoder.", 0) == 0;
      (cfg_.no_decay == NoDecay::kNone || outside_backbone ? move : keep).push_back(v);
    }
    nd->params = std::move(keep);
    if (nd->params.empty()) groups.erase(nd);
    auto def = find(kDefault);
    if (def == groups.end()) {
      groups.push_back(ParamGroup{kDefault, {}, std::nullopt, std::nullopt});
      def = groups.end() - 1;
    }
    def->params.insert(def->params.end(), move.begin(), move.end());
    return groups;
  }
  std::vector<std::pair<std::string, Tensor*>> Buffers() override { return ps_.Buffers(); }

  RecurrentModel* Recurrent() override {
    // Causal layers only; BatchNorm's batch statistics have no streaming form (the
    // reference allows only layer or no norm in a step: state-spaces/s4 e757cef,
    // src/models/nn/normalization.py, Normalization.step), and
    // pair tasks need two streams per example.
    if (cfg_.bidirectional || cfg_.norm == NormKind::kBatch || task_.pair ||
        cfg_.pool != PoolKind::kMean)
      return nullptr;
    return &recurrent_;
  }

 private:
  friend class S4Recurrent;
  TaskInfo task_;
  Config cfg_;
  ParamStore ps_;
  Encoder encoder_;
  std::vector<S4Block> blocks_;
  Norm final_norm_;
  ClassifierHead head_;
  DualHead dual_;
  S4Recurrent recurrent_;
};

int S4Recurrent::feature_dim() const { return model_->cfg_.d_model; }

// The complex state of every layer, [H, modes] per stream (Reset's state_), whatever `tokens`.
int64_t S4Recurrent::StateBytes(int64_t /*tokens*/) const {
  int64_t bytes = 0;
  for (const S4Block& blk : model_->blocks_)
    bytes += int64_t{model_->cfg_.d_model} * blk.modes() * int64_t{sizeof(std::complex<float>)};
  return bytes;
}

absl::Status S4Recurrent::Reset(int num_streams) {
  if (num_streams < 1) return absl::InvalidArgumentError("Reset: num_streams must be >= 1");
  streams_ = num_streams;
  count_ = 0;
  const int h = model_->cfg_.d_model;
  steps_.clear();
  state_.clear();
  for (const S4Block& blk : model_->blocks_) {
    steps_.push_back(blk.Discretize());
    state_.emplace_back(static_cast<size_t>(num_streams) * h * blk.modes());
  }
  x_.assign(static_cast<size_t>(num_streams) * h, 0.0f);
  features_.assign(x_.size(), 0.0f);
  sum_.assign(x_.size(), 0.0f);
  return absl::OkStatus();
}

void S4Recurrent::Step(const int32_t* tokens, float* logits) {
  const int h = model_->cfg_.d_model;
  for (int s = 0; s < streams_; ++s) model_->encoder_.EncodeToken(tokens[s], &x_[s * h]);
  for (size_t i = 0; i < model_->blocks_.size(); ++i)
    model_->blocks_[i].StepTokens(steps_[i], streams_, state_[i].data(), x_.data(), scratch_);
  for (int s = 0; s < streams_; ++s) {
    if (model_->cfg_.prenorm) model_->final_norm_.ApplyRow(&x_[s * h], &features_[s * h]);
    else std::memcpy(&features_[s * h], &x_[s * h], h * sizeof(float));
  }
  ++count_;
  for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += features_[i];
  if (logits == nullptr) return;
  // Head on the running mean (the conv-mode mean pool of the prefix).
  NoGrad no_grad;
  Tensor pooled = Tensor::Empty({streams_, h});
  for (size_t i = 0; i < sum_.size(); ++i) pooled.data<float>()[i] = sum_[i] / count_;
  Var out = model_->head_.Forward(Constant(pooled));
  std::memcpy(logits, out.value().data<float>(), out.numel() * sizeof(float));
}

}  // namespace

std::vector<OptionSpec> S4Options(const char* mode) {
  return {
      {"mode", mode, "diag (S4D) or nplr (DPLR S4, HiPPO-LegS)", OptionType::kString, {"diag", "nplr"}},
      OptionSpec{"d_model", "128", "model width H"}.Min(1),
      OptionSpec{"n_layers", "4", "number of residual blocks"}.Min(0),
      OptionSpec{"d_state", "64", "state size N (N/2 complex modes); even"}.Min(2),
      OptionSpec{"n_ssm", "0", "copies of (A, B): 0 = one per channel, 1 = shared by all channels"}
          .Min(0),
      {"init", std::string(mode) == "nplr" ? "legs" : "lin", "S4D init: lin, inv, legs, real",
       OptionType::kString, {"lin", "inv", "legs", "real"}},
      {"disc", std::string(mode) == "nplr" ? "bilinear" : "zoh", "discretization",
       OptionType::kString, {"zoh", "bilinear"}},
      {"dt_transform", "exp", "dt = exp(raw) or softplus(raw)", OptionType::kString, {"exp", "softplus"}},
      {"real_transform", "exp", "-Re(A) = f(raw)", OptionType::kString, {"exp", "relu", "none"}},
      OptionSpec{"dt_min", "0.001", "log-uniform dt init lower bound", OptionType::kFloat}.Min(0, true),
      OptionSpec{"dt_max", "0.1", "log-uniform dt init upper bound", OptionType::kFloat}.Min(0, true),
      {"bidirectional", "false", "two-sided kernel in one FFT (every S4 LRA config)"},
      {"norm", "layer", "layer, batch or none", OptionType::kString, {"layer", "batch", "none"}},
      {"prenorm", "true", "pre-norm (true) or post-norm (false) residual blocks"},
      {"glu", "true", "output Linear(H, 2H) + GLU (false: Linear(H, H))"},
      OptionSpec{"dropout", "0.0",
                 "dropout rate (after GELU and before the residual add; block_version=v4 also "
                 "before GELU)",
                 OptionType::kFloat}
          .Min(0)
          .Max(1, true),
      {"tie_dropout", "true",
       "one dropout mask per (batch, channel) over the length (never the v4 pre-GELU dropout)"},
      {"block_version", "v3",
       "S4 code version the layer follows: v3 (state-spaces/s4 d589d98: dropout after GELU and on "
       "the residual branch; LegS B unclipped; S4D C starts at C*B) or v4 (e757cef: also an "
       "untied dropout before GELU; Im(LegS B) clipped to +-2; S4D C starts at C)",
       OptionType::kString, {"v3", "v4"}},
      {"pool", "mean", "mean (over unpadded tokens), first or last", OptionType::kString, {"mean", "first", "last"}},
      {"linear_pixels", "true", "pixel tasks: Linear(1, H) on the scaled pixel instead of an embedding"},
      {"pixel_norm", "unit",
       "linear pixel input: unit = p/255, s4_cifar = (p/255 - 122.6/255)/(61/255) (S4's CIFAR), "
       "center = (p/255 - 0.5)/0.5 (S4 V3's Pathfinder/Path-X)",
       OptionType::kString, {"unit", "s4_cifar", "center"}},
      OptionSpec{"l_max", "0", "DPLR kernel length (0 = the task's max_length); C-tilde is defined for it"}
          .Min(0),
      {"no_decay", "biases_norms_embedding",
       "parameters without weight decay besides A, B, P, dt: biases_norms_embedding, none (S4 "
       "V3 recipe) or backbone_biases_norms (S4 V4: encoder and decoder decay)",
       OptionType::kString, {"biases_norms_embedding", "none", "backbone_biases_norms"}},
      OptionSpec{"lr_ssm", "0.001", "lr of A and B (and P); weight decay 0", OptionType::kFloat}.Min(0),
      {"lr_dt", "-1", "lr of dt (negative = the run's lr); weight decay 0", OptionType::kFloat},
      {"lr_c", "-1", "lr of C (negative = the run's lr); the run's weight decay", OptionType::kFloat},
  };
}

absl::StatusOr<std::unique_ptr<Model>> CreateS4(const TaskInfo& task, const Options& options,
                                                uint64_t seed) {
  absl::StatusOr<Config> cfg = ParseConfig(options);
  if (!cfg.ok()) return cfg.status();
  if (task.pixels && !cfg->linear_pixels && cfg->pixel_norm != PixelNorm::kUnit)
    return absl::InvalidArgumentError(absl::StrCat(
        "s4: pixel_norm=", options.String("pixel_norm"),
        " scales the linear pixel encoder's input, but linear_pixels=false embeds pixel tokens; "
        "set linear_pixels=true or pixel_norm=unit"));
  if (cfg->nplr) {
    if (cfg->l_max == 0) cfg->l_max = task.max_length;
    if (cfg->l_max < 1)
      return absl::InvalidArgumentError(
          "s4: mode=nplr needs the kernel length: set l_max or give the task a max_length");
  }
  return std::unique_ptr<Model>(new S4Model(task, *cfg, seed));
}

// The memory of one training step, counted per layer (harness/README.md "Memory estimate"):
//  parameters: output Linear H x 2H + 2H with GLU (H x H + H without), a norm, D and dt (6H),
//    and per SSM copy N/2 complex modes of A and B (2N scalars; DPLR S4 adds P: N more) plus C,
//    one per direction (N each per channel); embedding V x H; head H x K + K (pair tasks: the
//    NLI dual head 4H x H + H x K).
//  activations: kS4TokenFloats scalars per token and channel per layer (the pre-norm, the
//    masked input, the FFT convolution's padded spectra, the D skip, GELU, dropout masks, the
//    Linear's 2H output, the GLU, the residual; with their gradients) plus the kernel and its
//    spectra (4 x directions x H x L), and the embedded input. Measured: 1.9x the peak
//    RSS at batch 8 x 1024 tokens (//harness:memory_check_test prints it).
constexpr double kS4TokenFloats = 20;

MemoryEstimate EstimateS4(const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
  const double h = o.Int("d_model"), n = o.Int("d_state"), layers = o.Int("n_layers");
  const double copies = o.Int("n_ssm") > 0 ? o.Int("n_ssm") : h;
  const double dirs = o.Bool("bidirectional") ? 2 : 1;
  const bool nplr = o.String("mode") == "nplr";
  const double docs = task.pair ? 2 : 1, k = task.num_classes;
  const double l = nplr && o.Int("l_max") > 0 ? std::max<double>(o.Int("l_max"), length)
                                                 : double(length);
  MemoryEstimate e;
  const double per_layer = (o.Bool("glu") ? 2 : 1) * (h * h + h) + 6 * h +
                           copies * n * (nplr ? 3 : 2) + dirs * h * n;
  e.parameters = layers * per_layer + static_cast<double>(task.vocab_size) * h + 2 * h +
                 (task.pair ? 4 * h * h + h + h * k + k : h * k + k);
  const double tokens = docs * double(batch) * double(length);
  e.activations = layers * (kS4TokenFloats * tokens * h + 4 * dirs * h * l) + 4 * tokens * h;
  return e;
}

namespace {
ModelInfo Info(const char* name, const char* mode, const char* description) {
  ModelInfo info;
  info.name = name;
  info.description = description;
  info.options = S4Options(mode);
  info.create = CreateS4;
  info.estimate = EstimateS4;
  info.configs = std::string("models/s4/configs/") + name;  // one library, a folder per model
  // Recurrent() needs causal layers and a norm with a per-token form (see S4Model::Recurrent).
  info.streaming_options = {"bidirectional=false", "norm=layer", "pool=mean"};
  return info;
}
}  // namespace

}  // namespace lra::models::s4model

LRA_REGISTER_MODEL(lra::models::s4model::Info(
    "s4d", "diag",
    "S4D: diagonal SSM layers (Vandermonde kernel), GELU, Linear+GLU, residual, norm; arXiv 2206.11893"));
LRA_REGISTER_MODEL(lra::models::s4model::Info(
    "s4", "nplr", "S4: DPLR SSM layers with HiPPO-LegS (Cauchy kernel + Woodbury); arXiv 2111.00396"));

// Test-only: an independent double-precision implementation of LRA's Transformer encoder and
// classifier head (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/transformer/transformer.py and models/layers/common_layers.py; flax's
// attention masking and LayerNorm epsilon 1e-6), with finite-difference gradient checks, for
// the golden tests of "transformer" and of the variants built on its encoder with another
// attention (Cfg::block: models/local's windows; Cfg::keep: the block-sparse patterns of
// models/sparse_transformer, longformer and bigbird; Cfg::linear: models/linear_transformer;
// Cfg::performer, Cfg::linformer, Cfg::synthesizer: models/performer, models/linformer,
// models/synthesizer; Cfg::attention: models/sinkhorn and models/reformer).
#ifndef LRA_MODELS_TRANSFORMER_REFERENCE_MODEL_H_
#define LRA_MODELS_TRANSFORMER_REFERENCE_MODEL_H_

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/tape.h"
#include "gtest/gtest.h"
#include "models/model.h"
#include "models/registry.h"
#include "models/transformer/transformer.h"

namespace lra::models::reference {

using Vec = std::vector<double>;
using Params = std::map<std::string, Vec>;

inline Vec Lin(const Vec& x, int rows, int in, int out, const Vec& w, const Vec* b) {
  Vec y(static_cast<size_t>(rows) * out);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < out; ++j) {
      double s = b ? (*b)[j] : 0.0;
      for (int k = 0; k < in; ++k) s += x[r * in + k] * w[k * out + j];
      y[r * out + j] = s;
    }
  return y;
}

inline Vec Ln(const Vec& x, int rows, int h, const Vec& g, const Vec& b, double eps) {
  Vec y(x.size());
  for (int r = 0; r < rows; ++r) {
    double mu = 0, var = 0;
    for (int j = 0; j < h; ++j) mu += x[r * h + j] / h;
    for (int j = 0; j < h; ++j) var += (x[r * h + j] - mu) * (x[r * h + j] - mu) / h;
    for (int j = 0; j < h; ++j) y[r * h + j] = (x[r * h + j] - mu) / std::sqrt(var + eps) * g[j] + b[j];
  }
  return y;
}

struct AttentionArgs;  // the variant attention hook's arguments (below Cfg)

struct Cfg {
  int h = 8, heads = 2, mlp = 16, layers = 2, vocab = 6, classes = 3;
  bool cls = true, learned = true, mean_pool = false;
  bool mask_pad = false;  // task.mask_pad_tokens: positions whose token is 0 are masked
  double ln_eps = 1e-6;   // flax's LayerNorm epsilon
  // ---- Block-sparse patterns (models/sparse_transformer, longformer, bigbird). When set, query
  // i of layer `layer`, head `head`, in an example of n positions (with the CLS row) reads key j
  // only if keep(layer, head, n, i, j) (core/kernels/block_sparse_reference_masks.h); a query
  // with no valid kept key (a masked one) is uniform over its kept keys, or 0 with zero_masked
  // (bigbird: LRA multiplies masked rows by 0).
  std::function<bool(int layer, int head, int n, int i, int j)> keep;
  bool zero_masked = false;
  // ---- end of the block-sparse patterns.
  int block = 0;          // attention windows of `block` positions (models/local); 0 = dense
  bool linear = false;    // elu + 1 linear attention over keys < length (models/linear_transformer)
  // --- Variant attention hook (models/sinkhorn, models/reformer). When set, it replaces the
  // attention above: returns [B * L, H] from the layer's q, k, v [B * L, H] (a projection the
  // layer does not create is empty); `valid(b, t)` is flax's mask.
  std::function<Vec(const AttentionArgs&)> attention;
  // models/performer: 0 none, 1 relu features (relu + 1e-3), 2 FAVOR+ features with the buffer
  // layers.{i}.attn.projection [m, d]; keys < length, no token mask, no scale.
  int performer = 0;
  // models/linformer: keys and values projected by layers.{i}.attn.lr_kernel [P, k] over the
  // positions < length, softmax over the k projected keys, no mask.
  bool linformer = false;
  // models/synthesizer: logits = [q.k / sqrt(d)] + random layers.{i}.attn.random [heads, P, P]
  // + dense relu(h W1) W2 (layers.{i}.attn.dense_syn.w, dense_syn_len.w), flax's masking.
  bool synth_random = false, synth_dense = false, synth_ignore_dot = false;
};

// Scores of masked query rows, frozen at the unperturbed parameters, per layer and row (see
// RefEncode).
using Frozen = std::map<std::pair<int, int>, Vec>;

struct AttentionArgs {
  const Params& p;
  const std::string& layer;  // "layers.{i}"
  int layer_index, tower;    // key_base = tower * 1000 + layer_index for `frozen`
  const Vec &q, &k, &v;
  int B, L, H, heads;
  const std::vector<int>& lens;
  std::function<bool(int b, int t)> valid;
  Frozen& frozen;
  bool record;
};
// --- End of the variant attention hook.

// The encoder, pooled: [B, H]. flax's masking: a query at a masked position (past the length,
// or token 0 with mask_pad; the CLS row copies the first token's mask) has every score at
// -1e10, so in fp32 its softmax is uniform over all L positions; flax's autodiff still passes
// gradient through those scores (core/kernels/attention.h). The reference reproduces both with
// P = softmax(s - s0) on such a row, where s0 are its scores at the unperturbed parameters:
// uniform at that point, and its derivative there is the softmax Jacobian at the uniform P,
// exactly what flax's autodiff computes. `frozen` records s0 when `record`, else replays them.
inline Vec RefEncode(const Cfg& c, const Params& p, const std::vector<int32_t>& tok,
              const std::vector<int32_t>& lens0, int B, int L0, Frozen& frozen, bool record,
              int tower = 0) {
  const int H = c.h, L = L0 + (c.cls ? 1 : 0), rows = B * L, d = H / c.heads;
  Vec x(static_cast<size_t>(rows) * H);
  std::vector<int> lens(B);
  Vec sin_pe;
  if (!c.learned) {
    std::vector<float> pe = transformer::SinusoidalPositions(L, H);
    // Independent check of the table's first entries is in SinusoidalTable below.
    sin_pe.assign(pe.begin(), pe.end());
  }
  for (int b = 0; b < B; ++b) {
    lens[b] = lens0[b] + (c.cls ? 1 : 0);
    for (int t = 0; t < L; ++t)
      for (int j = 0; j < H; ++j) {
        double e = (c.cls && t == 0) ? p.at("cls")[j]
                                     : p.at("encoder.embedding")[tok[b * L0 + t - (c.cls ? 1 : 0)] * H + j];
        e += c.learned ? p.at("positions")[t * H + j] : sin_pe[t * H + j];
        x[(b * L + t) * H + j] = e;
      }
  }
  auto gelu = [](double v) {
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  };
  for (int li = 0; li < c.layers; ++li) {
    const std::string n = "layers." + std::to_string(li);
    auto P = [&](const std::string& k) -> const Vec& { return p.at(n + k); };
    Vec h = Ln(x, rows, H, P(".ln1.gamma"), P(".ln1.beta"), c.ln_eps);
    // A projection the layer does not create (models/reformer's shared query/key) is empty.
    auto proj = [&](const std::string& w) {
      return p.count(n + w) ? Lin(h, rows, H, H, P(w), nullptr) : Vec();
    };
    Vec q = proj(".attn.q.w"), k = proj(".attn.k.w"), v = proj(".attn.v.w");
    const bool dot_product = !c.synth_ignore_dot;  // models/synthesizer's ignore_dot_product
    Vec a(x.size(), 0.0);
    if (c.attention) {
      a = c.attention({p, n, li, tower, q, k, v, B, L, H, c.heads, lens,
                       [&](int b, int j) {
                         const int t = std::max(0, j - (c.cls ? 1 : 0));
                         return j < lens[b] && !(c.mask_pad && tok[b * L0 + t] == 0);
                       },
                       frozen, record});
    }
    // Performer (core/ops/performer_attention.h): out_i = sum_{j < len} (qf_i.kf_j) v_j /
    // sum_{j < len} qf_i.kf_j with relu features relu(x) + 1e-3, or FAVOR+ features
    // rho (exp(c x.w_r - c^2 |x|^2 / 2 - max) + 1e-6), c = d^-1/4, rho = m^-1/2, the max over
    // the features of a query, or of all keys < len and features of a (b, head).
    for (int b = 0; b < B && c.performer; ++b)
      for (int hh = 0; hh < c.heads; ++hh) {
        const Vec* w = c.performer == 2 ? &P(".attn.projection") : nullptr;
        const int m = w ? static_cast<int>(w->size()) / d : d;
        const double cc = std::pow(d, -0.25);
        // u_r = c x.w_r (FAVOR+) or the relu features.
        auto raw = [&](const Vec& src, int i) {
          Vec f(m);
          for (int r = 0; r < m; ++r) {
            if (!w) {
              f[r] = std::max(0.0, src[(b * L + i) * H + hh * d + r]) + 1e-3;
              continue;
            }
            f[r] = 0;
            for (int e = 0; e < d; ++e) f[r] += cc * src[(b * L + i) * H + hh * d + e] * (*w)[r * d + e];
          }
          return f;
        };
        // FAVOR+: rho (exp(u - g - mx) + 1e-6); mx = the row's own max when NaN (queries).
        auto feat = [&](const Vec& src, int i, double mx) {
          Vec f = raw(src, i);
          if (!w) return f;
          double g = 0;
          for (int e = 0; e < d; ++e) g += src[(b * L + i) * H + hh * d + e] * src[(b * L + i) * H + hh * d + e];
          g *= cc * cc / 2;
          if (std::isnan(mx)) mx = *std::max_element(f.begin(), f.end());
          for (int r = 0; r < m; ++r) f[r] = (std::exp(f[r] - g - mx) + 1e-6) / std::sqrt(double(m));
          return f;
        };
        double kmax = -1e300;
        for (int j = 0; j < lens[b] && w; ++j)
          for (double u : raw(k, j)) kmax = std::max(kmax, u);
        std::vector<Vec> kf;
        for (int j = 0; j < lens[b]; ++j) kf.push_back(feat(k, j, kmax));
        for (int i = 0; i < L; ++i) {
          const Vec qf = feat(q, i, std::nan(""));
          double den = 0;
          for (int j = 0; j < lens[b]; ++j) {
            double wij = 0;
            for (int r = 0; r < m; ++r) wij += qf[r] * kf[j][r];
            den += wij;
            for (int e = 0; e < d; ++e) a[(b * L + i) * H + hh * d + e] += wij * v[(b * L + j) * H + hh * d + e];
          }
          if (w && std::abs(den) <= 1e-6) den += 2e-6;
          for (int e = 0; e < d; ++e) a[(b * L + i) * H + hh * d + e] /= den;
        }
      }
    // Linformer (core/ops/linformer_attention.h): K' = E^T K, V' = E^T V over positions < len.
    for (int b = 0; b < B && c.linformer; ++b) {
      const Vec& E = P(".attn.lr_kernel");
      // RunGolden's max_len is its length: E has L rows.
      const int kr = static_cast<int>(E.size()) / L;
      Vec kp(static_cast<size_t>(kr) * H, 0.0), vp(static_cast<size_t>(kr) * H, 0.0);
      for (int t = 0; t < kr; ++t)
        for (int j = 0; j < lens[b]; ++j)
          for (int e = 0; e < H; ++e) {
            kp[t * H + e] += E[j * kr + t] * k[(b * L + j) * H + e];
            vp[t * H + e] += E[j * kr + t] * v[(b * L + j) * H + e];
          }
      for (int hh = 0; hh < c.heads; ++hh)
        for (int i = 0; i < L; ++i) {
          Vec sc(kr);
          double mx = -1e300, z = 0;
          for (int t = 0; t < kr; ++t) {
            double dot = 0;
            for (int e = 0; e < d; ++e) dot += q[(b * L + i) * H + hh * d + e] * kp[t * H + hh * d + e];
            mx = std::max(mx, sc[t] = dot / std::sqrt(double(d)));
          }
          for (int t = 0; t < kr; ++t) z += sc[t] = std::exp(sc[t] - mx);
          for (int t = 0; t < kr; ++t)
            for (int e = 0; e < d; ++e) a[(b * L + i) * H + hh * d + e] += sc[t] / z * vp[t * H + hh * d + e];
        }
    }
    // Synthesizer dense logits: relu(h W1) per head [d], times W2 [d, P] (first L columns).
    Vec dense_t;
    int synth_p = 0;
    if (c.synth_dense) {
      dense_t = Lin(h, rows, H, H, P(".attn.dense_syn.w"), nullptr);
      for (double& t : dense_t) t = std::max(0.0, t);
      synth_p = static_cast<int>(P(".attn.dense_syn_len.w").size()) / d;
    }
    if (c.synth_random)
      synth_p = static_cast<int>(std::lround(std::sqrt(P(".attn.random").size() / double(c.heads))));
    // Linear attention (core/kernels/linear_attention.h): out_i = sum_{j < len} w_ij v_j /
    // (sum_{j < len} w_ij + 1e-6), w_ij = phi(q_i).phi(k_j), phi = elu + 1; no token mask, no
    // 1/sqrt(d) scale.
    auto phi = [](double t) { return t > 0 ? t + 1 : std::exp(t); };
    for (int b = 0; b < B && c.linear && !c.attention; ++b)
      for (int hh = 0; hh < c.heads; ++hh)
        for (int i = 0; i < L; ++i) {
          double den = 1e-6;
          for (int j = 0; j < lens[b]; ++j) {
            double w = 0;
            for (int e = 0; e < d; ++e)
              w += phi(q[(b * L + i) * H + hh * d + e]) * phi(k[(b * L + j) * H + hh * d + e]);
            den += w;
            for (int e = 0; e < d; ++e) a[(b * L + i) * H + hh * d + e] += w * v[(b * L + j) * H + hh * d + e];
          }
          for (int e = 0; e < d; ++e) a[(b * L + i) * H + hh * d + e] /= den;
        }
    for (int b = 0; b < B && !c.linear && !c.attention && !c.performer && !c.linformer; ++b)
      for (int hh = 0; hh < c.heads; ++hh)
        for (int i = 0; i < L; ++i) {
          // LRA's `inputs > 0` mask on queries and keys; the CLS row copies the first token's.
          auto valid = [&](int j) {
            return j < lens[b] &&
                   !(c.mask_pad && tok[b * L0 + std::max(0, j - (c.cls ? 1 : 0))] == 0);
          };
          // The keys query i may see: all L, or its window (core/kernels/local_attention.h).
          const int j0 = c.block ? i / c.block * c.block : 0;
          const int j1 = c.block ? std::min(j0 + c.block, L) : L;
          // Block-sparse patterns: the keys of the window that Cfg::keep keeps.
          auto kept = [&](int j) { return !c.keep || c.keep(li, hh, lens[b], i, j); };
          Vec s(L, 0.0), pr(L, 0.0);
          for (int j = j0; j < j1; ++j) {
            double dot = 0;
            for (int e = 0; e < d && dot_product; ++e)
              dot += q[(b * L + i) * H + hh * d + e] * k[(b * L + j) * H + hh * d + e];
            s[j] = dot / std::sqrt(double(d));
            if (c.synth_random) s[j] += P(".attn.random")[(hh * synth_p + i) * synth_p + j];
            for (int e = 0; e < d && c.synth_dense; ++e)
              s[j] += dense_t[(b * L + i) * H + hh * d + e] * P(".attn.dense_syn_len.w")[e * synth_p + j];
          }
          double mx = -1e300, z = 0;
          bool any = false;
          for (int j = j0; j < j1; ++j) any = any || (valid(i) && valid(j) && kept(j));
          if (any) {
            for (int j = j0; j < j1; ++j)
              if (valid(j) && kept(j)) mx = std::max(mx, s[j]);
            for (int j = j0; j < j1; ++j) z += pr[j] = valid(j) && kept(j) ? std::exp(s[j] - mx) : 0.0;
          } else if (c.zero_masked) {
            continue;
          } else {
            Vec& s0 = frozen[{tower * 1000 + li, (b * c.heads + hh) * L + i}];
            if (record) s0 = s;
            for (int j = j0; j < j1; ++j) z += pr[j] = kept(j) ? std::exp(s[j] - s0[j]) : 0.0;
          }
          for (int j = j0; j < j1; ++j)
            for (int e = 0; e < d; ++e)
              a[(b * L + i) * H + hh * d + e] += pr[j] / z * v[(b * L + j) * H + hh * d + e];
        }
    Vec o = Lin(a, rows, H, H, P(".attn.out.w"), nullptr);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    Vec m = Lin(Ln(x, rows, H, P(".ln2.gamma"), P(".ln2.beta"), c.ln_eps), rows, H, c.mlp,
                P(".mlp.w1.w"), &P(".mlp.w1.b"));
    for (double& w : m) w = gelu(w);
    Vec m2 = Lin(m, rows, c.mlp, H, P(".mlp.w2.w"), &P(".mlp.w2.b"));
    for (size_t i = 0; i < x.size(); ++i) x[i] += m2[i];
  }
  x = Ln(x, rows, H, p.at("encoder_norm.gamma"), p.at("encoder_norm.beta"), c.ln_eps);
  Vec pooled(static_cast<size_t>(B) * H, 0.0);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < H; ++j) {
      if (c.mean_pool) {
        for (int t = 0; t < lens[b]; ++t) pooled[b * H + j] += x[(b * L + t) * H + j] / lens[b];
      } else {
        pooled[b * H + j] = x[(b * L) * H + j];
      }
    }
  return pooled;
}

inline Vec Relu(Vec x) {
  for (double& w : x) w = w > 0 ? w : 0;
  return x;
}

// LRA's classifier_head: Dense(mlp) -> ReLU -> Dense(classes).
inline Vec Ref(const Cfg& c, const Params& p, const std::vector<int32_t>& tok,
        const std::vector<int32_t>& lens0, int B, int L0, Frozen& frozen, bool record) {
  Vec pooled = RefEncode(c, p, tok, lens0, B, L0, frozen, record);
  Vec hd = Relu(Lin(pooled, B, c.h, c.mlp, p.at("head.hidden.w"), &p.at("head.hidden.b")));
  return Lin(hd, B, c.mlp, c.classes, p.at("head.out.w"), &p.at("head.out.b"));
}

// Finite-difference gradients of `ref` (a function of the parameters; the first call records
// the frozen scores) against the model's, for every parameter.
inline void CheckGradients(const std::vector<Var>& vars, Params& p,
                    const std::function<Vec(const Params&, bool record)>& ref,
                    const std::vector<float>& r) {
  ref(p, true);
  for (const Var& v : vars) {
    ASSERT_TRUE(v.has_grad()) << v.name();
    std::vector<float> gr = v.grad().ToVector();
    Vec& x = p[v.name()];
    double gscale = 0, gerr = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double x0 = x[i], h = 1e-6;
      x[i] = x0 + h;
      Vec yp = ref(p, false);
      x[i] = x0 - h;
      Vec ym = ref(p, false);
      x[i] = x0;
      double num = 0;
      for (size_t j = 0; j < r.size(); ++j) num += r[j] * (yp[j] - ym[j]) / (2 * h);
      gscale = std::max(gscale, std::abs(num));
      gerr = std::max(gerr, std::abs(num - gr[i]));
    }
    EXPECT_LE(gerr, 2e-4 * (1 + gscale)) << v.name();
  }
}

inline Params ReadParams(Model& model, std::vector<Var>* vars) {
  Params p;
  for (const ParamGroup& grp : model.ParamGroups())
    for (const Var& v : grp.params) {
      std::vector<float> f = v.value().ToVector();
      p[v.name()] = Vec(f.begin(), f.end());
      if (vars) vars->push_back(v);
    }
  for (const auto& [name, t] : model.Buffers()) {  // constants (models/performer's projection)
    std::vector<float> f = t->ToVector();
    p[name] = Vec(f.begin(), f.end());
  }
  return p;
}

// max |ref - logits| / (1 + max |ref|).
inline double RelErr(const Vec& ref, const Var& logits) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    scale = std::max(scale, std::abs(ref[i]));
    err = std::max(err, std::abs(ref[i] - logits.value().data<float>()[i]));
  }
  return err / (1 + scale);
}

// The golden test of `model` (a Transformer-encoder model) on a toy task: B = 2 examples of L = 5
// tokens (lengths 5 and 3; with c.mask_pad, pad tokens inside the sequence too), d_model 8, 2
// heads, mlp 16, 2 layers, no dropout, plus `opts`; its logits against Ref to 2e-4 (1 + max|ref|)
// and every parameter's gradient against central differences of Ref.
inline void RunGolden(const std::string& model_name, const Cfg& c,
                      std::map<std::string, std::string> opts) {
  TaskInfo task{"toy", c.vocab, 0, c.classes, 5, false, false, "cls"};
  task.mask_pad_tokens = c.mask_pad;
  opts.insert({{"d_model", "8"}, {"heads", "2"}, {"mlp_dim", "16"}, {"n_layers", "2"},
               {"dropout", "0"}});
  auto model = CreateModel(model_name, task, opts, 11);
  ASSERT_TRUE(model.ok()) << model.status();
  const int B = 2, L = 5;
  std::mt19937 g(5);
  std::vector<int32_t> tok(B * L), lens = {5, 3};
  for (auto& t : tok) t = 1 + static_cast<int32_t>(g() % (c.vocab - 1));
  for (int t = 3; t < 5; ++t) tok[L + t] = 0;  // pads
  if (c.mask_pad) {
    // Pad tokens inside the sequence: tokens 0 and 2 of example 0 (so its CLS row is masked
    // too); every token of example 1, whose attention rows are then all uniform.
    tok[0] = tok[2] = 0;
    for (int t = 0; t < 3; ++t) tok[L + t] = 0;
  }
  Rng rng(1);
  Var logits = (*model)->Forward(Batch{B, L, tok.data(), lens.data()}, true, rng);
  std::vector<Var> vars;
  Params p = ReadParams(**model, &vars);
  Frozen frozen;
  Vec ref = Ref(c, p, tok, lens, B, L, frozen, true);
  ASSERT_EQ(ref.size(), static_cast<size_t>(logits.numel()));
  EXPECT_LE(RelErr(ref, logits), 2e-4) << "logits";
  std::vector<float> r(ref.size());
  for (auto& v : r) v = std::normal_distribution<float>()(g);
  Backward(logits, Tensor::FromVector(logits.shape(), r));
  CheckGradients(vars, p, [&](const Params& q, bool record) {
    return Ref(c, q, tok, lens, B, L, frozen, record);
  }, r);
}

}  // namespace lra::models::reference

#endif  // LRA_MODELS_TRANSFORMER_REFERENCE_MODEL_H_

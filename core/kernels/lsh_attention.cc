#include "core/kernels/lsh_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "Eigen/Core"
#include "absl/base/internal/raw_logging.h"
#include "core/kernels/strided_view.h"

namespace lra {
namespace kernels {
namespace {

void CheckShape(const LshShape& s) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.length >= 1 && s.heads >= 1 && s.head_dim >= 1 &&
                     s.n_hashes >= 1 && s.chunk >= 1,
                 "LshAttention: batch, length, heads, head_dim, n_hashes and chunk must be >= 1");
  ABSL_RAW_CHECK(s.n_buckets >= 2 && s.n_buckets % 2 == 0,
                 "LshAttention: n_buckets must be even and >= 2");
}

int Length(const LshShape& s, const int* lengths, int b) {
  if (lengths == nullptr) return s.length;
  ABSL_RAW_CHECK(lengths[b] >= 0 && lengths[b] <= s.length,
                 "LshAttention: lengths[b] must lie in [0, L]");
  return lengths[b];
}

// One (batch, head): geometry, row access and the chunk structure of its sorted items.
struct Head {
  const LshShape& s;
  int b, h, len, n, nch;
  int64_t bh;
  const uint8_t* m;  // the example's mask row, or null
  Head(const LshShape& s_, int b_, int h_, const int* lengths, const uint8_t* mask)
      : s(s_), b(b_), h(h_) {
    len = Length(s, lengths, b);
    m = mask ? mask + static_cast<int64_t>(b) * s.length : nullptr;
    n = s.n_hashes * len;
    nch = (n + s.chunk - 1) / s.chunk;
    bh = static_cast<int64_t>(b) * s.heads + h;
  }
  bool Valid(int t) const { return t < len && (!m || m[t]); }
  int64_t Row(int t) const {
    return ((static_cast<int64_t>(b) * s.length + t) * s.heads + h) * s.head_dim;
  }
  // The sorted indices item i attends to: its chunk, then the chunk before (circular).
  int Candidates(int i, int* cand) const {
    const int m = i / s.chunk;
    int k = 0;
    for (int j = m * s.chunk; j < std::min(n, m * s.chunk + s.chunk); ++j) cand[k++] = j;
    if (nch > 1) {
      const int pm = (m + nch - 1) % nch;
      for (int j = pm * s.chunk; j < std::min(n, pm * s.chunk + s.chunk); ++j) cand[k++] = j;
    }
    return k;
  }
  int32_t* Order(const LshSaved& sv) const { return sv.order + bh * s.n_hashes * s.length; }
  float* Prob(const LshSaved& sv, int i) const {
    return sv.p + (bh * s.n_hashes * s.length + i) * 2 * s.chunk;
  }
  // o_r(t) and lse_r(t).
  float* O(const LshSaved& sv, int r, int t) const {
    return sv.o + ((bh * s.n_hashes + r) * s.length + t) * s.head_dim;
  }
  float* Lse(const LshSaved& sv, int r, int t) const {
    return sv.lse + (bh * s.n_hashes + r) * s.length + t;
  }
  // w[r] = softmax_r(lse_r(t)), the weights of the rounds at position t.
  void RoundWeights(const LshSaved& sv, int t, float* w) const {
    float mx = -INFINITY;
    for (int r = 0; r < s.n_hashes; ++r) mx = std::max(mx, *Lse(sv, r, t));
    float z = 0;
    for (int r = 0; r < s.n_hashes; ++r) z += w[r] = std::exp(*Lse(sv, r, t) - mx);
    for (int r = 0; r < s.n_hashes; ++r) w[r] /= z;
  }
};

// The rows of one chunk of a head's sorted items, gathered contiguous for the GEMMs: queries
// q [nq, d] (sorted items q0 .. q0 + nq), candidates k, v [nc, d] at positions pos.
struct ChunkRows {
  int q0 = 0, nq = 0, nc = 0;
  std::vector<int> cand, pos;
  RowMat q, k, v;
  explicit ChunkRows(const LshShape& s) : cand(2 * s.chunk), pos(2 * s.chunk) {}
  void Load(const Head& hd, const int32_t* order, int m, const float* x, const float* val) {
    const int d = hd.s.head_dim;
    q0 = m * hd.s.chunk;
    nq = std::min(hd.s.chunk, hd.n - q0);
    nc = hd.Candidates(q0, cand.data());
    q.resize(nq, d);
    k.resize(nc, d);
    v.resize(nc, d);
    for (int a = 0; a < nq; ++a) q.row(a) = View(x + hd.Row(order[q0 + a] % hd.len), 1, d, d);
    for (int c = 0; c < nc; ++c) {
      pos[c] = order[cand[c]] % hd.len;
      k.row(c) = View(x + hd.Row(pos[c]), 1, d, d);
      v.row(c) = View(val + hd.Row(pos[c]), 1, d, d);
    }
  }
};

// Checks the shape and lengths, then runs fn(head) for every (batch, head) in parallel.
template <typename Fn>
void ForEachHead(const LshShape& s, const int* lengths, const uint8_t* mask, Fn fn) {
  CheckShape(s);
  for (int b = 0; b < s.batch; ++b) Length(s, lengths, b);
  const int64_t tasks = static_cast<int64_t>(s.batch) * s.heads;
#pragma omp parallel for schedule(dynamic)
  for (int64_t t = 0; t < tasks; ++t)
    fn(Head(s, static_cast<int>(t / s.heads), static_cast<int>(t % s.heads), lengths, mask));
}

float Dot(const float* a, const float* b, int d) {
  float r = 0;
  for (int e = 0; e < d; ++e) r += a[e] * b[e];
  return r;
}

// Buckets of one (batch, head): bk[r * len + t].
void HashHead(const LshShape& s, const Head& hd, const float* x, const float* rot, int32_t* bk) {
  const int half = s.n_buckets / 2, d = s.head_dim;
  std::vector<float> proj(half);
  for (int t = 0; t < hd.len; ++t) {
    const float* xt = x + hd.Row(t);
    for (int r = 0; r < s.n_hashes; ++r) {
      std::fill(proj.begin(), proj.end(), 0.0f);
      for (int e = 0; e < d; ++e) {
        const float* re = rot + (static_cast<int64_t>(e) * s.n_hashes + r) * half;
        for (int k = 0; k < half; ++k) proj[k] += xt[e] * re[k];
      }
      // argmax over [proj, -proj], the first maximum (jnp.argmax).
      int best = 0;
      float bv = proj[0];
      for (int k = 0; k < 2 * half; ++k) {
        const float c = k < half ? proj[k] : -proj[k - half];
        if (c > bv) {
          bv = c;
          best = k;
        }
      }
      bk[r * hd.len + t] = best;
    }
  }
}

}  // namespace

int64_t LshOrderInts(const LshShape& s) {
  return static_cast<int64_t>(s.batch) * s.heads * s.n_hashes * s.length;
}
int64_t LshProbFloats(const LshShape& s) { return LshOrderInts(s) * 2 * s.chunk; }
int64_t LshOutFloats(const LshShape& s) { return LshOrderInts(s) * s.head_dim; }
int64_t LshLseFloats(const LshShape& s) { return LshOrderInts(s); }

std::vector<int32_t> LshBuckets(const LshShape& s, const float* x, const float* rotations,
                                const int* lengths) {
  std::vector<int32_t> out(LshOrderInts(s), -1);
  ForEachHead(s, lengths, nullptr, [&](const Head& hd) {
    std::vector<int32_t> bk(hd.n);
    HashHead(s, hd, x, rotations, bk.data());
    for (int r = 0; r < s.n_hashes; ++r)
      for (int t = 0; t < hd.len; ++t)
        out[(hd.bh * s.n_hashes + r) * s.length + t] = bk[r * hd.len + t];
  });
  return out;
}

void LshAttentionForward(const LshShape& s, const float* x, const float* v, const float* rotations,
                         const int* lengths, const uint8_t* mask, float* out, const LshSaved& sv) {
  const int d = s.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  ForEachHead(s, lengths, mask, [&](const Head& hd) {
    // Hash and sort: key (r n_buckets + bucket, t), unique.
    std::vector<int32_t> bk(hd.n);
    HashHead(s, hd, x, rotations, bk.data());
    int32_t* order = hd.Order(sv);
    std::iota(order, order + hd.n, 0);
    auto key = [&](int32_t it) {
      const int r = it / hd.len, t = it % hd.len;
      return (static_cast<int64_t>(r) * s.n_buckets + bk[it]) * hd.len + t;
    };
    std::sort(order, order + hd.n, [&](int32_t a, int32_t c) { return key(a) < key(c); });
    // Attention inside the chunks: per chunk, one GEMM for the scores of its queries against
    // its candidates and one for the outputs.
    ChunkRows cr(s);
    for (int m = 0; m < hd.nch; ++m) {
      cr.Load(hd, order, m, x, v);
      MatView pm = View(hd.Prob(sv, cr.q0), cr.nq, cr.nc, 2 * s.chunk);
      pm.noalias() = scale * cr.q * cr.k.transpose();
      for (int a = 0; a < cr.nq; ++a) {
        const int it = order[cr.q0 + a], r = it / hd.len, t = it % hd.len;
        float* p = &pm(a, 0);
        if (!hd.Valid(t)) {
          std::fill(p, p + cr.nc, 1.0f / cr.nc);
          *hd.Lse(sv, r, t) = std::log(static_cast<float>(cr.nc));
          continue;
        }
        float mx = -INFINITY;
        for (int k = 0; k < cr.nc; ++k)
          if (hd.Valid(cr.pos[k])) mx = std::max(mx, p[k]);
        double z = 0;
        for (int k = 0; k < cr.nc; ++k)
          z += p[k] = hd.Valid(cr.pos[k]) ? std::exp(p[k] - mx) : 0.0f;
        const float inv = static_cast<float>(1.0 / z);
        for (int k = 0; k < cr.nc; ++k) p[k] *= inv;
        *hd.Lse(sv, r, t) = mx + static_cast<float>(std::log(z));
      }
      const RowMat o = pm * cr.v;
      for (int a = 0; a < cr.nq; ++a) {
        const int it = order[cr.q0 + a];
        View(hd.O(sv, it / hd.len, it % hd.len), 1, d, d) = o.row(a);
      }
    }
    // Combine the rounds.
    std::vector<float> w(s.n_hashes);
    for (int t = 0; t < s.length; ++t) {
      float* y = out + hd.Row(t);
      std::fill(y, y + d, 0.0f);
      if (t >= hd.len) continue;
      hd.RoundWeights(sv, t, w.data());
      for (int r = 0; r < s.n_hashes; ++r) {
        const float* o = hd.O(sv, r, t);
        for (int e = 0; e < d; ++e) y[e] += w[r] * o[e];
      }
    }
  });
}

void LshAttentionBackward(const LshShape& s, const float* x, const float* v, const int* lengths,
                          const uint8_t* mask, const LshSaved& sv, const float* dout, float* dx,
                          float* dv) {
  const int d = s.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  ForEachHead(s, lengths, mask, [&](const Head& hd) {
    for (int t = 0; t < s.length; ++t) {
      std::fill(dx + hd.Row(t), dx + hd.Row(t) + d, 0.0f);
      std::fill(dv + hd.Row(t), dv + hd.Row(t) + d, 0.0f);
    }
    if (hd.n == 0) return;
    // Through the combination: do_r = w_r dout, dlse_r = w_r (dout.o_r - dout.out).
    std::vector<float> dor(static_cast<size_t>(hd.n) * d), dlse(hd.n), w(s.n_hashes), g(s.n_hashes);
    for (int t = 0; t < hd.len; ++t) {
      const float* go = dout + hd.Row(t);
      hd.RoundWeights(sv, t, w.data());
      float gbar = 0;
      for (int r = 0; r < s.n_hashes; ++r) {
        g[r] = Dot(go, hd.O(sv, r, t), d);
        gbar += w[r] * g[r];
      }
      for (int r = 0; r < s.n_hashes; ++r) {
        const int it = r * hd.len + t;
        for (int e = 0; e < d; ++e) dor[static_cast<size_t>(it) * d + e] = w[r] * go[e];
        dlse[it] = w[r] * (g[r] - gbar);
      }
    }
    const int32_t* order = hd.Order(sv);
    ChunkRows cr(s);
    RowMat go;
    for (int m = 0; m < hd.nch; ++m) {
      cr.Load(hd, order, m, x, v);
      const ConstMatView pm =
          View(static_cast<const float*>(hd.Prob(sv, cr.q0)), cr.nq, cr.nc, 2 * s.chunk);
      go.resize(cr.nq, d);
      for (int a = 0; a < cr.nq; ++a)
        go.row(a) =
            View(static_cast<const float*>(dor.data()) + int64_t{order[cr.q0 + a]} * d, 1, d, d);
      // dVc = P^T dO; dP = dO Vc^T; dS = scale P o (dP - rowsum(P o dP) + dlse), 0 on masked
      // query rows (uniform: no gradient through their scores).
      const RowMat dvc = pm.transpose() * go;
      RowMat ds = go * cr.v.transpose();
      for (int a = 0; a < cr.nq; ++a) {
        const int it = order[cr.q0 + a];
        if (!hd.Valid(it % hd.len)) {
          ds.row(a).setZero();
          continue;
        }
        const float dsum = pm.row(a).dot(ds.row(a));
        ds.row(a) = scale * pm.row(a).cwiseProduct((ds.row(a).array() - dsum + dlse[it]).matrix());
      }
      const RowMat dq = ds * cr.k, dkc = ds.transpose() * cr.q;
      for (int a = 0; a < cr.nq; ++a) {
        float* dxt = dx + hd.Row(order[cr.q0 + a] % hd.len);
        for (int e = 0; e < d; ++e) dxt[e] += dq(a, e);
      }
      for (int k = 0; k < cr.nc; ++k) {
        float* dxk = dx + hd.Row(cr.pos[k]);
        float* dvk = dv + hd.Row(cr.pos[k]);
        for (int e = 0; e < d; ++e) {
          dxk[e] += dkc(k, e);
          dvk[e] += dvc(k, e);
        }
      }
    }
  });
}

}  // namespace kernels
}  // namespace lra

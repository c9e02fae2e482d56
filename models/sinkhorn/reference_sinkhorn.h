// Test-only: an independent double-precision Sparse Sinkhorn attention for the golden tests of
// "sinkhorn", plugged into models/transformer/reference_model.h's encoder through Cfg::attention.
// Written from the paper and LRA's layer (Tay et al. 2020, arXiv 2002.11296;
// google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/sinkhorn_transformer/sinkhorn_attention.py) with this project's
// contiguous blocks and padding rules (core/kernels/sinkhorn_attention.h), one (example, head)
// at a time over global positions:
//   blocks of w positions; the example has nb = ceil(len / w) of them;
//   S_n = sum of k over the positions of block n below the length; R = S_n W_sort;
//   P = row softmax of R over l < nb (iters 0) or `iters` Sinkhorn (row, column) steps of
//       R / temperature, then exp;
//   out_i = local(i) + sorted(i): local attends to the valid keys of i's block, sorted to the
//       slots j < w of Ks_n = sum_{l < nb, l w + j valid} P[n, l] k_{l w + j} (Vs likewise),
//       a slot valid when any of its sources is;
//   a masked query is uniform over its block (local) and over the w slots (sorted), with
//       softmax(s - s0) and frozen s0 (reference_model.h's RefEncode explains why).
#ifndef LRA_MODELS_SINKHORN_REFERENCE_SINKHORN_H_
#define LRA_MODELS_SINKHORN_REFERENCE_SINKHORN_H_

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "models/transformer/reference_model.h"

namespace lra::models::reference {

struct SinkhornRef {
  int block = 2;
  int iters = 0;  // 0: softmax
  double temperature = 1.0;
};

// Softmax of s - s0 over the entries with keep[j], s0 frozen for masked rows (`masked`):
// recorded in `frozen[key]` when `record`, replayed otherwise.
inline Vec RowSoftmax(const Vec& s, const std::vector<bool>& keep, bool masked, Frozen& frozen,
                      const std::pair<int, int>& key, bool record) {
  Vec p(s.size(), 0.0);
  double mx = -1e300, z = 0;
  if (masked) {
    Vec& s0 = frozen[key];
    if (record) s0 = s;
    for (size_t j = 0; j < s.size(); ++j) z += p[j] = std::exp(s[j] - s0[j]);
  } else {
    for (size_t j = 0; j < s.size(); ++j)
      if (keep[j]) mx = std::max(mx, s[j]);
    for (size_t j = 0; j < s.size(); ++j) z += p[j] = keep[j] ? std::exp(s[j] - mx) : 0.0;
  }
  for (double& x : p) x /= z;
  return p;
}

inline Vec SinkhornAttention(const SinkhornRef& sr, const AttentionArgs& a) {
  const int w = sr.block, d = a.H / a.heads, L = a.L, nbl = (L + w - 1) / w;
  const Vec& W = a.p.at(a.layer + ".attn.sort.w");  // [d, cols]
  const int cols = static_cast<int>(W.size()) / d;
  const int base = (a.tower * 1000 + a.layer_index) * 2;
  Vec out(static_cast<size_t>(a.B) * L * a.H, 0.0);
  auto at = [&](const Vec& x, int b, int t, int h, int e) {
    return x[(b * L + t) * a.H + h * d + e];
  };
  for (int b = 0; b < a.B; ++b)
    for (int h = 0; h < a.heads; ++h) {
      const int len = a.lens[b], nb = (len + w - 1) / w;
      // Sort network and permutation over the example's nb blocks.
      std::vector<Vec> x(nb, Vec(nb, 0.0));
      for (int n = 0; n < nb; ++n)
        for (int l = 0; l < nb; ++l) {
          double r = 0;
          for (int e = 0; e < d; ++e) {
            double s = 0;
            for (int t = n * w; t < std::min(n * w + w, len); ++t) s += at(a.k, b, t, h, e);
            r += s * W[e * cols + l];
          }
          x[n][l] = r / (sr.iters == 0 ? 1.0 : sr.temperature);
        }
      auto step = [&](bool rows) {
        for (int u = 0; u < nb; ++u) {
          double z = 0;
          for (int c = 0; c < nb; ++c) z += std::exp(rows ? x[u][c] : x[c][u]);
          for (int c = 0; c < nb; ++c) (rows ? x[u][c] : x[c][u]) -= std::log(z);
        }
      };
      if (sr.iters == 0) step(true);
      for (int i = 0; i < sr.iters; ++i) {
        step(true);
        step(false);
      }
      // Sorted keys and values [nbl][w * d], slot validity.
      std::vector<Vec> ks(nbl, Vec(w * d, 0.0)), vs(nbl, Vec(w * d, 0.0));
      std::vector<bool> slot(w, false);
      for (int n = 0; n < nb; ++n)
        for (int l = 0; l < nb; ++l)
          for (int j = 0; j < w; ++j) {
            const int t = l * w + j;
            if (!a.valid(b, t)) continue;
            slot[j] = true;
            for (int e = 0; e < d; ++e) {
              ks[n][j * d + e] += std::exp(x[n][l]) * at(a.k, b, t, h, e);
              vs[n][j * d + e] += std::exp(x[n][l]) * at(a.v, b, t, h, e);
            }
          }
      for (int i = 0; i < L; ++i) {
        const int n = i / w, j0 = n * w, j1 = std::min(j0 + w, L);
        const bool masked = !a.valid(b, i);
        const int row = (b * a.heads + h) * L + i;
        // Local term over the block's keys.
        Vec s(j1 - j0, 0.0);
        std::vector<bool> keep(j1 - j0);
        for (int j = j0; j < j1; ++j) {
          for (int e = 0; e < d; ++e) s[j - j0] += at(a.q, b, i, h, e) * at(a.k, b, j, h, e);
          s[j - j0] /= std::sqrt(double(d));
          keep[j - j0] = a.valid(b, j);
        }
        Vec pr = RowSoftmax(s, keep, masked, a.frozen, {base, row}, a.record);
        for (int j = j0; j < j1; ++j)
          for (int e = 0; e < d; ++e)
            out[(b * L + i) * a.H + h * d + e] += pr[j - j0] * at(a.v, b, j, h, e);
        // Sorted term over the w slots.
        Vec ss(w, 0.0);
        for (int j = 0; j < w; ++j) {
          for (int e = 0; e < d; ++e) ss[j] += at(a.q, b, i, h, e) * ks[n][j * d + e];
          ss[j] /= std::sqrt(double(d));
        }
        Vec ps = RowSoftmax(ss, slot, masked, a.frozen, {base + 1, row}, a.record);
        for (int j = 0; j < w; ++j)
          for (int e = 0; e < d; ++e)
            out[(b * L + i) * a.H + h * d + e] += ps[j] * vs[n][j * d + e];
      }
    }
  return out;
}

}  // namespace lra::models::reference

#endif  // LRA_MODELS_SINKHORN_REFERENCE_SINKHORN_H_

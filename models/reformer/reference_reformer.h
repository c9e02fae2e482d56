// Test-only: an independent double-precision LSH attention for the golden tests of "reformer",
// plugged into models/transformer/reference_model.h's encoder through Cfg::attention. Written
// from the paper and LRA's layer (Kitaev et al. 2020, arXiv 2001.04451;
// google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/reformer/reformer_attention.py lsh_attention_single_head) with this
// project's padding rules (core/kernels/lsh_attention.h), one (example, head) at a time:
//   x = q (shared query/key: the layer has no key projection), the example's len positions;
//   buckets: argmax over [x R_r, -x R_r] for each round r (R: lra::LshRotations, the same fixed
//     random numbers the model draws; computed in double at the unperturbed parameters and
//     frozen for the finite differences, as the model does not differentiate them);
//   the n_hashes len items sorted by (r n_buckets + bucket, t), cut into chunks of chunk_len;
//   each item attends to its chunk and the one before (circular), softmax over valid keys with
//   scale 1/sqrt(d); a masked query uniformly, lse = log(#candidates);
//   out_t = sum_r softmax_r(lse_r(t)) o_r(t).
#ifndef LRA_MODELS_REFORMER_REFERENCE_REFORMER_H_
#define LRA_MODELS_REFORMER_REFERENCE_REFORMER_H_

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "models/transformer/reference_model.h"

namespace lra::models::reference {

struct ReformerRef {
  int n_hashes = 1, n_buckets = 2, chunk = 1;
  std::vector<float> rotations;  // [d, n_hashes, n_buckets / 2]
};

inline Vec LshAttention(const ReformerRef& rr, const AttentionArgs& a) {
  const int d = a.H / a.heads, L = a.L, half = rr.n_buckets / 2;
  Vec out(static_cast<size_t>(a.B) * L * a.H, 0.0);
  auto at = [&](const Vec& x, int b, int t, int h, int e) {
    return x[(b * L + t) * a.H + h * d + e];
  };
  for (int b = 0; b < a.B; ++b)
    for (int h = 0; h < a.heads; ++h) {
      const int len = a.lens[b], n = rr.n_hashes * len, nch = (n + rr.chunk - 1) / rr.chunk;
      if (n == 0) continue;
      Vec& bk = a.frozen[{(a.tower * 1000 + a.layer_index) * 2, b * a.heads + h}];
      if (a.record) {
        bk.assign(n, 0.0);
        for (int r = 0; r < rr.n_hashes; ++r)
          for (int t = 0; t < len; ++t) {
            Vec c(rr.n_buckets);
            for (int k = 0; k < half; ++k) {
              double s = 0;
              for (int e = 0; e < d; ++e)
                s += at(a.q, b, t, h, e) * rr.rotations[(e * rr.n_hashes + r) * half + k];
              c[k] = s;
              c[half + k] = -s;
            }
            bk[r * len + t] = static_cast<double>(std::max_element(c.begin(), c.end()) - c.begin());
          }
      }
      std::vector<int> order(n);
      std::iota(order.begin(), order.end(), 0);
      auto key = [&](int it) {
        return std::make_pair((it / len) * rr.n_buckets + static_cast<int>(bk[it]), it % len);
      };
      std::sort(order.begin(), order.end(), [&](int x, int y) { return key(x) < key(y); });
      std::vector<Vec> o(n, Vec(d, 0.0));
      Vec lse(n, 0.0);
      for (int i = 0; i < n; ++i) {
        const int it = order[i], t = it % len, m = i / rr.chunk;
        std::vector<int> cand;
        for (int j = m * rr.chunk; j < std::min(n, (m + 1) * rr.chunk); ++j)
          cand.push_back(order[j] % len);
        if (nch > 1) {
          const int pm = (m + nch - 1) % nch;
          for (int j = pm * rr.chunk; j < std::min(n, (pm + 1) * rr.chunk); ++j)
            cand.push_back(order[j] % len);
        }
        Vec w(cand.size(), 0.0);
        double z = 0;
        for (size_t k = 0; k < cand.size(); ++k) {
          if (!a.valid(b, t)) {
            z += w[k] = 1.0;
            continue;
          }
          if (!a.valid(b, cand[k])) continue;
          double s = 0;
          for (int e = 0; e < d; ++e) s += at(a.q, b, t, h, e) * at(a.q, b, cand[k], h, e);
          z += w[k] = std::exp(s / std::sqrt(double(d)));
        }
        lse[it] = std::log(z);
        for (size_t k = 0; k < cand.size(); ++k)
          for (int e = 0; e < d; ++e) o[it][e] += w[k] / z * at(a.v, b, cand[k], h, e);
      }
      for (int t = 0; t < len; ++t) {
        double zz = 0;
        for (int r = 0; r < rr.n_hashes; ++r) zz += std::exp(lse[r * len + t]);
        for (int r = 0; r < rr.n_hashes; ++r)
          for (int e = 0; e < d; ++e)
            out[(b * L + t) * a.H + h * d + e] +=
                std::exp(lse[r * len + t]) / zz * o[r * len + t][e];
      }
    }
  return out;
}

}  // namespace lra::models::reference

#endif  // LRA_MODELS_REFORMER_REFERENCE_REFORMER_H_

#include "core/kernels/sinkhorn_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "absl/base/internal/raw_logging.h"
#include "core/kernels/strided_view.h"
#include "core/kernels/window_dropout.h"

namespace lra {
namespace kernels {
namespace {

using Map = Eigen::Map<RowMat>;
using ConstMap = Eigen::Map<const RowMat>;

void CheckShape(const SinkhornShape& s) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.length >= 1 && s.heads >= 1 && s.head_dim >= 1 && s.block >= 1,
                 "Sinkhorn: batch, length, heads, head_dim and block must be >= 1");
}

int Length(const SinkhornShape& s, const int* lengths, int b) {
  if (lengths == nullptr) return s.length;
  ABSL_RAW_CHECK(lengths[b] >= 0 && lengths[b] <= s.length,
                 "SortedBlockAttention: lengths[b] must lie in [0, L]");
  return lengths[b];
}

// ---------------------------------------------------------------- normalisation

// The steps of the normalisation: each subtracts the logsumexp along rows (true) or columns.
std::vector<bool> Steps(int iters) {
  if (iters == 0) return {true};
  std::vector<bool> st;
  for (int i = 0; i < iters; ++i) {
    st.push_back(true);
    st.push_back(false);
  }
  return st;
}

// x -= logsumexp along rows (row = true) or columns of the n x n matrix x; if sm, also writes
// softmax(x_before) along that axis into sm.
void LseStep(RowMat& x, bool row, RowMat* sm) {
  const int n = static_cast<int>(x.rows());
  for (int a = 0; a < n; ++a) {
    float mx = -INFINITY;
    for (int c = 0; c < n; ++c) mx = std::max(mx, row ? x(a, c) : x(c, a));
    double z = 0;
    for (int c = 0; c < n; ++c) z += std::exp(static_cast<double>((row ? x(a, c) : x(c, a)) - mx));
    const float lse = mx + static_cast<float>(std::log(z));
    for (int c = 0; c < n; ++c) {
      float& e = row ? x(a, c) : x(c, a);
      if (sm) (row ? (*sm)(a, c) : (*sm)(c, a)) = std::exp(e - lse);
      e -= lse;
    }
  }
}

void CheckNorm(const SinkhornNormShape& s) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.heads >= 1 && s.nbl >= 1 && s.cols >= 1,
                 "SinkhornNormalize: batch, heads, nbl and cols must be >= 1");
  ABSL_RAW_CHECK(s.iters >= 0 && s.temperature > 0.0f,
                 "SinkhornNormalize: iters must be >= 0 and temperature > 0");
}

// fn(b, h) for every (batch, head), in parallel.
template <typename Fn>
void ForEach(int batch, int heads, Fn fn) {
  const int64_t tasks = static_cast<int64_t>(batch) * heads;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tasks; ++t) fn(static_cast<int>(t / heads), static_cast<int>(t % heads));
}

// ---------------------------------------------------------------- attention

// One (batch, head): its geometry and the valid-masked keys and values, gathered into
// contiguous [nbL * w, d] arrays (Kg row t = position t; zero where t is invalid or >= L).
struct Head {
  int b, h, len, nb, nbl;
  int64_t stride, offset;  // heads * d; offset of (b, 0, h, 0)
  std::vector<uint8_t> valid;
  RowMat kg, vg;
  Head(const SinkhornShape& s, int b_, int h_, const float* k, const float* v, const int* lengths,
       const uint8_t* mask)
      : b(b_), h(h_) {
    const int w = s.block, d = s.head_dim;
    len = Length(s, lengths, b);
    nb = (len + w - 1) / w;
    nbl = SinkhornBlocks(s);
    stride = static_cast<int64_t>(s.heads) * d;
    offset = static_cast<int64_t>(b) * s.length * stride + int64_t{h} * d;
    valid.assign(static_cast<size_t>(nbl) * w, 0);
    for (int t = 0; t < len; ++t) valid[t] = !mask || mask[static_cast<int64_t>(b) * s.length + t];
    kg = RowMat::Zero(static_cast<int64_t>(nbl) * w, d);
    vg = RowMat::Zero(static_cast<int64_t>(nbl) * w, d);
    if (k == nullptr) return;
    for (int t = 0; t < len; ++t) {
      if (!valid[t]) continue;
      kg.row(t) = View(k + offset + t * stride, 1, d, stride);
      vg.row(t) = View(v + offset + t * stride, 1, d, stride);
    }
  }
  // [nbL, w * d] views of kg, vg: row l = block l.
  ConstMap Kb(int w, int d) const { return ConstMap(kg.data(), nbl, int64_t{w} * d); }
  ConstMap Vb(int w, int d) const { return ConstMap(vg.data(), nbl, int64_t{w} * d); }
};

const float* PermOf(const SinkhornShape& s, const float* perm, int b, int h) {
  const int64_t nbl = SinkhornBlocks(s);
  return perm + (static_cast<int64_t>(b) * s.heads + h) * nbl * nbl;
}

}  // namespace

int SinkhornBlocks(const SinkhornShape& s) { return (s.length + s.block - 1) / s.block; }

void SinkhornNormalizeForward(const SinkhornNormShape& s, const int* blocks, const float* logits,
                              float* perm) {
  CheckNorm(s);
  const int nbl = s.nbl, cols = s.cols;
  const std::vector<bool> steps = Steps(s.iters);
  ForEach(s.batch, s.heads, [&](int b, int h) {
    const int n = blocks[b];
    ABSL_RAW_CHECK(n >= 0 && n <= nbl && n <= cols, "SinkhornNormalize: blocks[b] out of range");
    const int64_t bh = static_cast<int64_t>(b) * s.heads + h;
    Map p(perm + bh * nbl * nbl, nbl, nbl);
    p.setZero();
    if (n == 0) return;
    RowMat x = ConstMap(logits + bh * nbl * cols, nbl, cols).topLeftCorner(n, n) / s.temperature;
    for (bool row : steps) LseStep(x, row, nullptr);
    p.topLeftCorner(n, n) = x.array().exp().matrix();
  });
}

void SinkhornNormalizeBackward(const SinkhornNormShape& s, const int* blocks, const float* logits,
                               const float* dperm, float* dlogits) {
  CheckNorm(s);
  const int nbl = s.nbl, cols = s.cols;
  const std::vector<bool> steps = Steps(s.iters);
  ForEach(s.batch, s.heads, [&](int b, int h) {
    const int n = blocks[b];
    const int64_t bh = static_cast<int64_t>(b) * s.heads + h;
    Map dr(dlogits + bh * nbl * cols, nbl, cols);
    dr.setZero();
    if (n == 0) return;
    // Recompute: sm[i] = softmax of step i's input along its axis.
    RowMat x = ConstMap(logits + bh * nbl * cols, nbl, cols).topLeftCorner(n, n) / s.temperature;
    std::vector<RowMat> sm(steps.size(), RowMat(n, n));
    for (size_t i = 0; i < steps.size(); ++i) LseStep(x, steps[i], &sm[i]);
    // dX_final = dP o P, P = exp(X_final).
    RowMat dy = ConstMap(dperm + bh * nbl * nbl, nbl, nbl)
                    .topLeftCorner(n, n)
                    .cwiseProduct(RowMat(x.array().exp().matrix()));
    for (size_t i = steps.size(); i-- > 0;) {
      if (steps[i]) {
        const Eigen::VectorXf sum = dy.rowwise().sum();
        for (int a = 0; a < n; ++a) dy.row(a) -= sum(a) * sm[i].row(a);
      } else {
        const Eigen::RowVectorXf sum = dy.colwise().sum();
        for (int c = 0; c < n; ++c) dy.col(c) -= sum(c) * sm[i].col(c);
      }
    }
    dr.topLeftCorner(n, n) = dy / s.temperature;
  });
}

int64_t SortedBlockAttentionSavedFloats(const SinkhornShape& s) {
  const int64_t nbl = SinkhornBlocks(s);
  return static_cast<int64_t>(s.batch) * s.heads *
         (static_cast<int64_t>(s.length) * s.block + 2 * nbl * s.block * s.head_dim);
}

namespace {

// Pointers into `saved` for one (batch, head): probabilities [L, w], Ks and Vs [nbL, w * d].
struct Saved {
  float *p, *ks, *vs;
  Saved(const SinkhornShape& s, float* saved, int b, int h) {
    const int64_t nbl = SinkhornBlocks(s), w = s.block, d = s.head_dim;
    const int64_t bh = static_cast<int64_t>(b) * s.heads + h;
    const int64_t per_p = int64_t{s.length} * w, per_kv = nbl * w * d;
    const int64_t heads_total = static_cast<int64_t>(s.batch) * s.heads;
    p = saved + bh * per_p;
    ks = saved + heads_total * per_p + bh * 2 * per_kv;
    vs = ks + per_kv;
  }
};

// Checks the shape, lengths and dropout rate, then runs fn(head, saved) for every (batch,
// head) in parallel.
template <typename Fn>
void ForEachSortedHead(const SinkhornShape& s, const float* k, const float* v, const int* lengths,
                       const uint8_t* mask, float dropout_rate, float* saved, Fn fn) {
  CheckShape(s);
  ABSL_RAW_CHECK(dropout_rate >= 0.0f && dropout_rate < 1.0f,
                 "SortedBlockAttention: dropout must be in [0, 1)");
  for (int b = 0; b < s.batch; ++b) Length(s, lengths, b);
  ForEach(s.batch, s.heads, [&](int b, int h) {
    const Head hd(s, b, h, k, v, lengths, mask);
    const Saved sv(s, saved, b, h);
    fn(hd, sv);
  });
}

}  // namespace

void SortedBlockAttentionForward(const SinkhornShape& s, const float* q, const float* k,
                                 const float* v, const float* perm, const int* lengths,
                                 const uint8_t* mask, float dropout_rate, uint64_t dropout_seed,
                                 float* out, float* saved) {
  const int w = s.block, d = s.head_dim, nbl = SinkhornBlocks(s);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const WindowDropout drop(dropout_rate, dropout_seed);
  ForEachSortedHead(
      s, k, v, lengths, mask, dropout_rate, saved, [&](const Head& hd, const Saved& sv) {
        const int b = hd.b, h = hd.h;
        Map ks(sv.ks, nbl, int64_t{w} * d), vs(sv.vs, nbl, int64_t{w} * d);
        ks.setZero();
        vs.setZero();
        if (hd.nb > 0) {
          const ConstMap pm(PermOf(s, perm, b, h), nbl, nbl);
          ks.topRows(hd.nb).noalias() = pm.topLeftCorner(hd.nb, hd.nb) * hd.Kb(w, d).topRows(hd.nb);
          vs.topRows(hd.nb).noalias() = pm.topLeftCorner(hd.nb, hd.nb) * hd.Vb(w, d).topRows(hd.nb);
        }
        std::vector<uint8_t> slot(w, 0);
        for (int l = 0; l < hd.nb; ++l)
          for (int j = 0; j < w; ++j) slot[j] |= hd.valid[static_cast<size_t>(l) * w + j];
        std::vector<float> pd(static_cast<size_t>(w) * w);
        for (int n = 0; n < nbl; ++n) {
          const int i0 = n * w, nq = std::min(w, s.length - i0);
          float* p = sv.p + static_cast<int64_t>(i0) * w;
          const ConstMatView ksn =
              View(static_cast<const float*>(sv.ks) + static_cast<int64_t>(n) * w * d, w, d, d);
          const ConstMatView vsn =
              View(static_cast<const float*>(sv.vs) + static_cast<int64_t>(n) * w * d, w, d, d);
          View(p, nq, w, w).noalias() =
              scale * View(q + hd.offset + i0 * hd.stride, nq, d, hd.stride) * ksn.transpose();
          for (int r = 0; r < nq; ++r) {
            float* row = p + static_cast<int64_t>(r) * w;
            if (!hd.valid[i0 + r]) {  // flax: the whole row at -1e10, so uniform over the slots
              std::fill(row, row + w, 1.0f / w);
              continue;
            }
            float mx = -INFINITY;
            for (int c = 0; c < w; ++c)
              if (slot[c]) mx = std::max(mx, row[c]);
            float z = 0;
            for (int c = 0; c < w; ++c) z += row[c] = slot[c] ? std::exp(row[c] - mx) : 0.0f;
            const float inv = 1.0f / z;
            for (int c = 0; c < w; ++c) row[c] *= inv;
          }
          MatView o = View(out + hd.offset + i0 * hd.stride, nq, d, hd.stride);
          if (drop.on) {
            drop.Apply(b, h, i0, nq, i0, w, w, p, pd.data());
            o.noalias() = View(static_cast<const float*>(pd.data()), nq, w, w) * vsn;
          } else {
            o.noalias() = View(static_cast<const float*>(p), nq, w, w) * vsn;
          }
        }
      });
}

void SortedBlockAttentionBackward(const SinkhornShape& s, const float* q, const float* k,
                                  const float* v, const float* perm, const int* lengths,
                                  const uint8_t* mask, float dropout_rate, uint64_t dropout_seed,
                                  const float* saved, const float* dout, float* dq, float* dk,
                                  float* dv, float* dperm) {
  const int w = s.block, d = s.head_dim, nbl = SinkhornBlocks(s);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const WindowDropout drop(dropout_rate, dropout_seed);
  ForEachSortedHead(
      s, k, v, lengths, mask, dropout_rate, const_cast<float*>(saved),
      [&](const Head& hd, const Saved& sv) {
        const int b = hd.b, h = hd.h;
        RowMat dks = RowMat::Zero(nbl, int64_t{w} * d), dvs = RowMat::Zero(nbl, int64_t{w} * d);
        std::vector<float> pd_buf(static_cast<size_t>(w) * w);
        for (int n = 0; n < nbl; ++n) {
          const int i0 = n * w, nq = std::min(w, s.length - i0);
          const float* p_ptr = sv.p + static_cast<int64_t>(i0) * w;
          const float* pd_ptr = p_ptr;
          if (drop.on) {
            drop.Apply(b, h, i0, nq, i0, w, w, p_ptr, pd_buf.data());
            pd_ptr = pd_buf.data();
          }
          const ConstMatView p = View(p_ptr, nq, w, w), pd = View(pd_ptr, nq, w, w);
          const ConstMatView ksn =
              View(static_cast<const float*>(sv.ks) + static_cast<int64_t>(n) * w * d, w, d, d);
          const ConstMatView vsn =
              View(static_cast<const float*>(sv.vs) + static_cast<int64_t>(n) * w * d, w, d, d);
          const ConstMatView go = View(dout + hd.offset + i0 * hd.stride, nq, d, hd.stride);
          const ConstMatView qn = View(q + hd.offset + i0 * hd.stride, nq, d, hd.stride);
          View(dvs.data() + static_cast<int64_t>(n) * w * d, w, d, d).noalias() =
              pd.transpose() * go;
          // dP~ = dO Vs^T; D_i = sum_j P~_ij dP~_ij; dS = P~ o dP~ - P o D.
          RowMat ds = go * vsn.transpose();
          for (int r = 0; r < nq; ++r) {
            float di = 0;
            for (int c = 0; c < w; ++c) di += pd(r, c) * ds(r, c);
            for (int c = 0; c < w; ++c) ds(r, c) = pd(r, c) * ds(r, c) - p(r, c) * di;
          }
          View(dq + hd.offset + i0 * hd.stride, nq, d, hd.stride).noalias() = scale * ds * ksn;
          View(dks.data() + static_cast<int64_t>(n) * w * d, w, d, d).noalias() =
              scale * ds.transpose() * qn;
        }
        // Mixing: Ks = P Kg, so dKg = P^T dKs and dP = dKs Kg^T (+ the same for V), over the
        // example's nb blocks; Kg is zero at invalid positions, whose gradient is masked below.
        Map dp(dperm + (static_cast<int64_t>(b) * s.heads + h) * nbl * nbl, nbl, nbl);
        dp.setZero();
        RowMat dkg = RowMat::Zero(nbl, int64_t{w} * d), dvg = RowMat::Zero(nbl, int64_t{w} * d);
        if (hd.nb > 0) {
          const int nb = hd.nb;
          const ConstMap pm(PermOf(s, perm, b, h), nbl, nbl);
          dkg.topRows(nb).noalias() = pm.topLeftCorner(nb, nb).transpose() * dks.topRows(nb);
          dvg.topRows(nb).noalias() = pm.topLeftCorner(nb, nb).transpose() * dvs.topRows(nb);
          dp.topLeftCorner(nb, nb).noalias() =
              dks.topRows(nb) * hd.Kb(w, d).topRows(nb).transpose();
          dp.topLeftCorner(nb, nb).noalias() +=
              dvs.topRows(nb) * hd.Vb(w, d).topRows(nb).transpose();
        }
        for (int t = 0; t < s.length; ++t) {
          MatView dkt = View(dk + hd.offset + t * hd.stride, 1, d, hd.stride);
          MatView dvt = View(dv + hd.offset + t * hd.stride, 1, d, hd.stride);
          if (hd.valid[t]) {
            dkt =
                View(static_cast<const float*>(dkg.data()) + static_cast<int64_t>(t) * d, 1, d, d);
            dvt =
                View(static_cast<const float*>(dvg.data()) + static_cast<int64_t>(t) * d, 1, d, d);
          } else {
            dkt.setZero();
            dvt.setZero();
          }
        }
      });
}

}  // namespace kernels
}  // namespace lra

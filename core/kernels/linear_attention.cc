#include "core/kernels/linear_attention.h"

#include <cmath>
#include <cstdint>

#include "Eigen/Core"
#include "absl/base/internal/raw_logging.h"
#include "core/kernels/strided_view.h"
#include "core/kernels/vmath/vmath.h"

namespace lra {
namespace kernels {
namespace {

// phi(x) = elu(x) + 1 (x + 1 for x > 0, exp(x) else) into a contiguous matrix, as
// exp(min(x, 0)) + max(x, 0): exp(0) is exactly 1 on core/kernels/vmath, so x > 0 gives x + 1
// and x <= 0 gives exp(x), all in vectorised passes (a scalar std::exp per element, or Eigen's
// select, cost most of the attention).
RowMat Phi(const ConstMatView& x) {
  RowMat y = x.cwiseMin(0.0f);
  vmath::Exp(y.data(), y.data(), y.size());  // in place: vmath reads each block before writing it
  y += x.cwiseMax(0.0f);
  return y;
}
// phi'(x) = 1 for x > 0, exp(x) else, from phi(x): it is min(phi(x), 1) (x + 1 > 1 for x > 0,
// exp(x) <= 1 else; x + 1 rounding to 1 for tiny x gives 1 either way), so backward
// needs no second exp.
RowMat PhiGrad(const RowMat& phi) { return phi.cwiseMin(1.0f); }

// Both entries as FeatureAttentionShape: the elu + 1 one has m = dv = d.
FeatureAttentionShape AsFeature(const LinearAttentionShape& s) {
  return {s.batch, s.length, s.heads, s.head_dim, s.head_dim};
}

void Check(const FeatureAttentionShape& s, const int* lengths) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.length >= 1 && s.heads >= 1 && s.feature_dim >= 1 &&
                     s.value_dim >= 1,
                 "LinearAttention, FeatureAttention: batch, length, heads and widths must be "
                 ">= 1");
  if (lengths)
    for (int b = 0; b < s.batch; ++b)
      ABSL_RAW_CHECK(lengths[b] >= 0 && lengths[b] <= s.length,
                     "LinearAttention, FeatureAttention: lengths[b] must lie in [0, L]");
}

// fn(t, len, fo, vo) for every (batch, head) t = b * heads + h under OpenMP: len = the
// example's length, fo, vo = the offsets of (b, 0, h, 0) in the feature [B, L, heads, m] and
// value [B, L, heads, dv] arrays (equal for the elu + 1 entry).
template <typename Fn>
void ForEachHead(const FeatureAttentionShape& s, const int* lengths, Fn fn) {
  const int64_t fs = int64_t{s.heads} * s.feature_dim, vs = int64_t{s.heads} * s.value_dim;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < int64_t{s.batch} * s.heads; ++t) {
    const int b = static_cast<int>(t / s.heads), h = static_cast<int>(t % s.heads);
    fn(t, lengths ? lengths[b] : s.length, int64_t{b} * s.length * fs + int64_t{h} * s.feature_dim,
       int64_t{b} * s.length * vs + int64_t{h} * s.value_dim);
  }
}

}  // namespace

int64_t LinearAttentionSavedFloats(const LinearAttentionShape& s) {
  return static_cast<int64_t>(s.batch) * s.heads * (int64_t{s.head_dim} * s.head_dim + s.head_dim);
}

void LinearAttentionForward(const LinearAttentionShape& s, const float* q, const float* k,
                            const float* v, const int* lengths, float* out, float* saved) {
  Check(AsFeature(s), lengths);
  const int d = s.head_dim, l = s.length;
  const int64_t stride = int64_t{s.heads} * d, per = int64_t{d} * d + d;
  ForEachHead(AsFeature(s), lengths, [&](int64_t t, int len, int64_t off, int64_t) {
    MatView kv = View(saved + t * per, d, d, d);
    Eigen::Map<Eigen::RowVectorXf> ksum(saved + t * per + int64_t{d} * d, d);
    if (len > 0) {
      const RowMat pk = Phi(View(k + off, len, d, stride));
      kv.noalias() = pk.transpose() * View(v + off, len, d, stride);
      ksum = pk.colwise().sum();
    } else {
      kv.setZero();
      ksum.setZero();
    }
    const RowMat pq = Phi(View(q + off, l, d, stride));
    const Eigen::VectorXf den = (pq * ksum.transpose()).array() + kLinearAttentionEps;
    View(out + off, l, d, stride).noalias() = den.cwiseInverse().asDiagonal() * (pq * kv);
  });
}

void LinearAttentionBackward(const LinearAttentionShape& s, const float* q, const float* k,
                             const float* v, const int* lengths, const float* out,
                             const float* saved, const float* dout, float* dq, float* dk,
                             float* dv) {
  Check(AsFeature(s), lengths);
  const int d = s.head_dim, l = s.length;
  const int64_t stride = int64_t{s.heads} * d, per = int64_t{d} * d + d;
  ForEachHead(AsFeature(s), lengths, [&](int64_t t, int len, int64_t off, int64_t) {
    const ConstMatView kv = View(saved + t * per, d, d, d);
    const Eigen::Map<const Eigen::RowVectorXf> ksum(saved + t * per + int64_t{d} * d, d);
    const ConstMatView qv = View(q + off, l, d, stride), g = View(dout + off, l, d, stride);
    const RowMat pq = Phi(qv);
    const Eigen::VectorXf inv =
        ((pq * ksum.transpose()).array() + kLinearAttentionEps).inverse().matrix();
    // out_i = num_i / den_i: dnum_i = g_i / den_i, dden_i = -(g_i . out_i) / den_i.
    const RowMat gn = inv.asDiagonal() * g;
    const Eigen::VectorXf gd =
        -(View(out + off, l, d, stride).cwiseProduct(g).rowwise().sum().array() * inv.array())
             .matrix();
    // d phi(q_i) = KV dnum_i + ksum dden_i.
    RowMat dpq = gn * kv.transpose() + gd * ksum;
    View(dq + off, l, d, stride) = dpq.cwiseProduct(PhiGrad(pq));
    // dKV = sum_i phi(q_i) dnum_i^T, dksum = sum_i phi(q_i) dden_i; keys j < len only.
    const RowMat dkv = pq.transpose() * gn;
    const Eigen::RowVectorXf dks = gd.transpose() * pq;
    if (len > 0) {
      const ConstMatView kk = View(k + off, len, d, stride);
      const RowMat pk = Phi(kk);
      View(dv + off, len, d, stride).noalias() = pk * dkv;
      RowMat dpk = View(v + off, len, d, stride) * dkv.transpose();
      dpk.rowwise() += dks;
      View(dk + off, len, d, stride) = dpk.cwiseProduct(PhiGrad(pk));
    }
    for (int j = len; j < l; ++j)
      for (int e = 0; e < d; ++e) dk[off + j * stride + e] = dv[off + j * stride + e] = 0.0f;
  });
}

namespace {

// R + 2 s [|R| <= s], elementwise.
Eigen::ArrayXf Stabilize(const Eigen::VectorXf& r, float s) {
  return r.array() + (r.array().abs() <= s).cast<float>() * (2.0f * s);
}

}  // namespace

int64_t FeatureAttentionSavedFloats(const FeatureAttentionShape& s) {
  return int64_t{s.batch} * s.heads * (int64_t{s.feature_dim} * s.value_dim + s.feature_dim);
}

void FeatureAttentionForward(const FeatureAttentionShape& s, const float* qf, const float* kf,
                             const float* v, const int* lengths, float stabilizer, float* out,
                             float* saved) {
  Check(s, lengths);
  const int m = s.feature_dim, dv = s.value_dim, l = s.length;
  const int64_t fs = int64_t{s.heads} * m, vs = int64_t{s.heads} * dv, per = int64_t{m} * dv + m;
  ForEachHead(s, lengths, [&](int64_t t, int len, int64_t fo, int64_t vo) {
    MatView z = View(saved + t * per, m, dv, dv);
    Eigen::Map<Eigen::RowVectorXf> tsum(saved + t * per + int64_t{m} * dv, m);
    if (len > 0) {
      const ConstMatView k = View(kf + fo, len, m, fs);
      z.noalias() = k.transpose() * View(v + vo, len, dv, vs);
      tsum = k.colwise().sum();
    } else {
      z.setZero();
      tsum.setZero();
    }
    const ConstMatView q = View(qf + fo, l, m, fs);
    const Eigen::ArrayXf den = Stabilize(q * tsum.transpose(), stabilizer);
    View(out + vo, l, dv, vs).noalias() = den.inverse().matrix().asDiagonal() * (q * z);
  });
}

void FeatureAttentionBackward(const FeatureAttentionShape& s, const float* qf,
                              const float* kf, const float* v, const int* lengths,
                              float stabilizer, const float* out, const float* saved,
                              const float* dout, float* dqf, float* dkf, float* dv) {
  Check(s, lengths);
  const int m = s.feature_dim, d = s.value_dim, l = s.length;
  const int64_t fs = int64_t{s.heads} * m, vs = int64_t{s.heads} * d, per = int64_t{m} * d + m;
  ForEachHead(s, lengths, [&](int64_t t, int len, int64_t fo, int64_t vo) {
    const ConstMatView z = View(saved + t * per, m, d, d);
    const Eigen::Map<const Eigen::RowVectorXf> tsum(saved + t * per + int64_t{m} * d, m);
    const ConstMatView q = View(qf + fo, l, m, fs), g = View(dout + vo, l, d, vs);
    const Eigen::VectorXf inv = Stabilize(q * tsum.transpose(), stabilizer).inverse().matrix();
    // out_i = num_i / den_i: dnum_i = g_i / den_i, dden_i = -(g_i . out_i) / den_i.
    const RowMat gn = inv.asDiagonal() * g;
    const Eigen::VectorXf gd =
        -(View(out + vo, l, d, vs).cwiseProduct(g).rowwise().sum().array() * inv.array())
             .matrix();
    View(dqf + fo, l, m, fs).noalias() = gn * z.transpose() + gd * tsum;
    const RowMat dz = q.transpose() * gn;
    const Eigen::RowVectorXf dt = gd.transpose() * q;
    if (len > 0) {
      View(dv + vo, len, d, vs).noalias() = View(kf + fo, len, m, fs) * dz;
      MatView dk = View(dkf + fo, len, m, fs);
      dk.noalias() = View(v + vo, len, d, vs) * dz.transpose();
      dk.rowwise() += dt;
    }
    for (int j = len; j < l; ++j) {
      for (int e = 0; e < m; ++e) dkf[fo + j * fs + e] = 0.0f;
      for (int e = 0; e < d; ++e) dv[vo + j * vs + e] = 0.0f;
    }
  });
}

}  // namespace kernels
}  // namespace lra

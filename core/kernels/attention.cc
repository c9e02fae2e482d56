#include "core/kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "Eigen/Core"
#include "absl/base/internal/raw_logging.h"

namespace lra {
namespace kernels {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatView = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstMatView = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;

MatView View(float* p, int rows, int cols, int64_t stride) {
  return MatView(p, rows, cols, Eigen::OuterStride<>(stride));
}
ConstMatView View(const float* p, int rows, int cols, int64_t stride) {
  return ConstMatView(p, rows, cols, Eigen::OuterStride<>(stride));
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// exp(x) for softmax, written so `#pragma omp simd` loops vectorise it (glibc's expf is a scalar
// call without -ffast-math, and at L=1K the L^2 exponentials would cost more than the GEMMs).
// Range reduction x = n ln2 + r, |r| <= ln2/2, with ln2 split in two so n*ln2_hi is exact; then
// the classic degree-7 Cephes expf polynomial (relative error about 1 ulp on [-ln2/2, ln2/2]);
// then 2^n built in the exponent bits. Inputs below -87.33 (exp < FLT_MIN, including -inf for
// masked scores) return exactly 0. Softmax only passes x <= 0.
inline float ExpF(float x) {
  constexpr float kMin = -87.33654f;
  float xc = std::min(std::max(x, kMin), 88.0f);
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln2)
  float r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof(two_n));
  return x < kMin ? 0.0f : e * two_n;
}

// Number of keys row i may see (keys [0, visible) are unmasked).
inline int VisibleKeys(int i, int len, bool causal) { return causal ? std::min(i + 1, len) : len; }

// Row-wise dot products D_i = <a_i, b_i> over `rows` rows of width d (row stride `stride`).
void RowDots(const float* a, const float* b, int rows, int d, int64_t stride, float* out) {
  for (int i = 0; i < rows; ++i) {
    const float* x = a + i * stride;
    const float* y = b + i * stride;
    float acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int c = 0; c < d; ++c) acc += x[c] * y[c];
    out[i] = acc;
  }
}

void ZeroRows(float* p, int rows, int d, int64_t stride) {
  for (int i = 0; i < rows; ++i) std::memset(p + i * stride, 0, d * sizeof(float));
}

// dS = P * (dP - D_i) in place in dp, over a rows x cols tile (strides ps, dps).
void SoftmaxGrad(const float* p, int64_t ps, float* dp, int64_t dps, const float* dvec, int rows,
                 int cols) {
  for (int r = 0; r < rows; ++r) {
    const float* pr = p + r * ps;
    float* g = dp + r * dps;
    const float di = dvec[r];
#pragma omp simd
    for (int c = 0; c < cols; ++c) g[c] = pr[c] * (g[c] - di);
  }
}

void CheckShape(const AttentionShape& s) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.length >= 1 && s.heads >= 1 && s.head_dim >= 1,
                 "Attention: batch, length, heads and head_dim must be >= 1");
}

int KeyLength(const AttentionShape& s, const int* lengths, int b) {
  if (lengths == nullptr) return s.length;
  ABSL_RAW_CHECK(lengths[b] >= 0 && lengths[b] <= s.length,
                 "Attention: lengths[b] must lie in [0, L]");
  return lengths[b];
}

}  // namespace

void Attention::Free::operator()(float* p) const { std::free(p); }

Attention::Attention(AttentionOptions options) : options_(options) {
  ABSL_RAW_CHECK(options_.query_block >= 1 && options_.key_block >= 1,
                 "Attention: block sizes must be >= 1");
}

Attention::~Attention() = default;

int64_t Attention::SavedFloats(const AttentionShape& s) const {
  int64_t rows = static_cast<int64_t>(s.batch) * s.heads * s.length;
  return options_.algorithm == AttentionAlgorithm::kDense ? rows * s.length : rows;
}

int64_t Attention::WorkspaceBytes() const {
  return scratch_floats_ * static_cast<int64_t>(sizeof(float));
}

float* Attention::Scratch(int64_t per_thread, int threads) {
  // Round each thread's slice to a cache line so threads never share one.
  per_thread = (per_thread + 15) / 16 * 16;
  int64_t need = per_thread * threads;
  if (need > scratch_floats_) {
    void* p = std::aligned_alloc(64, static_cast<size_t>(need) * sizeof(float));
    ABSL_RAW_CHECK(p != nullptr, "Attention: out of memory for workspace");
    scratch_.reset(static_cast<float*>(p));
    scratch_floats_ = need;
  }
  return scratch_.get();
}

void Attention::Forward(const AttentionShape& s, const float* q, const float* k, const float* v,
                        const int* lengths, float* out, float* saved) {
  CheckShape(s);
  if (options_.algorithm == AttentionAlgorithm::kDense) {
    DenseForward(s, q, k, v, lengths, out, saved);
  } else {
    BlockedForward(s, q, k, v, lengths, out, saved);
  }
}

void Attention::Backward(const AttentionShape& s, const float* q, const float* k, const float* v,
                         const int* lengths, const float* out, const float* saved,
                         const float* dout, float* dq, float* dk, float* dv) {
  CheckShape(s);
  if (options_.algorithm == AttentionAlgorithm::kDense) {
    DenseBackward(s, q, k, v, lengths, out, saved, dout, dq, dk, dv);
  } else {
    BlockedBackward(s, q, k, v, lengths, out, saved, dout, dq, dk, dv);
  }
}

// ---------------------------------------------------------------------------------------------
// Dense: P = softmax(scale Q K^T) is materialised into `saved` ([B, heads, L, L]); columns of
// padded keys are computed by no GEMM and stored as 0.

void Attention::DenseForward(const AttentionShape& s, const float* q, const float* k,
                             const float* v, const int* lengths, float* out, float* saved) {
  const int L = s.length, d = s.head_dim, H = s.heads;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int pairs = s.batch * H;
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh) {
    const int b = bh / H, h = bh % H;
    const int len = KeyLength(s, lengths, b);
    const int64_t off = static_cast<int64_t>(b) * L * stride + static_cast<int64_t>(h) * d;
    float* p = saved + static_cast<int64_t>(bh) * L * L;
    if (len == 0) {
      std::memset(p, 0, sizeof(float) * L * L);
      ZeroRows(out + off, L, d, stride);
      continue;
    }
    MatView pm = View(p, L, len, L);
    pm.noalias() = (scale * View(q + off, L, d, stride)) * View(k + off, len, d, stride).transpose();
    for (int i = 0; i < L; ++i) {
      float* row = p + static_cast<int64_t>(i) * L;
      const int vis = VisibleKeys(i, len, s.causal);
      float mx = kNegInf;
      for (int j = 0; j < vis; ++j) mx = std::max(mx, row[j]);
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int j = 0; j < vis; ++j) {
        float e = ExpF(row[j] - mx);
        row[j] = e;
        sum += e;
      }
      const float inv = 1.0f / sum;
#pragma omp simd
      for (int j = 0; j < vis; ++j) row[j] *= inv;
      std::memset(row + vis, 0, sizeof(float) * (L - vis));
    }
    View(out + off, L, d, stride).noalias() = pm * View(v + off, len, d, stride);
  }
}

void Attention::DenseBackward(const AttentionShape& s, const float* q, const float* k,
                              const float* v, const int* lengths, const float* out,
                              const float* saved, const float* dout, float* dq, float* dk,
                              float* dv) {
  const int L = s.length, d = s.head_dim, H = s.heads;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int pairs = s.batch * H;
  // Per thread: dP / dS (L x L) and the row dots D (L).
  const int64_t per_thread = (static_cast<int64_t>(L) * L + L + 15) / 16 * 16;
  float* scratch = Scratch(per_thread, omp_get_max_threads());
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh) {
    const int b = bh / H, h = bh % H;
    const int len = KeyLength(s, lengths, b);
    const int64_t off = static_cast<int64_t>(b) * L * stride + static_cast<int64_t>(h) * d;
    ZeroRows(dk + off + static_cast<int64_t>(len) * stride, L - len, d, stride);
    ZeroRows(dv + off + static_cast<int64_t>(len) * stride, L - len, d, stride);
    if (len == 0) {
      ZeroRows(dq + off, L, d, stride);
      continue;
    }
    float* ds = scratch + per_thread * omp_get_thread_num();
    float* dvec = ds + static_cast<int64_t>(L) * L;
    ConstMatView pm = View(saved + static_cast<int64_t>(bh) * L * L, L, len, L);
    ConstMatView qm = View(q + off, L, d, stride), km = View(k + off, len, d, stride);
    ConstMatView vm = View(v + off, len, d, stride), dom = View(dout + off, L, d, stride);
    MatView dsm = View(ds, L, len, len);
    View(dv + off, len, d, stride).noalias() = pm.transpose() * dom;
    dsm.noalias() = dom * vm.transpose();
    // D_i = sum_j P_ij dP_ij = <dO_i, O_i>.
    RowDots(dout + off, out + off, L, d, stride, dvec);
    SoftmaxGrad(pm.data(), L, ds, len, dvec, L, len);
    View(dq + off, L, d, stride).noalias() = (scale * dsm) * km;
    View(dk + off, len, d, stride).noalias() = (scale * dsm.transpose()) * qm;
  }
}

// ---------------------------------------------------------------------------------------------
// Blocked: for each query block, stream the key blocks with a running max m and running sum l
// (online softmax); out = O_acc / l and saved = m + log(l) (-inf for a fully masked row).
// Backward recomputes P = exp(scale Q K^T - lse) per tile.

void Attention::BlockedForward(const AttentionShape& s, const float* q, const float* k,
                               const float* v, const int* lengths, float* out, float* saved) {
  const int L = s.length, d = s.head_dim, H = s.heads;
  const int br = options_.query_block, bc = options_.key_block;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int qblocks = (L + br - 1) / br;
  const int64_t items = static_cast<int64_t>(s.batch) * H * qblocks;
  // Per thread: S tile (br x bc), O accumulator (br x d), running max and sum (br each).
  const int64_t per_thread = (static_cast<int64_t>(br) * bc + br * d + 2 * br + 15) / 16 * 16;
  float* scratch = Scratch(per_thread, omp_get_max_threads());
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t item = 0; item < items; ++item) {
    const int bh = static_cast<int>(item / qblocks);
    const int i0 = static_cast<int>(item % qblocks) * br;
    const int b = bh / H, h = bh % H;
    const int rows = std::min(br, L - i0);
    const int len = KeyLength(s, lengths, b);
    const int64_t off = static_cast<int64_t>(b) * L * stride + static_cast<int64_t>(h) * d;
    float* lse = saved + static_cast<int64_t>(bh) * L + i0;
    float* outi = out + off + static_cast<int64_t>(i0) * stride;
    if (len == 0) {
      ZeroRows(outi, rows, d, stride);
      for (int r = 0; r < rows; ++r) lse[r] = kNegInf;
      continue;
    }
    float* st = scratch + per_thread * omp_get_thread_num();
    float* oacc = st + static_cast<int64_t>(br) * bc;
    float* m = oacc + static_cast<int64_t>(br) * d;
    float* l = m + br;
    MatView om = View(oacc, rows, d, d);
    om.setZero();
    std::fill(m, m + rows, kNegInf);
    std::fill(l, l + rows, 0.0f);
    ConstMatView qi = View(q + off + static_cast<int64_t>(i0) * stride, rows, d, stride);
    // Keys past the last row's visibility (padding, or the causal diagonal) are skipped whole.
    const int kend = s.causal ? std::min(len, i0 + rows) : len;
    for (int j0 = 0; j0 < kend; j0 += bc) {
      const int cols = std::min(bc, kend - j0);
      MatView sm = View(st, rows, cols, bc);
      sm.noalias() =
          (scale * qi) * View(k + off + static_cast<int64_t>(j0) * stride, cols, d, stride)
                             .transpose();
      for (int r = 0; r < rows; ++r) {
        float* row = st + static_cast<int64_t>(r) * bc;
        const int vis = std::min(cols, VisibleKeys(i0 + r, len, s.causal) - j0);
        if (vis <= 0) {  // causal: this key block is entirely in row r's future
          std::memset(row, 0, sizeof(float) * cols);
          continue;
        }
        float mx = m[r];
        for (int c = 0; c < vis; ++c) mx = std::max(mx, row[c]);
        const float alpha = ExpF(m[r] - mx);  // 0 on the first visible block (m = -inf)
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int c = 0; c < vis; ++c) {
          float e = ExpF(row[c] - mx);
          row[c] = e;
          sum += e;
        }
        std::memset(row + vis, 0, sizeof(float) * (cols - vis));
        l[r] = l[r] * alpha + sum;
        m[r] = mx;
        if (alpha != 1.0f) om.row(r) *= alpha;
      }
      om.noalias() += sm * View(v + off + static_cast<int64_t>(j0) * stride, cols, d, stride);
    }
    // Every row sees key 0 when len > 0, so l > 0 here.
    for (int r = 0; r < rows; ++r) {
      const float inv = 1.0f / l[r];
      float* dst = outi + r * stride;
      for (int c = 0; c < d; ++c) dst[c] = oacc[static_cast<int64_t>(r) * d + c] * inv;
      lse[r] = m[r] + std::log(l[r]);
    }
  }
}

void Attention::BlockedBackward(const AttentionShape& s, const float* q, const float* k,
                                const float* v, const int* lengths, const float* out,
                                const float* saved, const float* dout, float* dq, float* dk,
                                float* dv) {
  const int L = s.length, d = s.head_dim, H = s.heads;
  const int br = options_.query_block, bc = options_.key_block;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int pairs = s.batch * H;
  // Per thread: D (L), P tile and dP/dS tile (br x bc each), dK and dV accumulators (bc x d).
  const int64_t per_thread =
      (static_cast<int64_t>(L) + 2LL * br * bc + 2LL * bc * d + 15) / 16 * 16;
  float* scratch = Scratch(per_thread, omp_get_max_threads());
  // Parallel over (batch, head) only: every key block of a pair adds into all of its dQ rows.
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh) {
    const int b = bh / H, h = bh % H;
    const int len = KeyLength(s, lengths, b);
    const int64_t off = static_cast<int64_t>(b) * L * stride + static_cast<int64_t>(h) * d;
    ZeroRows(dq + off, L, d, stride);
    ZeroRows(dk + off + static_cast<int64_t>(len) * stride, L - len, d, stride);
    ZeroRows(dv + off + static_cast<int64_t>(len) * stride, L - len, d, stride);
    if (len == 0) continue;
    float* dvec = scratch + per_thread * omp_get_thread_num();
    float* pt = dvec + L;
    float* dst = pt + static_cast<int64_t>(br) * bc;
    float* dkacc = dst + static_cast<int64_t>(br) * bc;
    float* dvacc = dkacc + static_cast<int64_t>(bc) * d;
    const float* lse = saved + static_cast<int64_t>(bh) * L;
    RowDots(dout + off, out + off, L, d, stride, dvec);
    for (int j0 = 0; j0 < len; j0 += bc) {
      const int cols = std::min(bc, len - j0);
      ConstMatView kj = View(k + off + static_cast<int64_t>(j0) * stride, cols, d, stride);
      ConstMatView vj = View(v + off + static_cast<int64_t>(j0) * stride, cols, d, stride);
      MatView dkm = View(dkacc, cols, d, d), dvm = View(dvacc, cols, d, d);
      dkm.setZero();
      dvm.setZero();
      // Causal: query rows before j0 see none of these keys; start at j0's query block.
      for (int i0 = s.causal ? j0 / br * br : 0; i0 < L; i0 += br) {
        const int rows = std::min(br, L - i0);
        ConstMatView qi = View(q + off + static_cast<int64_t>(i0) * stride, rows, d, stride);
        ConstMatView doi = View(dout + off + static_cast<int64_t>(i0) * stride, rows, d, stride);
        MatView pm = View(pt, rows, cols, bc), dsm = View(dst, rows, cols, bc);
        pm.noalias() = (scale * qi) * kj.transpose();
        for (int r = 0; r < rows; ++r) {
          float* row = pt + static_cast<int64_t>(r) * bc;
          const int vis = std::max(0, std::min(cols, VisibleKeys(i0 + r, len, s.causal) - j0));
          const float lr = lse[i0 + r];
#pragma omp simd
          for (int c = 0; c < vis; ++c) row[c] = ExpF(row[c] - lr);
          std::memset(row + vis, 0, sizeof(float) * (cols - vis));
        }
        dvm.noalias() += pm.transpose() * doi;
        dsm.noalias() = doi * vj.transpose();
        SoftmaxGrad(pt, bc, dst, bc, dvec + i0, rows, cols);
        View(dq + off + static_cast<int64_t>(i0) * stride, rows, d, stride).noalias() +=
            (scale * dsm) * kj;
        dkm.noalias() += (scale * dsm.transpose()) * qi;
      }
      for (int c = 0; c < cols; ++c) {
        float* dkr = dk + off + static_cast<int64_t>(j0 + c) * stride;
        float* dvr = dv + off + static_cast<int64_t>(j0 + c) * stride;
        std::memcpy(dkr, dkacc + static_cast<int64_t>(c) * d, sizeof(float) * d);
        std::memcpy(dvr, dvacc + static_cast<int64_t>(c) * d, sizeof(float) * d);
      }
    }
  }
}

}  // namespace kernels
}  // namespace lra

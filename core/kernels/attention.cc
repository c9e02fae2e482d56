#include "core/kernels/attention.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "Eigen/Core"
#include "absl/base/internal/raw_logging.h"
#include "core/kernels/attention_util.h"
#include "core/kernels/onednn/gemm.h"
#include "core/kernels/philox.h"
#include "core/kernels/vmath/exp_poly.h"

namespace lra {
namespace kernels {
namespace {

using attention_util::AnyInvalid;
using attention_util::Valid;

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

// Number of keys a valid row i may see (keys [0, visible) are unmasked).
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

// The same with dropout: dS = P~ o dP~ - P o D, where P~ = M o P / (1 - p) (in `pd`, stride
// pds) and dp holds dP~ = dO V^T. Masked and dropped entries have P~ = 0; masked ones P = 0.
void SoftmaxGradDropout(const float* p, int64_t ps, const float* pd, int64_t pds, float* dp,
                        int64_t dps, const float* dvec, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const float* pr = p + r * ps;
    const float* pdr = pd + r * pds;
    float* g = dp + r * dps;
    const float di = dvec[r];
#pragma omp simd
    for (int c = 0; c < cols; ++c) g[c] = pdr[c] * g[c] - pr[c] * di;
  }
}

// Excludes the keys a key mask zeroes: row[c] = -inf where km[c] == 0, for c < n.
void MaskScores(const uint8_t* km, int n, float* row) {
#pragma omp simd
  for (int c = 0; c < n; ++c) row[c] = km[c] ? row[c] : kNegInf;
}

// factor[4 t + l] = scale if word l of Philox((jb + t, i, h, b), (k0, k1)) >= threshold, else 0,
// for t < nb. Built for AVX-512, AVX2 and the portable baseline (SSE2, 4 blocks per vector),
// picked at load time. GCC vectorizes this loop only as written: scalar outputs (not a local
// array), no inner loop, and a select (a bool-to-float product left it scalar).
__attribute__((target_clones("avx512f", "avx2", "default"))) void DropFactors(
    uint32_t jb, int nb, uint32_t i, uint32_t h, uint32_t b, uint32_t k0, uint32_t k1,
    uint32_t threshold, float scale, float* factor) {
#pragma omp simd
  for (int t = 0; t < nb; ++t) {
    uint32_t w0, w1, w2, w3;
    Philox4x32(jb + static_cast<uint32_t>(t), i, h, b, k0, k1, w0, w1, w2, w3);
    factor[4 * t + 0] = w0 >= threshold ? scale : 0.0f;
    factor[4 * t + 1] = w1 >= threshold ? scale : 0.0f;
    factor[4 * t + 2] = w2 >= threshold ? scale : 0.0f;
    factor[4 * t + 3] = w3 >= threshold ? scale : 0.0f;
  }
}

// The dropout of one call, ready to apply: M_ij = 1 iff Philox word >= threshold.
struct Dropper {
  bool on = false;
  uint32_t threshold = 0;  // round(p 2^32): P(word < threshold) = p to within 2^-32
  float scale = 1.0f;      // 1 / (1 - p)
  uint32_t k0 = 0, k1 = 0;

  explicit Dropper(const AttentionDropout& d) {
    ABSL_RAW_CHECK(d.rate >= 0.0f && d.rate < 1.0f, "Attention: dropout rate must be in [0, 1)");
    if (d.rate == 0.0f) return;
    on = true;
    threshold = static_cast<uint32_t>(std::min(4294967295.0, std::round(d.rate * 4294967296.0)));
    scale = 1.0f / (1.0f - d.rate);
    k0 = static_cast<uint32_t>(d.seed);
    k1 = static_cast<uint32_t>(d.seed >> 32);
  }

  // dst[c] = src[c] M(b, h, i, j0 + c) / (1 - p) for c < n (dst may be src). Key j's word is
  // lane j % 4 of the Philox block with counter (j / 4, i, h, b), whatever the tiling, so
  // dense and blocked (any key block size) and every thread count draw the same M.
  void Apply(int b, int h, int i, int j0, int n, const float* src, float* dst) const {
    constexpr int kChunk = 64;  // Philox blocks per pass: 256 keys, 1 KiB on the stack
    // The factor M / (1 - p) of each key of the chunk, so the product below is a plain
    // vectorized multiply (P is finite, so P * 0 = 0).
    float factor[4 * kChunk];
    for (int c = 0; c < n;) {
      const int j = j0 + c;
      const uint32_t jb = static_cast<uint32_t>(j / 4);
      const int lane = j % 4;
      const int nb = std::min(kChunk, (lane + (n - c) + 3) / 4);
      DropFactors(jb, nb, static_cast<uint32_t>(i), static_cast<uint32_t>(h),
                  static_cast<uint32_t>(b), k0, k1, threshold, scale, factor);
      const int m = std::min(n - c, 4 * nb - lane);
      const float* f = factor + lane;
      const float* x = src + c;
      float* y = dst + c;
#pragma omp simd
      for (int e = 0; e < m; ++e) y[e] = x[e] * f[e];
      c += m;
    }
  }
};

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
                        const int* lengths, const uint8_t* mask,
                        const AttentionDropout& dropout, float* out, float* saved) {
  CheckShape(s);
  if (options_.algorithm == AttentionAlgorithm::kDense) {
    DenseForward(s, q, k, v, lengths, mask, dropout, out, saved);
  } else if (Tiled(s)) {
    TiledForward(s, q, k, v, lengths, mask, dropout, out, saved);
  } else {
    BlockedForward(s, q, k, v, lengths, mask, dropout, out, saved);
  }
}

void Attention::Backward(const AttentionShape& s, const float* q, const float* k, const float* v,
                         const int* lengths, const uint8_t* mask,
                         const AttentionDropout& dropout, const float* out, const float* saved,
                         const float* dout, float* dq, float* dk, float* dv) {
  CheckShape(s);
  if (options_.algorithm == AttentionAlgorithm::kDense) {
    DenseBackward(s, q, k, v, lengths, mask, dropout, out, saved, dout, dq, dk, dv);
  } else if (Tiled(s)) {
    TiledBackward(s, q, k, v, lengths, mask, dropout, out, saved, dout, dq, dk, dv);
  } else {
    BlockedBackward(s, q, k, v, lengths, mask, dropout, out, saved, dout, dq, dk, dv);
  }
}

// ---------------------------------------------------------------------------------------------
// Dense: P = softmax(scale Q K^T) is materialised into `saved` ([B, heads, L, L]); columns of
// padded keys are computed by no GEMM and stored as 0.
//
// Each (batch, head) is processed in blocks of R query rows whose R x len slice of P (about
// 512 KiB) stays in L2 between the GEMM that produces it, the softmax and the GEMM that consumes
// it. Done matrix-at-a-time, every pass over P (or dP) went to memory: forward streamed P four
// times (write S, read+write softmax, read for PV) and backward eleven times; blocked, P is
// written once in forward and read once in backward, and dP never leaves L2.

namespace {

// Query rows per dense block: R * L floats of P (and of dP in backward) near 128K floats, so a
// block's P and dP fit a 2 MiB L2 together; at least 32 rows so the dK/dV products (reduction
// length R) stay efficient, at most 256.
int DenseRowBlock(int L) { return std::max(32, std::min(256, (1 << 17) / L)) / 8 * 8; }

// C = alpha op(A) op(B) + beta C, row-major with leading dimensions, through oneDNN's sgemm
// (faster than Eigen's here: core/kernels/onednn/gemm.h has the measured figures). Called
// inside the outer OpenMP loop it runs on the calling thread (no nested parallel region). Unlike a matmul
// primitive it keeps no per-thread state, so any pool thread may call it (a cached matmul
// primitive must run on the thread that created it while oneDNN's scratchpad is global), and the
// strided [B, L, heads, d] operands are read in place. Measured with `perf stat -e page-faults`
// on seq_benchmark: no page faults per iteration after the first.
//
// Tried and dropped: one oneDNN batched matmul per product over all (batch, head) pairs via
// //core/kernels/onednn:gemm, on per-head copies. Each product then streams whole L x L matrices
// through memory, and its transposed-A products (P^T dO, dS^T Q) ran 8-10x slower than the
// plain ones; it ran at 0.53-0.81x the speed of the Eigen code it replaced on this host.
void Sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  attention_util::Sgemm("Attention", ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

void Attention::DenseForward(const AttentionShape& s, const float* q, const float* k,
                             const float* v, const int* lengths, const uint8_t* mask,
                             const AttentionDropout& drop, float* out, float* saved) {
  const int L = s.length, d = s.head_dim, H = s.heads;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const float uniform = 1.0f / static_cast<float>(L);
  const int pairs = s.batch * H;
  const int R = DenseRowBlock(L);
  const Dropper dropper(drop);
  // Dropout only: per thread, the dropped block P~ (R x L) that the PV product reads; `saved`
  // keeps the undropped P, which backward needs for dS.
  const int64_t per_thread = dropper.on ? (static_cast<int64_t>(R) * L + 15) / 16 * 16 : 0;
  float* scratch = dropper.on ? Scratch(per_thread, omp_get_max_threads()) : nullptr;
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh) {
    const int b = bh / H, h = bh % H;
    const int len = KeyLength(s, lengths, b);
    const int64_t off = static_cast<int64_t>(b) * L * stride + static_cast<int64_t>(h) * d;
    const uint8_t* km = mask ? mask + static_cast<int64_t>(b) * L : nullptr;
    float* p = saved + static_cast<int64_t>(bh) * L * L;
    float* pd = dropper.on ? scratch + per_thread * omp_get_thread_num() : nullptr;
    for (int i0 = 0; i0 < L; i0 += R) {
      const int rows = std::min(R, L - i0);
      // Keys a valid row of this block may see (causal: none past i0 + rows - 1); an invalid
      // row sees all L, so a block holding one reads all L keys in the PV product.
      const int kvis = s.causal ? std::min(len, i0 + rows) : len;
      const int kend = AnyInvalid(km, len, i0, rows) ? L : kvis;
      float* pb = p + static_cast<int64_t>(i0) * L;
      const int64_t qo = off + static_cast<int64_t>(i0) * stride;
      // S = scale Q_blk K^T into P's rows (row stride L), over the keys valid rows see (none
      // when len = 0; kend >= 1 always, as a block of valid rows sees key i0).
      if (kvis > 0)
        Sgemm('N', 'T', rows, kvis, d, scale, q + qo, stride, k + off, stride, 0.0f, pb, L);
      for (int r = 0; r < rows; ++r) {
        float* row = pb + static_cast<int64_t>(r) * L;
        float* dr = pd ? pd + static_cast<int64_t>(r) * kend : nullptr;
        if (!Valid(km, len, i0 + r)) {
          // flax: every score of a masked query is -1e10, so P is uniform over all L keys.
          std::fill(row, row + L, uniform);
          if (dr) dropper.Apply(b, h, i0 + r, 0, L, row, dr);
          continue;
        }
        // A valid row sees its own key, so at least one score is finite.
        const int vis = VisibleKeys(i0 + r, len, s.causal);
        if (km) MaskScores(km, vis, row);
        float mx = kNegInf;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < vis; ++j) mx = std::max(mx, row[j]);
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < vis; ++j) {
          float e = ExpF(row[j] - mx);
          row[j] = e;
          sum += e;
        }
        const float inv = 1.0f / sum;  // >= 1 term equal to exp(0)
#pragma omp simd
        for (int j = 0; j < vis; ++j) row[j] *= inv;
        std::memset(row + vis, 0, sizeof(float) * (L - vis));
        if (dr) {
          dropper.Apply(b, h, i0 + r, 0, vis, row, dr);
          std::memset(dr + vis, 0, sizeof(float) * (kend - vis));
        }
      }
      // O_blk = P_blk V (or P~_blk V) over the keys any row of the block sees.
      if (pd) {
        Sgemm('N', 'N', rows, d, kend, 1.0f, pd, kend, v + off, stride, 0.0f, out + qo, stride);
      } else {
        Sgemm('N', 'N', rows, d, kend, 1.0f, pb, L, v + off, stride, 0.0f, out + qo, stride);
      }
    }
  }
}

void Attention::DenseBackward(const AttentionShape& s, const float* q, const float* k,
                              const float* v, const int* lengths, const uint8_t* mask,
                              const AttentionDropout& drop, const float* out,
                              const float* saved, const float* dout, float* dq, float* dk,
                              float* dv) {
  // `saved` holds P: 0 at every key a valid row does not see, 1/L across an invalid row.
  const int L = s.length, d = s.head_dim, H = s.heads;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int pairs = s.batch * H;
  const int R = DenseRowBlock(L);
  const Dropper dropper(drop);
  // Per thread: dP / dS for one row block (R x L), the row dots D (L) and, with dropout, the
  // regenerated P~ block (R x L).
  const int64_t block = static_cast<int64_t>(R) * L;
  const int64_t per_thread = (block + L + (dropper.on ? block : 0) + 15) / 16 * 16;
  float* scratch = Scratch(per_thread, omp_get_max_threads());
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh) {
    const int b = bh / H, h = bh % H;
    const int len = KeyLength(s, lengths, b);
    const int64_t off = static_cast<int64_t>(b) * L * stride + static_cast<int64_t>(h) * d;
    const uint8_t* km = mask ? mask + static_cast<int64_t>(b) * L : nullptr;
    // dK and dV accumulate over the row blocks (beta = 1), so start from 0; keys no row reads
    // stay 0.
    ZeroRows(dk + off, L, d, stride);
    ZeroRows(dv + off, L, d, stride);
    float* ds = scratch + per_thread * omp_get_thread_num();
    float* dvec = ds + block;
    float* pd = dropper.on ? dvec + L : nullptr;
    const float* p = saved + static_cast<int64_t>(bh) * L * L;
    // D_i = sum_j P~_ij dP~_ij = <dO_i, O_i>.
    RowDots(dout + off, out + off, L, d, stride, dvec);
    for (int i0 = 0; i0 < L; i0 += R) {
      const int rows = std::min(R, L - i0);
      const int kvis = s.causal ? std::min(len, i0 + rows) : len;
      const int kend = AnyInvalid(km, len, i0, rows) ? L : kvis;
      const float* pb = p + static_cast<int64_t>(i0) * L;
      const int64_t qo = off + static_cast<int64_t>(i0) * stride;
      if (pd) {
        for (int r = 0; r < rows; ++r) {
          const int vis = Valid(km, len, i0 + r) ? VisibleKeys(i0 + r, len, s.causal) : L;
          float* dr = pd + static_cast<int64_t>(r) * kend;
          dropper.Apply(b, h, i0 + r, 0, vis, pb + static_cast<int64_t>(r) * L, dr);
          std::memset(dr + vis, 0, sizeof(float) * (kend - vis));
        }
        // dV += P~_blk^T dO_blk; dP~ = dO_blk V^T; dS = P~ dP~ - P D.
        Sgemm('T', 'N', kend, d, rows, 1.0f, pd, kend, dout + qo, stride, 1.0f, dv + off, stride);
        Sgemm('N', 'T', rows, kend, d, 1.0f, dout + qo, stride, v + off, stride, 0.0f, ds, kend);
        SoftmaxGradDropout(pb, L, pd, kend, ds, kend, dvec + i0, rows, kend);
      } else {
        // dV += P_blk^T dO_blk; dP = dO_blk V^T.
        Sgemm('T', 'N', kend, d, rows, 1.0f, pb, L, dout + qo, stride, 1.0f, dv + off, stride);
        Sgemm('N', 'T', rows, kend, d, 1.0f, dout + qo, stride, v + off, stride, 0.0f, ds, kend);
        // dS = P (dP - D): 0 where a valid row's P is 0; an invalid row's uniform P passes
        // dS to q and k as flax's autodiff does (see attention.h).
        SoftmaxGrad(pb, L, ds, kend, dvec + i0, rows, kend);
      }
      // dQ_blk = scale dS K; dK += scale dS^T Q_blk.
      Sgemm('N', 'N', rows, d, kend, scale, ds, kend, k + off, stride, 0.0f, dq + qo, stride);
      Sgemm('T', 'N', kend, d, rows, scale, ds, kend, q + qo, stride, 1.0f, dk + off, stride);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Blocked: for each query block, stream the key blocks with a running max m and running sum l
// (online softmax); out = O_acc / l and saved = m + log(l). An invalid (fully masked) row skips
// the online softmax: every term is 1/L (l = 1) over all L keys, and saved = log(L).
// Backward recomputes P = exp(scale Q K^T - lse) per tile (1/L across an invalid row).

void Attention::BlockedForward(const AttentionShape& s, const float* q, const float* k,
                               const float* v, const int* lengths, const uint8_t* mask,
                               const AttentionDropout& drop, float* out, float* saved) {
  const int L = s.length, d = s.head_dim, H = s.heads;
  const int br = options_.query_block, bc = options_.key_block;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const float uniform = 1.0f / static_cast<float>(L);
  const int qblocks = (L + br - 1) / br;
  const int64_t items = static_cast<int64_t>(s.batch) * H * qblocks;
  const Dropper dropper(drop);
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
    const uint8_t* km = mask ? mask + static_cast<int64_t>(b) * L : nullptr;
    float* lse = saved + static_cast<int64_t>(bh) * L + i0;
    float* outi = out + off + static_cast<int64_t>(i0) * stride;
    float* st = scratch + per_thread * omp_get_thread_num();
    float* oacc = st + static_cast<int64_t>(br) * bc;
    float* m = oacc + static_cast<int64_t>(br) * d;
    float* l = m + br;
    MatView om = View(oacc, rows, d, d);
    om.setZero();
    bool any_invalid = false;
    for (int r = 0; r < rows; ++r) {
      const bool valid = Valid(km, len, i0 + r);
      any_invalid |= !valid;
      m[r] = valid ? kNegInf : 0.0f;  // invalid: the terms are 1/L as they stand, sum l = 1
      l[r] = valid ? 0.0f : 1.0f;
    }
    ConstMatView qi = View(q + off + static_cast<int64_t>(i0) * stride, rows, d, stride);
    // Keys past every valid row's visibility (padding, or the causal diagonal) are skipped
    // whole, unless an invalid row (which reads all L keys) is in the block.
    const int kvis = s.causal ? std::min(len, i0 + rows) : len;
    const int kend = any_invalid ? L : kvis;
    for (int j0 = 0; j0 < kend; j0 += bc) {
      const int cols = std::min(bc, kend - j0);
      const int64_t ko = off + static_cast<int64_t>(j0) * stride;
      if (j0 < kvis)
        Sgemm('N', 'T', rows, cols, d, scale, qi.data(), stride, k + ko, stride, 0.0f, st, bc);
      for (int r = 0; r < rows; ++r) {
        float* row = st + static_cast<int64_t>(r) * bc;
        if (!Valid(km, len, i0 + r)) {  // flax: a masked query is uniform over all L keys
          std::fill(row, row + cols, uniform);
          if (dropper.on) dropper.Apply(b, h, i0 + r, j0, cols, row, row);
          continue;
        }
        const int vis = std::min(cols, VisibleKeys(i0 + r, len, s.causal) - j0);
        if (vis <= 0) {  // padding or the causal future: row r sees none of this key block
          std::memset(row, 0, sizeof(float) * cols);
          continue;
        }
        if (km) MaskScores(km + j0, vis, row);
        float mx = m[r];
        for (int c = 0; c < vis; ++c) mx = std::max(mx, row[c]);
        if (mx == kNegInf) {  // every key so far is masked: nothing to add, m and l stay
          std::memset(row, 0, sizeof(float) * cols);
          continue;
        }
        const float alpha = ExpF(m[r] - mx);  // 0 on the first visible block (m = -inf)
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int c = 0; c < vis; ++c) {
          float e = ExpF(row[c] - mx);
          row[c] = e;
          sum += e;
        }
        std::memset(row + vis, 0, sizeof(float) * (cols - vis));
        l[r] = l[r] * alpha + sum;  // the normaliser sums the undropped terms
        m[r] = mx;
        if (alpha != 1.0f) om.row(r) *= alpha;
        if (dropper.on) dropper.Apply(b, h, i0 + r, j0, vis, row, row);
      }
      Sgemm('N', 'N', rows, d, cols, 1.0f, st, bc, v + ko, stride, 1.0f, oacc, d);
    }
    // A valid row sees its own key, so l >= 1 there.
    for (int r = 0; r < rows; ++r) {
      float* dst = outi + r * stride;
      const float inv = 1.0f / l[r];
      for (int c = 0; c < d; ++c) dst[c] = oacc[static_cast<int64_t>(r) * d + c] * inv;
      lse[r] = m[r] + std::log(l[r]);
    }
  }
}

void Attention::BlockedBackward(const AttentionShape& s, const float* q, const float* k,
                                const float* v, const int* lengths, const uint8_t* mask,
                                const AttentionDropout& drop, const float* out,
                                const float* saved, const float* dout, float* dq, float* dk,
                                float* dv) {
  const int L = s.length, d = s.head_dim, H = s.heads;
  const int br = options_.query_block, bc = options_.key_block;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const float uniform = 1.0f / static_cast<float>(L);
  const int pairs = s.batch * H;
  const Dropper dropper(drop);
  // Per thread: D (L), P tile and dP/dS tile (br x bc each), dK and dV accumulators (bc x d)
  // and, with dropout, the P~ tile (br x bc).
  const int64_t tile = static_cast<int64_t>(br) * bc;
  const int64_t per_thread =
      (static_cast<int64_t>(L) + 2 * tile + 2LL * bc * d + (dropper.on ? tile : 0) + 15) / 16 * 16;
  float* scratch = Scratch(per_thread, omp_get_max_threads());
  // Parallel over (batch, head) only: every key block of a pair adds into all of its dQ rows.
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh) {
    const int b = bh / H, h = bh % H;
    const int len = KeyLength(s, lengths, b);
    const int64_t off = static_cast<int64_t>(b) * L * stride + static_cast<int64_t>(h) * d;
    const uint8_t* km = mask ? mask + static_cast<int64_t>(b) * L : nullptr;
    // An invalid row reads every key, from every query block (causal included).
    const bool any_invalid = AnyInvalid(km, len, 0, L);
    const int kend = any_invalid ? L : len;
    ZeroRows(dq + off, L, d, stride);
    ZeroRows(dk + off + static_cast<int64_t>(kend) * stride, L - kend, d, stride);
    ZeroRows(dv + off + static_cast<int64_t>(kend) * stride, L - kend, d, stride);
    float* dvec = scratch + per_thread * omp_get_thread_num();
    float* pt = dvec + L;
    float* dst = pt + tile;
    float* dkacc = dst + tile;
    float* dvacc = dkacc + static_cast<int64_t>(bc) * d;
    float* ptd = dropper.on ? dvacc + static_cast<int64_t>(bc) * d : nullptr;
    const float* lse = saved + static_cast<int64_t>(bh) * L;
    RowDots(dout + off, out + off, L, d, stride, dvec);
    for (int j0 = 0; j0 < kend; j0 += bc) {
      const int cols = std::min(bc, kend - j0);
      ConstMatView kj = View(k + off + static_cast<int64_t>(j0) * stride, cols, d, stride);
      ConstMatView vj = View(v + off + static_cast<int64_t>(j0) * stride, cols, d, stride);
      MatView dkm = View(dkacc, cols, d, d), dvm = View(dvacc, cols, d, d);
      dkm.setZero();
      dvm.setZero();
      // Causal: valid query rows before j0 see none of these keys; start at j0's query block
      // unless an invalid row (which sees them all) may come earlier.
      for (int i0 = s.causal && !any_invalid ? j0 / br * br : 0; i0 < L; i0 += br) {
        const int rows = std::min(br, L - i0);
        ConstMatView qi = View(q + off + static_cast<int64_t>(i0) * stride, rows, d, stride);
        ConstMatView doi = View(dout + off + static_cast<int64_t>(i0) * stride, rows, d, stride);
        Sgemm('N', 'T', rows, cols, d, scale, qi.data(), stride, kj.data(), stride, 0.0f, pt, bc);
        for (int r = 0; r < rows; ++r) {
          float* row = pt + static_cast<int64_t>(r) * bc;
          int vis = cols;
          if (!Valid(km, len, i0 + r)) {
            std::fill(row, row + cols, uniform);
          } else {
            const float lr = lse[i0 + r];
            vis = std::max(0, std::min(cols, VisibleKeys(i0 + r, len, s.causal) - j0));
#pragma omp simd
            for (int c = 0; c < vis; ++c) row[c] = ExpF(row[c] - lr);
            if (km) {
              const uint8_t* kmj = km + j0;
#pragma omp simd
              for (int c = 0; c < vis; ++c) row[c] = kmj[c] ? row[c] : 0.0f;
            }
            std::memset(row + vis, 0, sizeof(float) * (cols - vis));
          }
          if (ptd) {
            float* dr = ptd + static_cast<int64_t>(r) * bc;
            dropper.Apply(b, h, i0 + r, j0, vis, row, dr);
            std::memset(dr + vis, 0, sizeof(float) * (cols - vis));
          }
        }
        // dV += P~^T dO (P~ = P without dropout); dP~ = dO V^T; dS = P~ dP~ - P D.
        Sgemm('T', 'N', cols, d, rows, 1.0f, ptd ? ptd : pt, bc, doi.data(), stride, 1.0f, dvacc,
              d);
        Sgemm('N', 'T', rows, cols, d, 1.0f, doi.data(), stride, vj.data(), stride, 0.0f, dst, bc);
        if (ptd) {
          SoftmaxGradDropout(pt, bc, ptd, bc, dst, bc, dvec + i0, rows, cols);
        } else {
          SoftmaxGrad(pt, bc, dst, bc, dvec + i0, rows, cols);
        }
        Sgemm('N', 'N', rows, d, cols, scale, dst, bc, kj.data(), stride, 1.0f,
              dq + off + static_cast<int64_t>(i0) * stride, stride);
        Sgemm('T', 'N', cols, d, rows, scale, dst, bc, qi.data(), stride, 1.0f, dkacc, d);
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


// ---------------------------------------------------------------------------------------------
// Blocked, register-tiled (AVX-512; head_dim a multiple of 16 up to 64, key_block = 64). The
// same algorithm and the same per-row logic as the sgemm-tiled blocked code above, with every
// product of a 64-key tile done by two AVX-512 micro-kernels instead of an sgemm call (whose
// fixed cost and packing dominated at these sizes, 64 x 64 x d):
//   Scores: C[r, 0:64] = alpha sum_e A[r, e] Bt[e, 0:64], A's rows strided in place, Bt a
//           d-major copy of the keys (or values) of the (batch, head), packed once per call
//           (forward) or per pair (backward) and zero-padded to a multiple of 64 keys. 6 rows x
//           4 vectors of accumulators.
//   MulAcc: C[m, 0:d] += sum_k A(m, k) B[k, 0:d], A read through strides (so P^T and dS^T
//           are read in place), B's rows strided in place. 6 to 12 rows x d/16 vectors.
// The softmax of a tile row is vectorized over the 64 keys with masks for the visible keys
// and the key mask; exp is ExpF's polynomial evaluated on vectors. Results differ from the
// sgemm path by rounding only (summation order), within attention_test's derived bounds.

// GCC 12 flags the _mm512_undefined_ps() inside its own intrinsic headers (reductions, masked
// moves, vscalefps) as (maybe-)uninitialized; the lanes are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define LRA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

namespace {

constexpr int kTile = 64;  // keys per tile: 4 vectors of 16
constexpr int kGroupTiles = 4;  // backward: key tiles per pass over the query blocks

bool HasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return has;
}

int RoundUpTile(int n) { return (n + kTile - 1) / kTile * kTile; }

// dst[e * ld + j] = factor src[j * stride + e] for j < n, e < d; zeros for j in
// [n, RoundUpTile(n)). (An AVX-512 16 x 16 in-register transpose measured no faster: the time
// is the cache misses of reading k.)
void PackTransposed(const float* src, int64_t stride, int n, int d, int64_t ld, float factor,
                    float* dst) {
  const int np = RoundUpTile(n);
  for (int e = 0; e < d; ++e) {
    float* row = dst + e * ld;
    for (int j = 0; j < n; ++j) row[j] = factor * src[j * stride + e];
    std::memset(row + n, 0, sizeof(float) * (np - n));
  }
}

// dst[j * dst_stride + e] = src[j * src_stride + e] for j < n, e < d (a multiple of 16): one
// head's rows made contiguous, or copied back (inline moves: a memcpy call per 128-byte row
// took 2% of the kernel).
LRA_AVX512 void CopyRows(const float* src, int64_t src_stride, int n, int d, float* dst,
                         int64_t dst_stride) {
  for (int j = 0; j < n; ++j)
    for (int e = 0; e < d; e += 16)
      _mm512_storeu_ps(dst + j * dst_stride + e, _mm512_loadu_ps(src + j * src_stride + e));
}

// RowDots for d a multiple of 16: D_i = <a_i, b_i> with 16-lane partial sums.
LRA_AVX512 void RowDots16(const float* a, const float* b, int rows, int d, int64_t stride,
                          float* out) {
  for (int i = 0; i < rows; ++i) {
    const float* x = a + i * stride;
    const float* y = b + i * stride;
    __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(x), _mm512_loadu_ps(y));
    for (int c = 16; c < d; c += 16)
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + c), _mm512_loadu_ps(y + c), acc);
    out[i] = _mm512_reduce_add_ps(acc);
  }
}

// The tiled kernel's scores are in log2 units: the packed keys carry 1/sqrt(d) log2 e
// (kLog2e below), so each exponential is a 2^x: k = round(x) (VRNDSCALEPS), r = x - k (exact, in
// [-1/2, 1/2]), 2^r by vmath::Exp2Poly (degree 5, relative error 2.1e-7) and 2^r 2^k by one
// VSCALEFPS (exact wherever the result is a normal float; below, the correctly rounded
// subnormal or 0). 8 operations where the natural-log ExpF's range reduction and degree-7
// polynomial took 13 (14 with its clamp-free vscalefps form) and 17 with clamps: at d = 32 the
// exponentials of a 64-key tile row cost about a third of its score product's 128 FMAs.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2 = 0.693147180559945309f;

// 2^x for finite x <= 127 (x = -inf would give NaN: Exp2V).
LRA_AVX512 inline __m512 Exp2Finite(__m512 x) {
  const __m512 k = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_scalef_ps(vmath::Exp2Poly(_mm512_sub_ps(x, k)), k);
}

// 2^x for any x <= 127, -inf included (masked keys): x is clamped at -200 first, whose 2^-200
// rounds to exactly 0, as 2^-inf is.
LRA_AVX512 inline __m512 Exp2V(__m512 x) {
  return Exp2Finite(_mm512_max_ps(x, _mm512_set1_ps(-200.0f)));
}

// Score epilogues: Row(r, acc, c) turns row r of the tile's accumulated dot products (4 vectors
// of 16 keys) into the 64 floats at c. Most act on one vector at a time (operator()). Init(r):
// the value row r's accumulators start from (the product then adds the dot products to it), so
// an epilogue that subtracts a per-row constant gets it for free.
template <class E>
struct VectorEpilogue {
  LRA_AVX512 __m512 Init(int /*r*/) const { return _mm512_setzero_ps(); }
  LRA_AVX512 void Row(int r, const __m512* acc, float* c) const {
    // Unrolled, the accumulators stay in registers (rolled, they went through the stack).
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v)
      _mm512_storeu_ps(c + 16 * v, static_cast<const E&>(*this)(r, v, acc[v]));
  }
};
struct PlainScores : VectorEpilogue<PlainScores> {  // the dot products as they are
  LRA_AVX512 __m512 operator()(int /*r*/, int /*v*/, __m512 acc) const { return acc; }
};
// P = 2^(s - lse_r) over every key of the tile (s and lse in log2 units): for a tile whose keys
// every row sees unmasked.
// (The accumulators start at -lse_r.)
struct ProbScores : VectorEpilogue<ProbScores> {
  const float* lse2;  // of the tile's rows, log2 units
  LRA_AVX512 __m512 Init(int r) const { return _mm512_set1_ps(-lse2[r]); }
  LRA_AVX512 __m512 operator()(int /*r*/, int /*v*/, __m512 acc) const { return Exp2Finite(acc); }
};
// dS = scale P (dP - D_r) = P acc, P the tile's probabilities (row stride kTile) and acc the
// dot products with the values packed times scale, started at -scale D_r; without dropout,
// P~ = P.
struct SoftmaxGradScores : VectorEpilogue<SoftmaxGradScores> {
  const float* p;
  const float* sdvec;  // scale D of the tile's rows
  LRA_AVX512 __m512 Init(int r) const { return _mm512_set1_ps(-sdvec[r]); }
  LRA_AVX512 __m512 operator()(int r, int v, __m512 acc) const {
    return _mm512_mul_ps(_mm512_loadu_ps(p + r * kTile + 16 * v), acc);
  }
};
// With dropout: dS = scale (P~ dP~ - P D_r) = P~ acc - P (scale D_r), acc = scale dP~ (the
// values packed times scale), P~ (row stride kTile) the dropped probabilities.
struct SoftmaxGradDropoutScores : VectorEpilogue<SoftmaxGradDropoutScores> {
  const float* p;
  const float* pd;
  const float* sdvec;  // scale D
  LRA_AVX512 __m512 operator()(int r, int v, __m512 acc) const {
    const __m512 pv = _mm512_loadu_ps(p + r * kTile + 16 * v);
    const __m512 pdv = _mm512_loadu_ps(pd + r * kTile + 16 * v);
    return _mm512_fmsub_ps(pdv, acc, _mm512_mul_ps(pv, _mm512_set1_ps(sdvec[r])));
  }
};

// Rows [r0, r0 + R) of the tile: C[r, 0:64] = epi(r, sum_e A[r, e] Bt[e, 0:64]).
template <int R, class Epi>
LRA_AVX512 inline void ScoreRows(const float* a, int64_t lda, const float* bt, int64_t ldb, int d,
                                 int r0, const Epi& epi, float* c) {
  __m512 acc[R][4];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) acc[r][v] = epi.Init(r0 + r);
  for (int e = 0; e < d; ++e) {
    const float* br = bt + e * ldb;
    const __m512 b0 = _mm512_loadu_ps(br), b1 = _mm512_loadu_ps(br + 16),
                 b2 = _mm512_loadu_ps(br + 32), b3 = _mm512_loadu_ps(br + 48);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + e]);
      acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(x, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(x, b3, acc[r][3]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) epi.Row(r0 + r, acc[r], c + (r0 + r) * kTile);
}

// C[r, 0:64] (row stride kTile) = epi(r, A[r, 0:d] Bt[0:d, 0:64]) for r < rows. Callers fold
// the score scale 1/sqrt(d) into the packed keys (PackTransposed).
template <class Epi>
LRA_AVX512 void Scores(const float* a, int64_t lda, int rows, const float* bt, int64_t ldb, int d,
                       const Epi& epi, float* c) {
  int r = 0;
  for (; r + 6 <= rows; r += 6) ScoreRows<6>(a + r * lda, lda, bt, ldb, d, r, epi, c);
  const float* ar = a + r * lda;
  switch (rows - r) {
    case 5: ScoreRows<5>(ar, lda, bt, ldb, d, r, epi, c); break;
    case 4: ScoreRows<4>(ar, lda, bt, ldb, d, r, epi, c); break;
    case 3: ScoreRows<3>(ar, lda, bt, ldb, d, r, epi, c); break;
    case 2: ScoreRows<2>(ar, lda, bt, ldb, d, r, epi, c); break;
    case 1: ScoreRows<1>(ar, lda, bt, ldb, d, r, epi, c); break;
    default: break;
  }
}

// A(m, k) = a[m SAM + k SAK]: compile-time strides, so the broadcasts address with constant
// displacements (runtime strides took a register per row, and 13 rows spilled them).
template <int NV, int R, int SAM, int SAK>
LRA_AVX512 inline void MulAccRows(const float* a, int K, const float* b, int64_t ldb, float* c,
                                  int64_t ldc) {
  __m512 acc[R][NV];
#pragma GCC unroll 13
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_loadu_ps(c + r * ldc + 16 * v);
  for (int k = 0; k < K; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + k * ldb + 16 * v);
    const float* ak = a + k * SAK;
#pragma GCC unroll 13
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(ak[r * SAM]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 13
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
}

// The rows of one group short of a full one: R = rem, found by recursion on R.
template <int NV, int R, int SAM, int SAK>
LRA_AVX512 inline void MulAccTail(int rem, const float* a, int K, const float* b, int64_t ldb,
                                  float* c, int64_t ldc) {
  if constexpr (R > 0) {
    if (rem == R) {
      MulAccRows<NV, R, SAM, SAK>(a, K, b, ldb, c, ldc);
    } else {
      MulAccTail<NV, R - 1, SAM, SAK>(rem, a, K, b, ldb, c, ldc);
    }
  }
}

// C[m, 0:16 NV] += sum_{k < K} A[m SAM + k SAK] B[k ldb + 0:16 NV] for m < M.
template <int NV, int SAM, int SAK>
LRA_AVX512 void MulAccN(int M, const float* a, int K, const float* b, int64_t ldb, float* c,
                        int64_t ldc) {
  // Accumulators plus NV registers for B's row and one for the broadcast, within the 32
  // registers: 26 + 3 for d = 32, whose 64-row tiles then split 13 + 13 + 13 + 13 + 12 (12 rows
  // left a 4-row tail, with half the multiply-adds per load, at 1.7x its share of the time).
  constexpr int kR = NV == 1 ? 12 : NV == 2 ? 13 : 24 / NV;
  int m = 0;
  for (; m + kR <= M; m += kR)
    MulAccRows<NV, kR, SAM, SAK>(a + m * SAM, K, b, ldb, c + m * ldc, ldc);
  MulAccTail<NV, kR - 1, SAM, SAK>(M - m, a + m * SAM, K, b, ldb, c + m * ldc, ldc);
}

// A(m, k) = a[m SAM + k SAK] with (SAM, SAK) = (kTile, 1) (a tile read in place) or (1, kTile)
// (its transpose read in place).
template <int SAM, int SAK>
LRA_AVX512 void MulAcc(int d, int M, const float* a, int K, const float* b, int64_t ldb, float* c,
                       int64_t ldc) {
  switch (d / 16) {
    case 1: MulAccN<1, SAM, SAK>(M, a, K, b, ldb, c, ldc); break;
    case 2: MulAccN<2, SAM, SAK>(M, a, K, b, ldb, c, ldc); break;
    case 3: MulAccN<3, SAM, SAK>(M, a, K, b, ldb, c, ldc); break;
    default: MulAccN<4, SAM, SAK>(M, a, K, b, ldb, c, ldc); break;
  }
}

// ---- The bf16 products (opt-in: onednn::SetMatmulPrecision(kBf16), see attention.h). ----
// Operands are rounded to bfloat16 (vcvtneps2bf16: round to nearest even) and stored as pairs
// of consecutive reduction terms in one 32-bit word, low half first; vdpbf16ps multiplies the
// 16 pairs of two vectors and adds both products to 16 fp32 sums, 32 products per instruction
// against an FMA's 16.
#define LRA_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))

bool HasAvx512Bf16() {
  static const bool has = HasAvx512() && __builtin_cpu_supports("avx512bf16");
  return has;
}

// The 16 bf16 pairs of lo's and hi's 16 floats each, in order: words 0-7 from lo, 8-15 from hi.
LRA_BF16 inline __m512i PairsAlong(__m512 lo, __m512 hi) {
  const __m512bh h = _mm512_cvtne2ps_pbh(hi, lo);
  return reinterpret_cast<const __m512i&>(h);
}

// Word i = pair (x0[i], x1[i]): two rows' lanes interleaved (vcvtne2ps2bf16 puts x0 in bf16
// lanes 0-15 and x1 in 16-31; `across`, loaded from kAcross, interleaves the halves).
alignas(64) constexpr uint16_t kAcross[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                             21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                             11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
LRA_BF16 inline __m512i PairsAcross(__m512 x0, __m512 x1, __m512i across) {
  return _mm512_permutexvar_epi16(across, PairsAlong(x0, x1));
}

// out[0:d/2] = the bf16 pairs of factor x[0:d], d a multiple of 16.
LRA_BF16 inline void RowToPairs(const float* x, int d, float factor, uint32_t* out) {
  const __m512 f = _mm512_set1_ps(factor);
  for (int c = 0; c < d; c += 16) {
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_loadu_ps(x + c), f));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c / 2), reinterpret_cast<const __m256i&>(h));
  }
}

// RowToPairs for `rows` rows of stride `stride`: out row r at out + r * d / 2.
LRA_BF16 void RowsToPairs(const float* x, int rows, int d, int64_t stride, uint32_t* out) {
  for (int r = 0; r < rows; ++r) RowToPairs(x + r * stride, d, 1.0f, out + r * (d / 2));
}

// r[i] word j -> r[j] word i: a 16 x 16 transpose of 32-bit words in registers. The unpacks
// transpose the 4 x 4 word blocks inside each 128-bit lane (r[4 g + c], lane k: word 4 k + c of
// rows 4 g to 4 g + 3), then two rounds of lane shuffles transpose the 4 x 4 grid of lanes.
LRA_AVX512 inline void Transpose16x16(__m512i* r) {
  __m512i t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // 0x88 takes lanes 0 and 2 of each operand, 0xdd lanes 1 and 3.
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xdd);
    t[8 + c] = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xdd);
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm512_shuffle_i32x4(t[c], t[8 + c], 0x88);
    r[4 + c] = _mm512_shuffle_i32x4(t[4 + c], t[12 + c], 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(t[c], t[8 + c], 0xdd);
    r[12 + c] = _mm512_shuffle_i32x4(t[4 + c], t[12 + c], 0xdd);
  }
}

// PackTransposed in bf16 pairs: dst[p * ld + j] = pair (factor src[j, 2p], factor src[j, 2p+1])
// for j < n, p < d / 2; zero words for j in [n, RoundUpTile(n)). 16 keys at a time: each key's
// 16 pairs of 32 columns (one vcvtne2ps2bf16, the same rounding of the same products as
// RowToPairs) are transposed in registers (Transpose16x16), so every store is one 64-byte line
// of 16 keys. (Storing each key's words to their d / 2 rows, ld words apart, took 3.5% of a bf16
// Transformer step at L = 1K: at ld = 1K words every store of a key fell in the same L1 set.)
// For d % 32 = 16 the last 8 pairs go through the same transpose, upper half zero.
LRA_BF16 void PackTransposedBf16(const float* src, int64_t stride, int n, int d, int64_t ld,
                                 float factor, uint32_t* dst) {
  const int np = RoundUpTile(n);
  const __m512 f = _mm512_set1_ps(factor);
  for (int j0 = 0; j0 < np; j0 += 16) {
    const int keys = std::max(0, std::min(16, n - j0));
    for (int c0 = 0; c0 < d; c0 += 32) {
      const bool half = d - c0 < 32;  // 8 pairs left
      __m512i r[16];
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) {
        if (j < keys) {
          const float* x = src + (j0 + j) * stride + c0;
          const __m512 lo = _mm512_mul_ps(_mm512_loadu_ps(x), f);
          const __m512 hi = half ? _mm512_setzero_ps() : _mm512_mul_ps(_mm512_loadu_ps(x + 16), f);
          r[j] = PairsAlong(lo, hi);
        } else {
          r[j] = _mm512_setzero_si512();
        }
      }
      Transpose16x16(r);
      uint32_t* out = dst + static_cast<int64_t>(c0 / 2) * ld + j0;
      const int pairs = half ? 8 : 16;
      for (int p = 0; p < pairs; ++p) _mm512_storeu_si512(out + p * ld, r[p]);
    }
  }
}

// Row pairs: dst[(j / 2) * d + c] = pair (src[j, c], src[j + 1, c]) for even j < np, c < d,
// rows at or past n read as zeros (np even, >= n): the B operand of P V (np = RoundUpTile(n)).
LRA_BF16 void PackRowPairsBf16(const float* src, int64_t stride, int n, int np, int d,
                               uint32_t* dst) {
  const __m512i across = _mm512_load_si512(kAcross);
  for (int j = 0; j < np; j += 2) {
    uint32_t* out = dst + static_cast<int64_t>(j / 2) * d;
    for (int c = 0; c < d; c += 16) {
      const __m512 x0 = j < n ? _mm512_loadu_ps(src + j * stride + c) : _mm512_setzero_ps();
      const __m512 x1 = j + 1 < n ? _mm512_loadu_ps(src + (j + 1) * stride + c) : _mm512_setzero_ps();
      _mm512_storeu_si512(out + c, PairsAcross(x0, x1, across));
    }
  }
}

// Both layouts of `rows` query (or dO) rows in one pass, the block's rows read once: along = their
// RowsToPairs (row j at j d / 2), across = their PackRowPairsBf16 with np = rows rounded up to
// even (pair row k at k d). One vcvtne2ps2bf16 of rows j and j + 1 holds both: its halves are
// the two rows' pairs along d, and PairsAcross's permute of it their pairs across.
LRA_BF16 void PackQueryRows(const float* src, int64_t stride, int rows, int d, uint32_t* along,
                            uint32_t* across) {
  const __m512i idx = _mm512_load_si512(kAcross);
  for (int j = 0; j < rows; j += 2) {
    const bool two = j + 1 < rows;
    for (int c = 0; c < d; c += 16) {
      const __m512 x0 = _mm512_loadu_ps(src + j * stride + c);
      const __m512 x1 = two ? _mm512_loadu_ps(src + (j + 1) * stride + c) : _mm512_setzero_ps();
      const __m512i h = PairsAlong(x0, x1);
      uint32_t* a = along + static_cast<int64_t>(j) * (d / 2) + c / 2;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(a), _mm512_castsi512_si256(h));
      if (two)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(a + d / 2), _mm512_extracti64x4_epi64(h, 1));
      _mm512_storeu_si512(across + static_cast<int64_t>(j / 2) * d + c,
                          _mm512_permutexvar_epi16(idx, h));
    }
  }
}

// The probability tile (rows x 64, row stride kTile) as bf16 pairs along the keys: 32 words a
// row; lanes at or past cols become 0 (they may hold stale values). (Writing these pairs and
// TransposedPairs' from the score epilogues, while P and dS are still in registers, with the
// same bits, measured no faster: the conversions and permutes remain and only the L1 loads of
// the tile go; fwd+bwd at L = 1K, bf16, 1 thread, 8 interleaved pairs 0.95-1.04x.)
LRA_BF16 void ProbPairs(const float* p, int rows, int cols, uint32_t* out) {
  __mmask16 cm[4];
  for (int v = 0; v < 4; ++v) {
    const int left = cols - 16 * v;
    cm[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
  }
  for (int r = 0; r < rows; ++r) {
    const float* x = p + static_cast<int64_t>(r) * kTile;
    uint32_t* o = out + r * (kTile / 2);
    for (int v = 0; v < 4; v += 2)
      _mm512_storeu_si512(o + 8 * v, PairsAlong(_mm512_maskz_loadu_ps(cm[v], x + 16 * v),
                                                _mm512_maskz_loadu_ps(cm[v + 1], x + 16 * v + 16)));
  }
}

LRA_BF16 inline __m512 DotBf16(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<const __m512bh&>(a),
                          reinterpret_cast<const __m512bh&>(b));
}

// ScoreRows in bf16: a (lda words a row) and bt (ldb words a row) hold pairs, d2 = d / 2 of them.
template <int R, class Epi>
LRA_BF16 inline void ScoreRowsBf16(const uint32_t* a, int lda, const uint32_t* bt, int64_t ldb,
                                   int d2, int r0, const Epi& epi, float* c) {
  __m512 acc[R][4];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) acc[r][v] = epi.Init(r0 + r);
  for (int e = 0; e < d2; ++e) {
    const uint32_t* br = bt + e * ldb;
    const __m512i b0 = _mm512_loadu_si512(br), b1 = _mm512_loadu_si512(br + 16),
                  b2 = _mm512_loadu_si512(br + 32), b3 = _mm512_loadu_si512(br + 48);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i x = _mm512_set1_epi32(static_cast<int>(a[r * lda + e]));
      acc[r][0] = DotBf16(acc[r][0], x, b0);
      acc[r][1] = DotBf16(acc[r][1], x, b1);
      acc[r][2] = DotBf16(acc[r][2], x, b2);
      acc[r][3] = DotBf16(acc[r][3], x, b3);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) epi.Row(r0 + r, acc[r], c + (r0 + r) * kTile);
}

// Scores in bf16: a holds `rows` rows of d / 2 pairs; bt the packed keys (PackTransposedBf16).
template <class Epi>
LRA_BF16 void ScoresBf16(const uint32_t* a, int rows, const uint32_t* bt, int64_t ldb, int d,
                         const Epi& epi, float* c) {
  const int d2 = d / 2;
  int r = 0;
  for (; r + 6 <= rows; r += 6) ScoreRowsBf16<6>(a + r * d2, d2, bt, ldb, d2, r, epi, c);
  const uint32_t* ar = a + r * d2;
  switch (rows - r) {
    case 5: ScoreRowsBf16<5>(ar, d2, bt, ldb, d2, r, epi, c); break;
    case 4: ScoreRowsBf16<4>(ar, d2, bt, ldb, d2, r, epi, c); break;
    case 3: ScoreRowsBf16<3>(ar, d2, bt, ldb, d2, r, epi, c); break;
    case 2: ScoreRowsBf16<2>(ar, d2, bt, ldb, d2, r, epi, c); break;
    case 1: ScoreRowsBf16<1>(ar, d2, bt, ldb, d2, r, epi, c); break;
    default: break;
  }
}

// C[r, 0:16 NV] += sum_{k < K2} pairs A[r SAM + k SAK] . B[k * ldb + 0:16 NV], r < R: (SAM,
// SAK) = (kTile / 2, 1) for a tile's pairs along its keys (ProbPairs), (1, kTile) for pairs
// along its rows (TransposedPairs: the tile used transposed).
template <int NV, int R, int SAM, int SAK>
LRA_BF16 inline void MulAccRowsBf16(const uint32_t* a, int K2, const uint32_t* b, int64_t ldb,
                                    float* c, int64_t ldc) {
  __m512 acc[R][NV];
#pragma GCC unroll 13
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_loadu_ps(c + r * ldc + 16 * v);
  for (int k = 0; k < K2; ++k) {
    __m512i bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(b + k * ldb + 16 * v);
    const uint32_t* ak = a + k * SAK;
#pragma GCC unroll 13
    for (int r = 0; r < R; ++r) {
      const __m512i x = _mm512_set1_epi32(static_cast<int>(ak[r * SAM]));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = DotBf16(acc[r][v], x, bv[v]);
    }
  }
#pragma GCC unroll 13
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
}

template <int NV, int R, int SAM, int SAK>
LRA_BF16 inline void MulAccTailBf16(int rem, const uint32_t* a, int K2, const uint32_t* b,
                                    int64_t ldb, float* c, int64_t ldc) {
  if constexpr (R > 0) {
    if (rem == R) {
      MulAccRowsBf16<NV, R, SAM, SAK>(a, K2, b, ldb, c, ldc);
    } else {
      MulAccTailBf16<NV, R - 1, SAM, SAK>(rem, a, K2, b, ldb, c, ldc);
    }
  }
}

template <int NV, int SAM, int SAK>
LRA_BF16 void MulAccNBf16(int M, const uint32_t* a, int K2, const uint32_t* b, int64_t ldb,
                          float* c, int64_t ldc) {
  constexpr int kR = NV == 1 ? 12 : NV == 2 ? 13 : 24 / NV;  // as MulAccN
  int m = 0;
  for (; m + kR <= M; m += kR)
    MulAccRowsBf16<NV, kR, SAM, SAK>(a + m * SAM, K2, b, ldb, c + m * ldc, ldc);
  MulAccTailBf16<NV, kR - 1, SAM, SAK>(M - m, a + m * SAM, K2, b, ldb, c + m * ldc, ldc);
}

// C[m, 0:d] += sum_{k < K2} pairs A(m, k) . B[k * d + 0:d] for m < M, with
// A(m, k) = a[m SAM + k SAK].
template <int SAM, int SAK>
LRA_BF16 void MulAccBf16(int d, int M, const uint32_t* a, int K2, const uint32_t* b, float* c,
                         int64_t ldc) {
  switch (d / 16) {
    case 1: MulAccNBf16<1, SAM, SAK>(M, a, K2, b, d, c, ldc); break;
    case 2: MulAccNBf16<2, SAM, SAK>(M, a, K2, b, d, c, ldc); break;
    case 3: MulAccNBf16<3, SAM, SAK>(M, a, K2, b, d, c, ldc); break;
    default: MulAccNBf16<4, SAM, SAK>(M, a, K2, b, d, c, ldc); break;
  }
}

// A tile (rows x 64, row stride kTile) as bf16 pairs along its rows, for its transpose as the A
// operand: out[k * kTile + c] = pair (p[2k, c], p[2k + 1, c]) for k < (rows + 1) / 2, row
// `rows` read as 0 when rows is odd.
LRA_BF16 void TransposedPairs(const float* p, int rows, uint32_t* out) {
  const __m512i across = _mm512_load_si512(kAcross);
  for (int r = 0; r < rows; r += 2) {
    const float* x0 = p + static_cast<int64_t>(r) * kTile;
    uint32_t* o = out + static_cast<int64_t>(r / 2) * kTile;
    for (int c = 0; c < kTile; c += 16) {
      const __m512 a0 = _mm512_loadu_ps(x0 + c);
      const __m512 a1 = r + 1 < rows ? _mm512_loadu_ps(x0 + kTile + c) : _mm512_setzero_ps();
      _mm512_storeu_si512(o + c, PairsAcross(a0, a1, across));
    }
  }
}

// O[r, 0:d] += P[r, 0:cols] V[0:cols, 0:d] for r < M: pp from ProbPairs, vp from
// PackRowPairsBf16 at the tile's first key row (row stride d words).
LRA_BF16 void ProbTimesValuesBf16(int d, int M, const uint32_t* pp, int cols, const uint32_t* vp,
                                  float* c, int64_t ldc) {
  MulAccBf16<kTile / 2, 1>(d, M, pp, (cols + 1) / 2, vp, c, ldc);
}

// Lane masks of a 64-key tile row: lanes c < vis whose key is unmasked (km: the tile's bytes of
// the key mask, or null). Reads no byte of km at or past vis.
LRA_AVX512 inline void RowMasks(int vis, const uint8_t* km, __mmask16* cm) {
  for (int v = 0; v < 4; ++v) {
    const int left = vis - 16 * v;
    cm[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
    if (km && cm[v]) {
      const __m128i bytes = _mm_maskz_loadu_epi8(cm[v], km + 16 * v);
      cm[v] &= _mm_test_epi8_mask(bytes, bytes);
    }
  }
}

// The arguments of one call, shared by the per-pair workers.
struct TileCall {
  const AttentionShape* s;
  int br;  // query rows per block
  const float *q, *k, *v, *out, *dout;
  const int* lengths;
  const uint8_t* mask;
  const Dropper* dropper;
  // The products in bf16 (Attention::Bf16): the packed keys (and, forward, values) are bf16
  // pairs, PackTransposedBf16 and PackRowPairsBf16.
  bool bf16 = false;
};

// The forward's lazy rescaling: a row's running max m is raised only when a tile holds a score
// above m + kLazyMax, so after the first tiles most rows skip the horizontal max, the scalar
// exp of the rescale factor and the rescaling of their output accumulator. Any m gives the same
// softmax (scores s in log2 units: out = sum 2^(s - m) v / sum 2^(s - m), lse = ln 2 (m + log2
// sum 2^(s - m))); m only has to keep the terms finite: every term is at most 2^12 (about e^8.3)
// and a row's sum at most L 2^12, far inside float range for any L an int holds, and a term's
// relative rounding does not depend on its magnitude.
constexpr float kLazyMax = 12.0f;

// One valid row's online-softmax step over a tile: x, its 64 scores (-inf at keys the row does
// not see); m, lv, o: the row's running max, 16 partial sums and output accumulator (d floats).
// All in log2 units. Writes the terms 2^(x - m) to row and returns true, or returns false
// (writing nothing) when every key so far is masked (m stays -inf).
// kFinite: every score finite (no masked key), so the exp may skip its clamp (Exp2Finite).
template <bool kFinite>
LRA_AVX512 inline bool OnlineSoftmaxRow(const __m512* x, int d, float* m, float* lv, float* o,
                                        float* row) {
  const __m512 xmax = _mm512_max_ps(_mm512_max_ps(x[0], x[1]), _mm512_max_ps(x[2], x[3]));
  float mx = *m;
  // Raise m when a score passes m + kLazyMax (always on the row's first unmasked score, m being
  // -inf); -inf + 8 = -inf keeps a row with only masked keys so far at -inf.
  if (_mm512_cmp_ps_mask(xmax, _mm512_set1_ps(mx + kLazyMax), _CMP_GT_OQ) != 0) {
    mx = _mm512_reduce_max_ps(xmax);
    if (*m != kNegInf) {
      const __m512 alpha = _mm512_set1_ps(std::exp2(*m - mx));
      for (int c = 0; c < d; c += 16)
        _mm512_storeu_ps(o + c, _mm512_mul_ps(_mm512_loadu_ps(o + c), alpha));
      _mm512_storeu_ps(lv, _mm512_mul_ps(_mm512_loadu_ps(lv), alpha));
    }
    *m = mx;
  } else if (mx == kNegInf) {
    return false;
  }
  const __m512 mxv = _mm512_set1_ps(mx);
  __m512 sum = _mm512_loadu_ps(lv);
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    const __m512 xm = _mm512_sub_ps(x[v], mxv);
    const __m512 e = kFinite ? Exp2Finite(xm) : Exp2V(xm);  // Exp2V: 2^-inf = 0 when masked
    _mm512_storeu_ps(row + 16 * v, e);
    sum = _mm512_add_ps(sum, e);
  }
  _mm512_storeu_ps(lv, sum);
  return true;
}

// The online softmax straight from the score accumulators, for a tile whose keys every row of
// the block sees unmasked. m, lv, o: the block's running maxima, partial sums and accumulators.
struct OnlineSoftmaxScores {
  float* m;
  float* lv;
  float* o;
  int d;
  LRA_AVX512 __m512 Init(int /*r*/) const { return _mm512_setzero_ps(); }
  LRA_AVX512 void Row(int r, const __m512* acc, float* c) const {
    OnlineSoftmaxRow<true>(acc, d, m + r, lv + 16 * r, o + static_cast<int64_t>(r) * d, c);
  }
};

// Forward of query rows [i0, i0 + rows) of pair bh: out and lse. kt: the pair's keys, d-major
// with row stride ldk; vr: its values, contiguous rows of d (fp32 only). ws: br * kTile + br * d
// + br + 16 br floats. Each row keeps its running sum as 16 lane-wise partial sums, added up
// once at the end instead of once per tile.
LRA_AVX512 void TiledForwardBlock(const TileCall& t, int bh, int i0, const float* kt, int64_t ldk,
                                  const float* vr, float* out, float* saved, float* ws) {
  const AttentionShape& s = *t.s;
  const int L = s.length, d = s.head_dim, H = s.heads, br = t.br;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float uniform = 1.0f / static_cast<float>(L);
  const int b = bh / H, h = bh % H;
  const int rows = std::min(br, L - i0);
  const int len = KeyLength(s, t.lengths, b);
  const int64_t off = static_cast<int64_t>(b) * L * stride + static_cast<int64_t>(h) * d;
  const uint8_t* km = t.mask ? t.mask + static_cast<int64_t>(b) * L : nullptr;
  const Dropper& dropper = *t.dropper;
  float* st = ws;
  float* oacc = st + static_cast<int64_t>(br) * kTile;
  float* m = oacc + static_cast<int64_t>(br) * d;
  float* lv = m + br;  // 16 partial sums per row
  // bf16: the block's queries and a probability tile as pairs; kt holds the keys' pairs (d / 2
  // rows of ldk words), then the values' (PackRowPairsBf16, ldk / 2 rows of d words).
  uint32_t* qpw = reinterpret_cast<uint32_t*>(lv + 16 * br);
  uint32_t* ppw = qpw + br * d / 2;
  const bool bf16 = t.bf16;
  const uint32_t* kp = reinterpret_cast<const uint32_t*>(kt);
  const uint32_t* vp = kp + static_cast<int64_t>(d / 2) * ldk;
  std::memset(oacc, 0, sizeof(float) * rows * d);
  std::memset(lv, 0, sizeof(float) * 16 * rows);
  bool any_invalid = false;
  for (int r = 0; r < rows; ++r) {
    const bool valid = Valid(km, len, i0 + r);
    any_invalid |= !valid;
    m[r] = valid ? kNegInf : 0.0f;
    if (!valid) lv[16 * r] = 1.0f;  // an invalid row's terms are 1/L as they stand: l = 1
  }
  const float* qi = t.q + off + static_cast<int64_t>(i0) * stride;
  if (bf16) RowsToPairs(qi, rows, d, stride, qpw);
  const int kvis = s.causal ? std::min(len, i0 + rows) : len;
  const int kend = any_invalid ? L : kvis;
  const __m512 neg_inf = _mm512_set1_ps(kNegInf);
  for (int j0 = 0; j0 < kend; j0 += kTile) {
    const int cols = std::min(kTile, kend - j0);
    // Every row valid and seeing every key of the tile unmasked (no key mask, a full tile, not
    // past the causal diagonal): the softmax runs in the score product's epilogue.
    if (!km && !any_invalid && j0 + kTile <= kvis && (!s.causal || i0 >= j0 + kTile - 1)) {
      if (bf16) {
        ScoresBf16(qpw, rows, kp + j0, ldk, d, OnlineSoftmaxScores{m, lv, oacc, d}, st);
      } else {
        Scores(qi, stride, rows, kt + j0, ldk, d, OnlineSoftmaxScores{m, lv, oacc, d}, st);
      }
      if (dropper.on)
        for (int r = 0; r < rows; ++r) {
          float* row = st + static_cast<int64_t>(r) * kTile;
          dropper.Apply(b, h, i0 + r, j0, kTile, row, row);
        }
      if (bf16) {
        ProbPairs(st, rows, cols, ppw);
        ProbTimesValuesBf16(d, rows, ppw, cols, vp + static_cast<int64_t>(j0 / 2) * d, oacc, d);
      } else {
        MulAcc<kTile, 1>(d, rows, st, cols, vr + static_cast<int64_t>(j0) * d, d, oacc, d);
      }
      continue;
    }
    if (j0 < kvis) {
      if (bf16) {
        ScoresBf16(qpw, rows, kp + j0, ldk, d, PlainScores{}, st);
      } else {
        Scores(qi, stride, rows, kt + j0, ldk, d, PlainScores{}, st);
      }
    }
    for (int r = 0; r < rows; ++r) {
      float* row = st + static_cast<int64_t>(r) * kTile;
      if (!Valid(km, len, i0 + r)) {
        std::fill(row, row + cols, uniform);
        if (dropper.on) dropper.Apply(b, h, i0 + r, j0, cols, row, row);
        continue;
      }
      const int vis = std::min(cols, VisibleKeys(i0 + r, len, s.causal) - j0);
      if (vis <= 0) {
        std::memset(row, 0, sizeof(float) * cols);
        continue;
      }
      __mmask16 cm[4] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF};
      if (km || vis < kTile) RowMasks(vis, km ? km + j0 : nullptr, cm);
      __m512 x[4];
      for (int v = 0; v < 4; ++v) x[v] = _mm512_mask_loadu_ps(neg_inf, cm[v], row + 16 * v);
      float* o = oacc + static_cast<int64_t>(r) * d;
      if (!OnlineSoftmaxRow<false>(x, d, m + r, lv + 16 * r, o, row)) {
        std::memset(row, 0, sizeof(float) * cols);  // every key so far masked: nothing to add
        continue;
      }
      if (dropper.on) dropper.Apply(b, h, i0 + r, j0, vis, row, row);
    }
    if (bf16) {
      ProbPairs(st, rows, cols, ppw);
      ProbTimesValuesBf16(d, rows, ppw, cols, vp + static_cast<int64_t>(j0 / 2) * d, oacc, d);
    } else {
      MulAcc<kTile, 1>(d, rows, st, cols, vr + static_cast<int64_t>(j0) * d, d, oacc, d);
    }
  }
  float* lse = saved + static_cast<int64_t>(bh) * L + i0;
  float* outi = out + off + static_cast<int64_t>(i0) * stride;
  for (int r = 0; r < rows; ++r) {
    // A valid row sees its own key (a term e^(s - m) >= e^-8 > 0), so l > 0 there.
    const float l = _mm512_reduce_add_ps(_mm512_loadu_ps(lv + 16 * r));
    const __m512 inv = _mm512_set1_ps(1.0f / l);
    for (int c = 0; c < d; c += 16)
      _mm512_storeu_ps(outi + r * stride + c,
                       _mm512_mul_ps(_mm512_loadu_ps(oacc + static_cast<int64_t>(r) * d + c), inv));
    lse[r] = (m[r] + std::log2(l)) * kLn2;  // saved in natural-log units
  }
}

// Backward of pair bh: dq, dk, dv of its rows. ws: 2 d Lp + 2 Lp + 3 br kTile + 2 kGroupTiles
// kTile d + br kTile / 2 + (br + 1) / 2 kTile + 4 Lp d floats (Lp = L rounded up to kTile).
// bf16: the recomputed scores and dP = dO V^T run on bf16 pairs (keys and values packed
// d-major, Q's and dO's rows converted), dQ += dS K (dS rounded to pairs along the keys, the
// keys packed as pairs of rows in kt's second half), and the transposed products dV += P~^T dO
// and dK += dS^T Q (P~ and dS rounded to pairs along the query rows, TransposedPairs; dO and Q
// packed as pairs of rows within each query block). Q and dO are converted once per pair
// (PackQueryRows), into the space of the fp32 path's row copies (their pairs along d, 2 L d / 2
// words, and their blocks' row pairs, at most 2 L d words: a block of `rows` rows takes
// (rows + 1) / 2 d <= rows d words), not once per group of kGroupTiles key tiles (L / 256 times:
// 4 at L = 1K, where with the forward's these conversions took 2.3% of a bf16 Transformer step).
LRA_AVX512 void TiledBackwardPair(const TileCall& t, int bh, const float* saved, float* dq,
                                  float* dk, float* dv, float* ws) {
  const AttentionShape& s = *t.s;
  const int L = s.length, d = s.head_dim, H = s.heads, br = t.br;
  const int Lp = RoundUpTile(L);
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const float uniform = 1.0f / static_cast<float>(L);
  const int b = bh / H, h = bh % H;
  const int len = KeyLength(s, t.lengths, b);
  const int64_t off = static_cast<int64_t>(b) * L * stride + static_cast<int64_t>(h) * d;
  const uint8_t* km = t.mask ? t.mask + static_cast<int64_t>(b) * L : nullptr;
  const Dropper& dropper = *t.dropper;
  const bool any_invalid = AnyInvalid(km, len, 0, L);
  const int kend = any_invalid ? L : len;
  ZeroRows(dq + off, L, d, stride);
  ZeroRows(dk + off + static_cast<int64_t>(kend) * stride, L - kend, d, stride);
  ZeroRows(dv + off + static_cast<int64_t>(kend) * stride, L - kend, d, stride);
  if (kend == 0) return;
  const int64_t tile = static_cast<int64_t>(br) * kTile;
  float* kt = ws;
  float* vt = kt + static_cast<int64_t>(d) * Lp;
  float* dvec = vt + static_cast<int64_t>(d) * Lp;
  float* lse2 = dvec + Lp;  // the rows' logsumexp in log2 units, as the scores
  float* pt = lse2 + Lp;
  float* dst = pt + tile;
  float* ptd = dst + tile;
  float* dkacc = ptd + tile;
  float* dvacc = dkacc + kGroupTiles * kTile * d;
  uint32_t* dspw = reinterpret_cast<uint32_t*>(dvacc + kGroupTiles * kTile * d);
  // bf16's transposed products: P~ and dS as pairs along the rows.
  uint32_t* tpw = dspw + br * kTile / 2;
  // fp32: the pair's Q, dO and K as contiguous rows of d, and its dQ accumulated there too (as
  // the forward's values: read in place, with the row stride heads d, a 64-row tile sat in a
  // sixteenth of L1's sets).
  float* qr = reinterpret_cast<float*>(tpw + (br + 1) / 2 * kTile);
  float* dor = qr + static_cast<int64_t>(Lp) * d;
  float* kr = dor + static_cast<int64_t>(Lp) * d;
  float* dqr = kr + static_cast<int64_t>(Lp) * d;
  const bool bf16 = t.bf16;
  uint32_t* kp = reinterpret_cast<uint32_t*>(kt);
  uint32_t* krp = kp + static_cast<int64_t>(d / 2) * Lp;  // K as pairs of rows (unscaled)
  uint32_t* vp = reinterpret_cast<uint32_t*>(vt);
  // bf16, in qr's space: Q's and dO's rows as pairs along d (row i at i d / 2), then their
  // blocks' pairs of rows (the block at i0 from (i0 / br) block_words on, its (rows + 1) / 2
  // pair rows of d words).
  const int64_t block_words = static_cast<int64_t>((br + 1) / 2) * d;
  const int64_t pair_words = (static_cast<int64_t>((L - 1) / br) * ((br + 1) / 2) +
                              ((L - 1) % br + 2) / 2) * d;  // every block's pair rows
  uint32_t* qpa = reinterpret_cast<uint32_t*>(qr);
  uint32_t* dopa = qpa + static_cast<int64_t>(L) * d / 2;
  uint32_t* qrpa = dopa + static_cast<int64_t>(L) * d / 2;
  uint32_t* dorpa = qrpa + pair_words;
  if (bf16) {
    PackTransposedBf16(t.k + off, stride, L, d, Lp, scale * kLog2e, kp);  // as the forward
    PackRowPairsBf16(t.k + off, stride, L, Lp, d, krp);
    PackTransposedBf16(t.v + off, stride, L, d, Lp, scale, vp);  // dP's epilogue wants scale dP
    for (int i0 = 0; i0 < L; i0 += br) {
      const int rows = std::min(br, L - i0);
      const int64_t at = static_cast<int64_t>(i0) * stride, bo = (i0 / br) * block_words;
      const int64_t ao = static_cast<int64_t>(i0) * d / 2;
      PackQueryRows(t.q + off + at, stride, rows, d, qpa + ao, qrpa + bo);
      PackQueryRows(t.dout + off + at, stride, rows, d, dopa + ao, dorpa + bo);
    }
  } else {
    PackTransposed(t.k + off, stride, L, d, Lp, scale * kLog2e, kt);  // the forward's keys
    PackTransposed(t.v + off, stride, L, d, Lp, scale, vt);  // dP's epilogue wants scale dP
    CopyRows(t.q + off, stride, L, d, qr, d);
    CopyRows(t.dout + off, stride, L, d, dor, d);
    CopyRows(t.k + off, stride, L, d, kr, d);
    std::memset(dqr, 0, sizeof(float) * L * d);
  }
  // Where dQ accumulates: in place (bf16) or in the contiguous copy.
  float* dqdst = bf16 ? dq + off : dqr;
  const int64_t ldq = bf16 ? stride : d;
  const float* lse = saved + static_cast<int64_t>(bh) * L;
  for (int i = 0; i < L; ++i) lse2[i] = lse[i] * kLog2e;
  RowDots16(t.dout + off, t.out + off, L, d, stride, dvec);
  for (int i = 0; i < L; ++i) dvec[i] *= scale;  // scale D, as the dP epilogues take it
  // Key tiles in groups of kGroupTiles: each pass over the query blocks serves a group, so Q,
  // dO and dQ stream through the caches once per group instead of once per tile (at L = 4K
  // they outgrow L2). The sums keep their order: dq over ascending tiles, dk and dv over
  // ascending query blocks.
  for (int jg = 0; jg < kend; jg += kGroupTiles * kTile) {
    const int gcols = std::min(kGroupTiles * kTile, kend - jg);
    std::memset(dkacc, 0, sizeof(float) * 2 * kGroupTiles * kTile * d);  // dkacc and dvacc
    for (int i0 = s.causal && !any_invalid ? jg / br * br : 0; i0 < L; i0 += br) {
      const int rows = std::min(br, L - i0);
      const float* qi = qr + static_cast<int64_t>(i0) * d;  // fp32's operands
      const float* doi = dor + static_cast<int64_t>(i0) * d;
      const uint32_t* qpw = qpa + static_cast<int64_t>(i0) * d / 2;
      const uint32_t* dopw = dopa + static_cast<int64_t>(i0) * d / 2;
      const uint32_t* qrp = qrpa + (i0 / br) * block_words;
      const uint32_t* dorp = dorpa + (i0 / br) * block_words;
      for (int j0 = jg; j0 < jg + gcols; j0 += kTile) {
        // Causal, every row valid: rows before j0 see none of the tile.
        if (s.causal && !any_invalid && i0 + rows <= j0) continue;
        const int cols = std::min(kTile, kend - j0);
        float* dkt = dkacc + static_cast<int64_t>(j0 - jg) * d;
        float* dvt = dvacc + static_cast<int64_t>(j0 - jg) * d;
        // P, straight from the score accumulators when every row of the block is valid and
        // sees every key of the tile (no key mask, a full tile inside the length, not past the
        // causal diagonal).
        const bool plain = !km && i0 + rows <= len && j0 + kTile <= len &&
                           (!s.causal || i0 >= j0 + kTile - 1);
        if (plain) {
          if (bf16) {
            ScoresBf16(qpw, rows, kp + j0, Lp, d, ProbScores{{}, lse2 + i0}, pt);
          } else {
            Scores(qi, d, rows, kt + j0, Lp, d, ProbScores{{}, lse2 + i0}, pt);
          }
        } else {
          if (bf16) {
            ScoresBf16(qpw, rows, kp + j0, Lp, d, PlainScores{}, pt);
          } else {
            Scores(qi, d, rows, kt + j0, Lp, d, PlainScores{}, pt);
          }
          for (int r = 0; r < rows; ++r) {
            float* row = pt + static_cast<int64_t>(r) * kTile;
            if (!Valid(km, len, i0 + r)) {
              std::fill(row, row + kTile, uniform);
              continue;
            }
            const int vis = std::max(0, std::min(cols, VisibleKeys(i0 + r, len, s.causal) - j0));
            __mmask16 cm[4];
            RowMasks(vis, km ? km + j0 : nullptr, cm);
            const __m512 lr = _mm512_set1_ps(lse2[i0 + r]);
            for (int v = 0; v < 4; ++v) {
              const __m512 x = _mm512_loadu_ps(row + 16 * v);
              _mm512_storeu_ps(row + 16 * v,
                               _mm512_maskz_mov_ps(cm[v], Exp2V(_mm512_sub_ps(x, lr))));
            }
          }
        }
        if (dropper.on) {
          for (int r = 0; r < rows; ++r) {
            const int seen = VisibleKeys(i0 + r, len, s.causal) - j0;
            const int vis = Valid(km, len, i0 + r) ? std::max(0, std::min(cols, seen)) : cols;
            float* dr = ptd + static_cast<int64_t>(r) * kTile;
            dropper.Apply(b, h, i0 + r, j0, vis, pt + static_cast<int64_t>(r) * kTile, dr);
            std::memset(dr + vis, 0, sizeof(float) * (kTile - vis));
          }
        }
        const float* pp = dropper.on ? ptd : pt;
        // dV += P~^T dO; dP~ = dO V^T; dS = scale (P~ dP~ - P D).
        if (bf16) {
          TransposedPairs(pp, rows, tpw);
          MulAccBf16<1, kTile>(d, cols, tpw, (rows + 1) / 2, dorp, dvt, d);
        } else {
          MulAcc<1, kTile>(d, cols, pp, rows, doi, d, dvt, d);
        }
        // dS straight from the dP accumulators (no pass over a stored dP tile).
        if (dropper.on) {
          const SoftmaxGradDropoutScores epi{{}, pt, ptd, dvec + i0};
          if (bf16) {
            ScoresBf16(dopw, rows, vp + j0, Lp, d, epi, dst);
          } else {
            Scores(doi, d, rows, vt + j0, Lp, d, epi, dst);
          }
        } else {
          const SoftmaxGradScores epi{{}, pt, dvec + i0};
          if (bf16) {
            ScoresBf16(dopw, rows, vp + j0, Lp, d, epi, dst);
          } else {
            Scores(doi, d, rows, vt + j0, Lp, d, epi, dst);
          }
        }
        // dQ_blk += dS K_tile; dK_tile += dS^T Q_blk.
        if (bf16) {
          ProbPairs(dst, rows, cols, dspw);
          ProbTimesValuesBf16(d, rows, dspw, cols, krp + static_cast<int64_t>(j0 / 2) * d,
                              dqdst + static_cast<int64_t>(i0) * ldq, ldq);
        } else {
          MulAcc<kTile, 1>(d, rows, dst, cols, kr + static_cast<int64_t>(j0) * d, d,
                           dqdst + static_cast<int64_t>(i0) * ldq, ldq);
        }
        if (bf16) {
          TransposedPairs(dst, rows, tpw);
          MulAccBf16<1, kTile>(d, cols, tpw, (rows + 1) / 2, qrp, dkt, d);
        } else {
          MulAcc<1, kTile>(d, cols, dst, rows, qi, d, dkt, d);
        }
      }
    }
    CopyRows(dkacc, d, gcols, d, dk + off + static_cast<int64_t>(jg) * stride, stride);
    CopyRows(dvacc, d, gcols, d, dv + off + static_cast<int64_t>(jg) * stride, stride);
  }
  if (!bf16) CopyRows(dqr, d, L, d, dq + off, stride);
}

}  // namespace

bool Attention::Tiled(const AttentionShape& s) const {
  return options_.algorithm == AttentionAlgorithm::kBlocked && options_.key_block == kTile &&
         s.head_dim % 16 == 0 && s.head_dim <= 64 && HasAvx512();
}

bool Attention::Bf16(const AttentionShape& s) const {
  return Tiled(s) && onednn::GetMatmulPrecision() == onednn::MatmulPrecision::kBf16 &&
         HasAvx512Bf16();
}

void Attention::TiledForward(const AttentionShape& s, const float* q, const float* k,
                             const float* v, const int* lengths, const uint8_t* mask,
                             const AttentionDropout& drop, float* out, float* saved) {
  const int L = s.length, d = s.head_dim, H = s.heads, br = options_.query_block;
  const int Lp = RoundUpTile(L), pairs = s.batch * H, qblocks = (L + br - 1) / br;
  const int64_t stride = static_cast<int64_t>(H) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const Dropper dropper(drop);
  const bool bf16 = Bf16(s);
  const TileCall t{&s, br, q, k, v, nullptr, nullptr, lengths, mask, &dropper, bf16};
  // Shared: every pair's keys, d-major, then its values as contiguous rows (2 B heads d Lp
  // floats, twice the size of k); bf16: the keys' and the values' pairs in the first half.
  // Per thread: the score tile, the output accumulator, the running max and the 16 partial
  // running sums; bf16: the query block's and the probability tile's pairs.
  // The values are copied because the P V product read in place, with the row stride heads d
  // (512 bytes at 4 heads of 32), puts a tile's 64 rows in a sixteenth of L1's sets, where they
  // evicted each other between the product's row groups.
  const int64_t per_pair = 2LL * d * Lp;
  const int64_t packed = static_cast<int64_t>(pairs) * per_pair;
  const int64_t per_thread =
      (static_cast<int64_t>(br) * kTile + br * d + 17 * br + br * (d / 2 + kTile / 2) + 15) /
      16 * 16;
  const int threads = omp_get_max_threads();
  float* kt = Scratch(packed + per_thread * threads, 1);
  float* ws = kt + packed;
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < pairs; ++bh) {
    const int64_t off =
        static_cast<int64_t>(bh / H) * L * stride + static_cast<int64_t>(bh % H) * d;
    float* dst = kt + static_cast<int64_t>(bh) * per_pair;
    if (bf16) {
      uint32_t* kp = reinterpret_cast<uint32_t*>(dst);
      PackTransposedBf16(k + off, stride, L, d, Lp, scale * kLog2e, kp);
      PackRowPairsBf16(v + off, stride, L, Lp, d, kp + static_cast<int64_t>(d / 2) * Lp);
    } else {
      PackTransposed(k + off, stride, L, d, Lp, scale * kLog2e, dst);
      CopyRows(v + off, stride, L, d, dst + static_cast<int64_t>(d) * Lp, d);
    }
  }
  const int64_t items = static_cast<int64_t>(pairs) * qblocks;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t item = 0; item < items; ++item) {
    const int bh = static_cast<int>(item / qblocks);
    const float* kb = kt + static_cast<int64_t>(bh) * per_pair;
    TiledForwardBlock(t, bh, static_cast<int>(item % qblocks) * br, kb, Lp,
                      kb + static_cast<int64_t>(d) * Lp, out, saved,
                      ws + per_thread * omp_get_thread_num());
  }
}

void Attention::TiledBackward(const AttentionShape& s, const float* q, const float* k,
                              const float* v, const int* lengths, const uint8_t* mask,
                              const AttentionDropout& drop, const float* out, const float* saved,
                              const float* dout, float* dq, float* dk, float* dv) {
  const int L = s.length, d = s.head_dim, br = options_.query_block;
  const int Lp = RoundUpTile(L), pairs = s.batch * s.heads;
  const Dropper dropper(drop);
  const TileCall t{&s, br, q, k, v, out, dout, lengths, mask, &dropper, Bf16(s)};
  const int64_t per_thread =
      (2LL * d * Lp + 2LL * Lp + 3LL * br * kTile + 2LL * kGroupTiles * kTile * d +
       br * kTile / 2 + (br + 1) / 2 * kTile + 4LL * Lp * d + 15) /
      16 * 16;
  float* scratch = Scratch(per_thread, omp_get_max_threads());
  // Parallel over (batch, head) only: every key tile of a pair adds into all of its dQ rows.
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh)
    TiledBackwardPair(t, bh, saved, dq, dk, dv, scratch + per_thread * omp_get_thread_num());
}

}  // namespace kernels
}  // namespace lra

#include "core/kernels/synthesizer_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/base/internal/raw_logging.h"
#include "core/kernels/philox.h"
#include "core/kernels/vmath/vmath.h"
#include "oneapi/dnnl/dnnl.h"

namespace lra {
namespace kernels {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// C = alpha op(A) op(B) + beta C through oneDNN's sgemm, as core/kernels/attention.cc calls it:
// inside the OpenMP loop over (b, head) it runs on the calling thread, keeps no state, and reads
// the strided [B, L, heads, d] operands in place.
void Sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  ABSL_RAW_CHECK(st == dnnl_success, "SynthesizerAttention: dnnl_sgemm failed");
}

// Query rows per block: the block's R x L slice of P (and of dP in backward) near 128K floats so
// it stays in L2 between the GEMM that writes it and the one that reads it, as
// core/kernels/attention.cc's dense path does (its DenseRowBlock).
int RowBlock(int L) { return std::max(32, std::min(256, (1 << 17) / L)) / 8 * 8; }

// Per-thread scratch of the calling thread's kernels, grown to the largest call; the parallel
// regions index it by omp_get_thread_num().
float* Scratch(int64_t per_thread, int threads) {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<float, Free> buf;
  thread_local int64_t have = 0;
  const int64_t need = per_thread * threads;
  if (need > have) {
    void* p = std::aligned_alloc(64, static_cast<size_t>(need) * sizeof(float));
    ABSL_RAW_CHECK(p != nullptr, "SynthesizerAttention: out of memory for workspace");
    buf.reset(static_cast<float*>(p));
    have = need;
  }
  return buf.get();
}

inline bool Valid(const uint8_t* km, int len, int t) { return t < len && (!km || km[t]); }

inline bool AnyInvalid(const uint8_t* km, int len, int i0, int rows) {
  if (i0 + rows > len) return true;
  if (km)
    for (int r = 0; r < rows; ++r)
      if (!km[i0 + r]) return true;
  return false;
}

// factor[4 t + w] = scale if word w of Philox((jb + t, i, h, b), (k0, k1)) >= threshold else 0:
// the bits of core/kernels/window_dropout.h (and attention.h), vectorized per Philox block.
__attribute__((target_clones("avx512f", "avx2", "default"))) void SynthDropFactors(
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

struct Drop {
  bool on = false;
  uint32_t threshold = 0, k0 = 0, k1 = 0;
  float scale = 1.0f;

  explicit Drop(const SynthesizerDropout& d) {
    ABSL_RAW_CHECK(d.rate >= 0.0f && d.rate < 1.0f,
                   "SynthesizerAttention: dropout rate must be in [0, 1)");
    if (d.rate == 0.0f) return;
    on = true;
    threshold = static_cast<uint32_t>(std::min(4294967295.0, std::round(d.rate * 4294967296.0)));
    scale = 1.0f / (1.0f - d.rate);
    k0 = static_cast<uint32_t>(d.seed);
    k1 = static_cast<uint32_t>(d.seed >> 32);
  }

  // dst[c] = src[c] M(b, h, i, c) / (1 - p) for c < n; dst[c] = 0 for n <= c < width.
  void Apply(int b, int h, int i, int n, int width, const float* src, float* dst) const {
    constexpr int kChunk = 64;  // Philox blocks per pass: 256 keys
    float factor[4 * kChunk];
    for (int c = 0; c < n; c += 4 * kChunk) {
      const int m = std::min(n - c, 4 * kChunk);
      SynthDropFactors(static_cast<uint32_t>(c / 4), (m + 3) / 4, static_cast<uint32_t>(i),
                       static_cast<uint32_t>(h), static_cast<uint32_t>(b), k0, k1, threshold,
                       scale, factor);
#pragma omp simd
      for (int e = 0; e < m; ++e) dst[c + e] = src[c + e] * factor[e];
    }
    if (width > n) std::memset(dst + n, 0, sizeof(float) * (width - n));
  }
};

void Check(const SynthesizerShape& s) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.length >= 1 && s.heads >= 1 && s.v_dim >= 1 && s.qk_dim >= 0,
                 "SynthesizerAttention: batch, length, heads and v_dim must be >= 1");
  ABSL_RAW_CHECK(s.shared_size == 0 || s.shared_size >= s.length,
                 "SynthesizerAttention: shared logits smaller than L");
}

int Length(const SynthesizerShape& s, const int* lengths, int b) {
  if (!lengths) return s.length;
  ABSL_RAW_CHECK(lengths[b] >= 0 && lengths[b] <= s.length,
                 "SynthesizerAttention: lengths[b] must lie in [0, L]");
  return lengths[b];
}

}  // namespace

int64_t SynthesizerProbsFloats(const SynthesizerShape& s) {
  return static_cast<int64_t>(s.batch) * s.heads * s.length * s.length;
}

void SynthesizerForward(const SynthesizerShape& s, const float* q, const float* k,
                        const float* v, const float* shared, const float* per_example,
                        const int* lengths, const uint8_t* mask, const SynthesizerDropout& drop,
                        float* out, float* probs) {
  Check(s);
  const int L = s.length, H = s.heads, d = s.qk_dim, dv = s.v_dim, P = s.shared_size;
  const int64_t qs = static_cast<int64_t>(H) * d, vs = static_cast<int64_t>(H) * dv;
  const float scale = d > 0 ? 1.0f / std::sqrt(static_cast<float>(d)) : 0.0f;
  const float uniform = 1.0f / static_cast<float>(L);
  const int R = RowBlock(L), pairs = s.batch * H;
  const Drop dropper(drop);
  // Dropout only: the dropped block P~ (R x L) that the PV product reads; probs keeps P.
  const int64_t per_thread = dropper.on ? (static_cast<int64_t>(R) * L + 15) / 16 * 16 : 0;
  float* scratch = dropper.on ? Scratch(per_thread, omp_get_max_threads()) : nullptr;
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh) {
    const int b = bh / H, h = bh % H;
    const int len = Length(s, lengths, b);
    const uint8_t* km = mask ? mask + static_cast<int64_t>(b) * L : nullptr;
    const int64_t qoff = static_cast<int64_t>(b) * L * qs + static_cast<int64_t>(h) * d;
    const int64_t voff = static_cast<int64_t>(b) * L * vs + static_cast<int64_t>(h) * dv;
    float* p = probs + static_cast<int64_t>(bh) * L * L;
    const float* pe = per_example ? per_example + static_cast<int64_t>(bh) * L * L : nullptr;
    const float* sh = shared ? shared + static_cast<int64_t>(h) * P * P : nullptr;
    float* pd = dropper.on ? scratch + per_thread * omp_get_thread_num() : nullptr;
    for (int i0 = 0; i0 < L; i0 += R) {
      const int rows = std::min(R, L - i0);
      const int kend = AnyInvalid(km, len, i0, rows) ? L : len;
      float* pb = p + static_cast<int64_t>(i0) * L;
      if (d > 0 && len > 0)  // S = scale Q_blk K^T over the valid keys' range
        Sgemm('N', 'T', rows, len, d, scale, q + qoff + i0 * qs, qs, k + qoff, qs, 0.0f, pb, L);
      for (int r = 0; r < rows; ++r) {
        const int i = i0 + r;
        float* row = pb + static_cast<int64_t>(r) * L;
        float* dr = pd ? pd + static_cast<int64_t>(r) * kend : nullptr;
        if (!Valid(km, len, i)) {  // flax: every logit at -1e10, so P is uniform over all L keys
          std::fill(row, row + L, uniform);
          if (dr) dropper.Apply(b, h, i, L, L, row, dr);
          continue;
        }
        const float* shr = sh ? sh + static_cast<int64_t>(i) * P : nullptr;
        const float* per = pe ? pe + static_cast<int64_t>(i) * L : nullptr;
        if (d == 0) std::memset(row, 0, sizeof(float) * len);
        if (shr) {
#pragma omp simd
          for (int j = 0; j < len; ++j) row[j] += shr[j];
        }
        if (per) {
#pragma omp simd
          for (int j = 0; j < len; ++j) row[j] += per[j];
        }
        if (km) {
#pragma omp simd
          for (int j = 0; j < len; ++j) row[j] = km[j] ? row[j] : kNegInf;
        }
        // A valid row sees its own key, so the maximum is finite.
        float mx = kNegInf;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < len; ++j) mx = std::max(mx, row[j]);
#pragma omp simd
        for (int j = 0; j < len; ++j) row[j] -= mx;
        vmath::Exp(row, row, len);
        if (km) {  // exp(-inf) as 0 exactly, whatever the polynomial's clamp
#pragma omp simd
          for (int j = 0; j < len; ++j) row[j] = km[j] ? row[j] : 0.0f;
        }
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < len; ++j) sum += row[j];
        const float inv = 1.0f / sum;  // >= 1 term equal to exp(0)
#pragma omp simd
        for (int j = 0; j < len; ++j) row[j] *= inv;
        std::memset(row + len, 0, sizeof(float) * (L - len));
        if (dr) dropper.Apply(b, h, i, len, kend, row, dr);
      }
      // O_blk = P_blk V (or P~_blk V) over the keys any row of the block reads.
      float* ob = out + voff + i0 * vs;
      if (pd) {
        Sgemm('N', 'N', rows, dv, kend, 1.0f, pd, kend, v + voff, vs, 0.0f, ob, vs);
      } else {
        Sgemm('N', 'N', rows, dv, kend, 1.0f, pb, L, v + voff, vs, 0.0f, ob, vs);
      }
    }
  }
}

void SynthesizerBackward(const SynthesizerShape& s, const float* q, const float* k,
                         const float* v, const int* lengths, const uint8_t* mask,
                         const SynthesizerDropout& drop, const float* out, float* probs,
                         const float* dout, float* dq, float* dk, float* dv, float* dlogits,
                         float* dshared) {
  Check(s);
  ABSL_RAW_CHECK(s.qk_dim > 0 || (dq == nullptr && dk == nullptr),
                 "SynthesizerAttention: dq, dk without a dot product");
  const int L = s.length, H = s.heads, d = s.qk_dim, dvd = s.v_dim, P = s.shared_size;
  const int64_t qs = static_cast<int64_t>(H) * d, vs = static_cast<int64_t>(H) * dvd;
  const float scale = d > 0 ? 1.0f / std::sqrt(static_cast<float>(d)) : 0.0f;
  const int R = RowBlock(L), pairs = s.batch * H;
  const Drop dropper(drop);
  // Per thread: dP (R x L), the row dots D (L) and, with dropout, the regenerated P~ (R x L).
  const int64_t block = static_cast<int64_t>(R) * L;
  const int64_t per_thread = (block + L + (dropper.on ? block : 0) + 15) / 16 * 16;
  float* scratch = Scratch(per_thread, omp_get_max_threads());
  float* dsbase = dlogits ? dlogits : probs;
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh) {
    const int b = bh / H, h = bh % H;
    const int len = Length(s, lengths, b);
    const uint8_t* km = mask ? mask + static_cast<int64_t>(b) * L : nullptr;
    const int64_t qoff = static_cast<int64_t>(b) * L * qs + static_cast<int64_t>(h) * d;
    const int64_t voff = static_cast<int64_t>(b) * L * vs + static_cast<int64_t>(h) * dvd;
    // dK and dV add over the row blocks (beta = 1), so start at 0; keys no row reads stay 0.
    for (int t = 0; t < L; ++t) {
      if (dk) std::memset(dk + qoff + t * qs, 0, sizeof(float) * d);
      if (dv) std::memset(dv + voff + t * vs, 0, sizeof(float) * dvd);
    }
    float* dp = scratch + per_thread * omp_get_thread_num();
    float* dvec = dp + block;
    float* pd = dropper.on ? dvec + L : nullptr;
    const float* p = probs + static_cast<int64_t>(bh) * L * L;
    float* ds = dsbase + static_cast<int64_t>(bh) * L * L;
    // D_i = <dO_i, O_i> = sum_j P~_ij dP~_ij.
    for (int i = 0; i < L; ++i) {
      const float* x = dout + voff + i * vs;
      const float* y = out + voff + i * vs;
      float acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int c = 0; c < dvd; ++c) acc += x[c] * y[c];
      dvec[i] = acc;
    }
    for (int i0 = 0; i0 < L; i0 += R) {
      const int rows = std::min(R, L - i0);
      const int kend = AnyInvalid(km, len, i0, rows) ? L : len;
      const float* pb = p + static_cast<int64_t>(i0) * L;
      float* dsb = ds + static_cast<int64_t>(i0) * L;
      const float* dob = dout + voff + i0 * vs;
      if (pd)
        for (int r = 0; r < rows; ++r)
          dropper.Apply(b, h, i0 + r, Valid(km, len, i0 + r) ? len : L, kend,
                        pb + static_cast<int64_t>(r) * L, pd + static_cast<int64_t>(r) * kend);
      // dV += P~_blk^T dO_blk; dP~ = dO_blk V^T (rows x kend).
      if (dv && kend > 0)
        Sgemm('T', 'N', kend, dvd, rows, 1.0f, pd ? pd : pb, pd ? kend : L, dob, vs, 1.0f,
              dv + voff, vs);
      if (kend > 0) Sgemm('N', 'T', rows, kend, dvd, 1.0f, dob, vs, v + voff, vs, 0.0f, dp, kend);
      // dS = P (dP - D), or P~ dP~ - P D with dropout; in place over P when dsb is P's rows.
      for (int r = 0; r < rows; ++r) {
        const float* pr = pb + static_cast<int64_t>(r) * L;
        const float* g = dp + static_cast<int64_t>(r) * kend;
        float* o = dsb + static_cast<int64_t>(r) * L;
        const float di = dvec[i0 + r];
        if (pd) {
          const float* pdr = pd + static_cast<int64_t>(r) * kend;
#pragma omp simd
          for (int c = 0; c < kend; ++c) o[c] = pdr[c] * g[c] - pr[c] * di;
        } else {
#pragma omp simd
          for (int c = 0; c < kend; ++c) o[c] = pr[c] * (g[c] - di);
        }
        std::memset(o + kend, 0, sizeof(float) * (L - kend));
      }
      // dQ_blk = scale dS K; dK += scale dS^T Q_blk.
      if (dq) {
        if (kend > 0) {
          Sgemm('N', 'N', rows, d, kend, scale, dsb, L, k + qoff, qs, 0.0f, dq + qoff + i0 * qs,
                qs);
        } else {
          for (int r = 0; r < rows; ++r)
            std::memset(dq + qoff + (i0 + r) * qs, 0, sizeof(float) * d);
        }
      }
      if (dk && kend > 0)
        Sgemm('T', 'N', kend, d, rows, scale, dsb, L, q + qoff + i0 * qs, qs, 1.0f, dk + qoff, qs);
    }
  }
  if (!dshared) return;
  // dshared[h, i, :L] += sum_b dS[b, h, i, :L], b in order: one writer per (head, row).
  const int64_t items = static_cast<int64_t>(H) * L;
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < items; ++item) {
    const int h = static_cast<int>(item / L), i = static_cast<int>(item % L);
    float* dst = dshared + (static_cast<int64_t>(h) * P + i) * P;
    for (int b = 0; b < s.batch; ++b) {
      const float* src = dsbase + ((static_cast<int64_t>(b) * H + h) * L + i) * L;
#pragma omp simd
      for (int j = 0; j < L; ++j) dst[j] += src[j];
    }
  }
}

}  // namespace kernels
}  // namespace lra

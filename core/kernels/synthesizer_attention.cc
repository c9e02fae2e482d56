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
#include "core/kernels/attention_util.h"
#include "core/kernels/vmath/vmath.h"
#include "core/kernels/window_dropout.h"

namespace lra {
namespace kernels {
namespace {

using attention_util::AnyInvalid;
using attention_util::Valid;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void Sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  attention_util::Sgemm("SynthesizerAttention", ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                        ldc);
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

// The mask of core/kernels/window_dropout.h (and attention.h): M(b, h, i, j) is a pure function
// of (seed, b, head, i, j), drawn by WindowDropout::Row, so backward regenerates it.
struct Drop {
  WindowDropout w;
  bool on;

  explicit Drop(const SynthesizerDropout& d) : w(d.rate, d.seed), on(w.on) {
    ABSL_RAW_CHECK(d.rate >= 0.0f && d.rate < 1.0f,
                   "SynthesizerAttention: dropout rate must be in [0, 1)");
  }

  // dst[c] = src[c] M(b, h, i, c) / (1 - p) for c < n; dst[c] = 0 for n <= c < width.
  void Apply(int b, int h, int i, int n, int width, const float* src, float* dst) const {
    constexpr int kChunk = 256;  // keys per draw
    float factor[kChunk];
    for (int c = 0; c < n; c += kChunk) {
      const int m = std::min(n - c, kChunk);
      w.Row(b, h, i, c, m, factor);
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

// One (example, head) pair of a call: where its operands lie.
struct Pair {
  int b, h, len;
  const uint8_t* km;  // the example's mask row, or null
  int64_t qoff, voff;
  const float* sh;  // shared[h] (row stride P), or null
  const float* pe;  // per_example[b, h] (row stride L), or null

  Pair(const SynthesizerShape& s, int bh, const int* lengths, const uint8_t* mask,
       const float* shared, const float* per_example)
      : b(bh / s.heads), h(bh % s.heads), len(Length(s, lengths, bh / s.heads)) {
    const int64_t L = s.length;
    km = mask ? mask + b * L : nullptr;
    qoff = b * L * s.heads * s.qk_dim + static_cast<int64_t>(h) * s.qk_dim;
    voff = b * L * s.heads * s.v_dim + static_cast<int64_t>(h) * s.v_dim;
    sh = shared ? shared + static_cast<int64_t>(h) * s.shared_size * s.shared_size : nullptr;
    pe = per_example ? per_example + static_cast<int64_t>(bh) * L * L : nullptr;
  }
};

// The logits of the valid rows of query block [i0, i0 + rows) over keys [0, len) into blk
// (row stride L): scale Q K^T + shared + per_example, -inf at masked keys. Invalid rows and
// columns from len on are left as they are.
void Logits(const SynthesizerShape& s, const Pair& x, const float* q, const float* k, int i0,
            int rows, float* blk) {
  const int L = s.length, d = s.qk_dim, len = x.len;
  const int64_t qs = static_cast<int64_t>(s.heads) * d;
  if (len == 0) return;
  if (d > 0)
    Sgemm('N', 'T', rows, len, d, 1.0f / std::sqrt(static_cast<float>(d)), q + x.qoff + i0 * qs,
          qs, k + x.qoff, qs, 0.0f, blk, L);
  for (int r = 0; r < rows; ++r) {
    const int i = i0 + r;
    if (!Valid(x.km, len, i)) continue;
    float* row = blk + static_cast<int64_t>(r) * L;
    if (d == 0) std::memset(row, 0, sizeof(float) * len);
    if (x.sh) {
      const float* a = x.sh + static_cast<int64_t>(i) * s.shared_size;
#pragma omp simd
      for (int j = 0; j < len; ++j) row[j] += a[j];
    }
    if (x.pe) {
      const float* a = x.pe + static_cast<int64_t>(i) * L;
#pragma omp simd
      for (int j = 0; j < len; ++j) row[j] += a[j];
    }
    if (x.km) {
      const uint8_t* km = x.km;
#pragma omp simd
      for (int j = 0; j < len; ++j) row[j] = km[j] ? row[j] : kNegInf;
    }
  }
}

// exp(row - m) over [0, len) with masked keys exactly 0 (whatever the polynomial's clamp does
// with -inf), and 0 over [len, L).
void ExpRow(const uint8_t* km, int len, int L, float m, float* row) {
#pragma omp simd
  for (int j = 0; j < len; ++j) row[j] -= m;
  vmath::Exp(row, row, len);
  if (km) {
#pragma omp simd
    for (int j = 0; j < len; ++j) row[j] = km[j] ? row[j] : 0.0f;
  }
  std::memset(row + len, 0, sizeof(float) * (L - len));
}

}  // namespace

int64_t SynthesizerSavedFloats(const SynthesizerShape& s, SynthesizerSaved kind) {
  const int64_t rows = static_cast<int64_t>(s.batch) * s.heads * s.length;
  return kind == SynthesizerSaved::kProbs ? rows * s.length : rows;
}

void SynthesizerForward(const SynthesizerShape& s, SynthesizerSaved kind, const float* q,
                        const float* k, const float* v, const float* shared,
                        const float* per_example, const int* lengths, const uint8_t* mask,
                        const SynthesizerDropout& drop, float* out, float* saved) {
  Check(s);
  const int L = s.length, dv = s.v_dim;
  const int64_t vs = static_cast<int64_t>(s.heads) * dv;
  const float uniform = 1.0f / static_cast<float>(L);
  const int R = RowBlock(L), pairs = s.batch * s.heads;
  const bool keep_probs = kind == SynthesizerSaved::kProbs;
  const Drop dropper(drop);
  // Per thread: the block of P (R x L) unless P is kept in `saved`, and with dropout the
  // dropped block P~ (R x L) that the PV product reads.
  const int64_t block = (static_cast<int64_t>(R) * L + 15) / 16 * 16;
  const int64_t per_thread = (keep_probs ? 0 : block) + (dropper.on ? block : 0);
  float* scratch = per_thread ? Scratch(per_thread, omp_get_max_threads()) : nullptr;
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < pairs; ++bh) {
    const Pair x(s, bh, lengths, mask, shared, per_example);
    float* mine = scratch ? scratch + per_thread * omp_get_thread_num() : nullptr;
    float* pblk = keep_probs ? nullptr : mine;
    float* pd = dropper.on ? mine + (keep_probs ? 0 : block) : nullptr;
    for (int i0 = 0; i0 < L; i0 += R) {
      const int rows = std::min(R, L - i0);
      const int kend = AnyInvalid(x.km, x.len, i0, rows) ? L : x.len;
      float* pb = keep_probs ? saved + (static_cast<int64_t>(bh) * L + i0) * L : pblk;
      Logits(s, x, q, k, i0, rows, pb);
      for (int r = 0; r < rows; ++r) {
        const int i = i0 + r;
        float* row = pb + static_cast<int64_t>(r) * L;
        float* dr = pd ? pd + static_cast<int64_t>(r) * kend : nullptr;
        if (!Valid(x.km, x.len, i)) {  // flax: every logit at -1e10: P is uniform over all L keys
          std::fill(row, row + L, uniform);
          if (dr) dropper.Apply(x.b, x.h, i, L, L, row, dr);
          if (!keep_probs) saved[static_cast<int64_t>(bh) * L + i] = 0.0f;  // unused
          continue;
        }
        // A valid row sees its own key, so the maximum is finite and the sum >= 1.
        float mx = kNegInf;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < x.len; ++j) mx = std::max(mx, row[j]);
        ExpRow(x.km, x.len, L, mx, row);
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < x.len; ++j) sum += row[j];
        const float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < x.len; ++j) row[j] *= inv;
        if (!keep_probs) saved[static_cast<int64_t>(bh) * L + i] = mx + std::log(sum);
        if (dr) dropper.Apply(x.b, x.h, i, x.len, kend, row, dr);
      }
      // O_blk = P_blk V (or P~_blk V) over the keys any row of the block reads.
      float* ob = out + x.voff + i0 * vs;
      if (pd) {
        Sgemm('N', 'N', rows, dv, kend, 1.0f, pd, kend, v + x.voff, vs, 0.0f, ob, vs);
      } else {
        Sgemm('N', 'N', rows, dv, kend, 1.0f, pb, L, v + x.voff, vs, 0.0f, ob, vs);
      }
    }
  }
}

void SynthesizerBackward(const SynthesizerShape& s, SynthesizerSaved kind, const float* q,
                         const float* k, const float* v, const float* shared,
                         const float* per_example, const int* lengths, const uint8_t* mask,
                         const SynthesizerDropout& drop, const float* out, float* saved,
                         const float* dout, float* dq, float* dk, float* dv, float* dlogits,
                         float* dshared) {
  Check(s);
  ABSL_RAW_CHECK(s.qk_dim > 0 || (dq == nullptr && dk == nullptr),
                 "SynthesizerAttention: dq, dk without a dot product");
  const int L = s.length, H = s.heads, d = s.qk_dim, dvd = s.v_dim, P = s.shared_size;
  const int64_t qs = static_cast<int64_t>(H) * d, vs = static_cast<int64_t>(H) * dvd;
  const int64_t LL = static_cast<int64_t>(L) * L;
  const float scale = d > 0 ? 1.0f / std::sqrt(static_cast<float>(d)) : 0.0f;
  const float uniform = 1.0f / static_cast<float>(L);
  const int R = RowBlock(L), threads = omp_get_max_threads();
  const bool keep_probs = kind == SynthesizerSaved::kProbs;
  const Drop dropper(drop);
  // Where dS goes: dlogits when asked for; else P's place (kProbs); else, when the shared
  // gradient needs it whole, a buffer of G examples (summed into dshared per chunk); else a
  // per-thread block.
  int chunk = s.batch;
  float* dsall = dlogits ? dlogits : keep_probs ? saved : nullptr;
  std::unique_ptr<float, void (*)(void*)> chunk_buf(nullptr, std::free);
  if (!dsall && dshared) {
    chunk = std::max(1, std::min(s.batch, threads / H));
    const size_t bytes = (static_cast<size_t>(chunk * H * LL) * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);  // a size that is a multiple of the alignment
    ABSL_RAW_CHECK(p != nullptr, "SynthesizerAttention: out of memory for dS");
    chunk_buf.reset(static_cast<float*>(p));
  }
  // Per thread: dP (R x L), the row dots D (L), the recomputed P block (R x L, kLogsumexp), the
  // block of dS when it has no other home (R x L), the regenerated P~ (R x L, dropout).
  const int64_t block = (static_cast<int64_t>(R) * L + 15) / 16 * 16;
  const bool ds_block = !dsall && !dshared;
  const int64_t per_thread = block + (L + 15) / 16 * 16 + (keep_probs ? 0 : block) +
                             (ds_block ? block : 0) + (dropper.on ? block : 0);
  float* scratch = Scratch(per_thread, threads);
  for (int b0 = 0; b0 < s.batch; b0 += chunk) {
    const int nb = std::min(chunk, s.batch - b0);
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = b0 * H; bh < (b0 + nb) * H; ++bh) {
      const Pair x(s, bh, lengths, mask, shared, per_example);
      float* dp = scratch + per_thread * omp_get_thread_num();
      float* dvec = dp + block;
      float* next = dvec + (L + 15) / 16 * 16;
      float* pblk = keep_probs ? nullptr : next;
      next += keep_probs ? 0 : block;
      float* dsblk = ds_block ? next : nullptr;
      next += ds_block ? block : 0;
      float* pd = dropper.on ? next : nullptr;
      // dK and dV add over the row blocks (beta = 1), so start at 0; keys no row reads stay 0.
      for (int t = 0; t < L; ++t) {
        if (dk) std::memset(dk + x.qoff + t * qs, 0, sizeof(float) * d);
        if (dv) std::memset(dv + x.voff + t * vs, 0, sizeof(float) * dvd);
      }
      // D_i = <dO_i, O_i> = sum_j P~_ij dP~_ij.
      for (int i = 0; i < L; ++i) {
        const float* a = dout + x.voff + i * vs;
        const float* o = out + x.voff + i * vs;
        float acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int c = 0; c < dvd; ++c) acc += a[c] * o[c];
        dvec[i] = acc;
      }
      const float* lse = keep_probs ? nullptr : saved + static_cast<int64_t>(bh) * L;
      float* ds = dsall ? dsall + bh * LL
                        : chunk_buf ? chunk_buf.get() + (bh - b0 * H) * LL : nullptr;
      for (int i0 = 0; i0 < L; i0 += R) {
        const int rows = std::min(R, L - i0);
        const int kend = AnyInvalid(x.km, x.len, i0, rows) ? L : x.len;
        const float* pb;
        if (keep_probs) {
          pb = saved + bh * LL + static_cast<int64_t>(i0) * L;
        } else {  // P = exp(S - lse) for valid rows, 1/L across invalid ones
          Logits(s, x, q, k, i0, rows, pblk);
          for (int r = 0; r < rows; ++r) {
            float* row = pblk + static_cast<int64_t>(r) * L;
            if (Valid(x.km, x.len, i0 + r)) {
              ExpRow(x.km, x.len, L, lse[i0 + r], row);
            } else {
              std::fill(row, row + L, uniform);
            }
          }
          pb = pblk;
        }
        float* dsb = ds ? ds + static_cast<int64_t>(i0) * L : dsblk;
        const float* dob = dout + x.voff + i0 * vs;
        if (pd)
          for (int r = 0; r < rows; ++r)
            dropper.Apply(x.b, x.h, i0 + r, Valid(x.km, x.len, i0 + r) ? x.len : L, kend,
                          pb + static_cast<int64_t>(r) * L, pd + static_cast<int64_t>(r) * kend);
        // dV += P~_blk^T dO_blk; dP~ = dO_blk V^T (rows x kend).
        if (dv && kend > 0)
          Sgemm('T', 'N', kend, dvd, rows, 1.0f, pd ? pd : pb, pd ? kend : L, dob, vs, 1.0f,
                dv + x.voff, vs);
        if (kend > 0)
          Sgemm('N', 'T', rows, kend, dvd, 1.0f, dob, vs, v + x.voff, vs, 0.0f, dp, kend);
        // dS = P (dP - D), or P~ dP~ - P D with dropout (in place over P when dsb is P's rows).
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
            Sgemm('N', 'N', rows, d, kend, scale, dsb, L, k + x.qoff, qs, 0.0f,
                  dq + x.qoff + i0 * qs, qs);
          } else {
            for (int r = 0; r < rows; ++r)
              std::memset(dq + x.qoff + (i0 + r) * qs, 0, sizeof(float) * d);
          }
        }
        if (dk && kend > 0)
          Sgemm('T', 'N', kend, d, rows, scale, dsb, L, q + x.qoff + i0 * qs, qs, 1.0f,
                dk + x.qoff, qs);
      }
    }
    if (!dshared) continue;
    // dshared[h, i, :L] += sum_b dS[b, h, i, :L], b in order: one writer per (head, row).
    const int64_t items = static_cast<int64_t>(H) * L;
#pragma omp parallel for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int h = static_cast<int>(item / L), i = static_cast<int>(item % L);
      float* dst = dshared + (static_cast<int64_t>(h) * P + i) * P;
      for (int b = b0; b < b0 + nb; ++b) {
        const float* src = (chunk_buf ? chunk_buf.get() + static_cast<int64_t>(b - b0) * H * LL
                                      : dsall + static_cast<int64_t>(b) * H * LL) +
                           h * LL + static_cast<int64_t>(i) * L;
#pragma omp simd
        for (int j = 0; j < L; ++j) dst[j] += src[j];
      }
    }
  }
}

}  // namespace kernels
}  // namespace lra

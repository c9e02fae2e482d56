#include "core/ops/ssm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <new>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "core/kernels/vmath/exp_poly.h"
#include "core/kernels/vmath/vmath.h"
#include "core/ops/recurrent_internal.h"
#include "core/parallel.h"

#pragma GCC optimize("O3")

// The lane loops below are written for the vectoriser; compile them for AVX-512, AVX2 and
// baseline x86-64 and pick at load time, as core/kernels/vmath does.
#define LRA_SSM_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))

namespace lra {
namespace ssm_internal {

constexpr int kW = 16;     // channel lanes per block (one AVX-512 vector of floats)
constexpr int kT = 64;     // time steps per chunk; also the spacing of saved states
constexpr int kGroup = 4;  // channel blocks per work item (64 channels)
constexpr int kAhead = 8;  // rows prefetched ahead

// log(1 + t) for t in [0, 1] as 2 atanh(s), s = t / (2 + t) in [0, 1/3]:
// 2 s (1 + s^2/3 + s^4/5 + ... + s^14/15); the first omitted term is s^16/17 <= 3.4e-9 relative.
// Inlined always: the vector form must compile inside each ISA clone of its caller.
template <typename F>  // float, or the 16-lane vector V below
inline __attribute__((always_inline)) F Log1pUnit(F t) {
  const F s = t / (2.0f + t);
  const F s2 = s * s;
  F p = s2 * (1.0f / 15) + 1.0f / 13;
  p = p * s2 + 1.0f / 11;
  p = p * s2 + 1.0f / 9;
  p = p * s2 + 1.0f / 7;
  p = p * s2 + 1.0f / 5;
  p = p * s2 + 1.0f / 3;
  p = p * s2 + 1.0f;
  return 2.0f * s * p;
}

// y = softplus(x) = max(x, 0) + log1p(exp(-|x|)) (x itself above 20), and, if sig is non-null,
// sig = sigmoid(x) = d softplus / dx, both from one exp. e holds n floats of scratch.
LRA_SSM_CLONES void Softplus(const float* x, float* y, float* sig, float* e, int64_t n) {
  for (int64_t i = 0; i < n; ++i) e[i] = -std::fabs(x[i]);
  vmath::Exp(e, e, n);
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float sp = std::max(v, 0.0f) + Log1pUnit<float>(e[i]);
    y[i] = v > 20.0f ? v : sp;
    if (sig) sig[i] = (v >= 0.0f ? 1.0f : e[i]) / (1.0f + e[i]);
  }
}

struct ScanArgs {
  int64_t batch = 0, len = 0, dim = 0, nstate = 0;
  const float* u = nullptr;
  const float* delta = nullptr;
  const float* A = nullptr;
  const float* B = nullptr;
  const float* C = nullptr;
  const float* D = nullptr;     // optional
  const float* z = nullptr;     // optional
  const float* bias = nullptr;  // optional
  bool softplus = false;
  int64_t nblocks = 0, ngroups = 0, nchunks = 0, dpad = 0;
};

// std::vector storage on 64-byte boundaries, so every [.][kW] row of the scratch buffers below
// is one cache line: a 16-lane vector load or store that straddled two lines (malloc aligns to
// 16 bytes only) costs about twice as much.
template <typename T>
struct LineAllocator {
  using value_type = T;
  LineAllocator() = default;
  template <typename U>
  LineAllocator(const LineAllocator<U>&) {}  // NOLINT: rebinding, as std::allocator
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <typename U>
  bool operator==(const LineAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const LineAllocator<U>&) const { return false; }
};
using Lines = std::vector<float, LineAllocator<float>>;

// Per-work-item scratch. Lanes beyond the channel count hold zeros (u, dout, A), so they carry
// a zero state and contribute nothing to any sum. The [T][N][kW] buffers are backward's only.
// One per thread (ThreadScratch), reset for each item: allocating and freeing it per item made
// glibc return the top of its heap to the system and fault it back in, about 290 page faults
// per training step of the model benchmark.
struct Scratch {
  // Every buffer zero, as new, except the [T][N][kW] ones, which each chunk writes (rows < T)
  // before it reads them.
  void Reset(int64_t n, bool backward) {
    for (Lines* v : {&dt, &sig, &u, &sz, &zv, &dout, &y, &g, &gu, &tmp}) v->assign(kT * kW, 0.0f);
    if (backward)
      for (Lines* v : {&dA, &hs, &dBl, &dCl})
        if (v->size() < static_cast<size_t>(kT * n * kW)) v->resize(kT * n * kW);
    for (Lines* v : {&At, &A2, &h, &carry, &dAacc}) v->assign(kGroup * n * kW, 0.0f);
    h0.assign(n * kW, 0.0f);
    dDacc.assign(kGroup * kW, 0.0f);
    dbacc.assign(kGroup * kW, 0.0f);
    a_nonpositive = false;
  }
  Lines dt, sig, u, sz, zv, dout, y, g, gu, tmp;  // [kT][kW]
  Lines dA, hs, dBl, dCl;                         // [kT][N][kW]
  Lines At, A2, h;                                // [kGroup][N][kW]
  Lines h0;                                       // [N][kW]
  Lines carry, dAacc;                             // [kGroup][N][kW]
  Lines dDacc, dbacc;                             // [kGroup][kW]
  bool a_nonpositive = false;  // every A of the item <= 0 (LoadA)
};

Scratch& ThreadScratch(int64_t n, bool backward) {
  thread_local Scratch s;
  s.Reset(n, backward);
  return s;
}

// The 16 lanes of a block as one GCC vector: one AVX-512 register, or two AVX2 / four SSE
// registers, in each clone. Loads and stores are unaligned moves (memcpy of a fixed size).
typedef float V __attribute__((vector_size(kW * sizeof(float))));
typedef int32_t VI __attribute__((vector_size(kW * sizeof(int32_t))));
#define LRA_SSM_INLINE inline __attribute__((always_inline))

LRA_SSM_INLINE V Ld(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
LRA_SSM_INLINE void St(float* p, V v) { std::memcpy(p, &v, sizeof v); }
LRA_SSM_INLINE V Bc(float x) { return V{} + x; }

// lanes[w] = p[d0 + w] for w < valid, 0 beyond (p may be null: all 0).
LRA_SSM_INLINE V LoadPadded(const float* p, int64_t d0, int valid) {
  float l[kW] = {};
  if (p) std::memcpy(l, p + d0, valid * sizeof(float));
  return Ld(l);
}

// lanes[w] = x[row * dim + d0 + w] for w < valid, 0 beyond.
LRA_SSM_INLINE V LoadRow(const float* x, int64_t dim, int64_t row, int64_t d0, int valid) {
  const float* src = x + row * dim + d0;
  if (valid == kW) return Ld(src);  // one vector move, not a memcpy call
  float l[kW] = {};
  std::memcpy(l, src, valid * sizeof(float));
  return Ld(l);
}

// x[row * dim + d0 + w] = lanes[w] for w < valid.
LRA_SSM_INLINE void StoreRow(V v, int64_t dim, int64_t row, int64_t d0, int valid, float* x) {
  float* dst = x + row * dim + d0;
  if (valid == kW) {
    St(dst, v);
  } else {
    float l[kW];
    St(l, v);
    std::memcpy(dst, l, valid * sizeof(float));
  }
}

// VRNDSCALEPS (round to nearest even) and VSCALEFPS (a 2^floor(b)) on 16 lanes, AVX-512F only:
// as inline assembly, because the intrinsics may not be inlined into these templates, which
// are compiled for every clone (the kScalef instantiations run only inside the
// target("avx512f") kernels below).
LRA_SSM_INLINE V RoundV(V x) {
  V r;
  asm("vrndscaleps $8, %1, %0" : "=v"(r) : "v"(x));  // imm 8: nearest even, no inexact
  return r;
}
LRA_SSM_INLINE V ScalefV(V a, V b) {
  V r;
  asm("vscalefps %2, %1, %0" : "=v"(r) : "v"(a), "v"(b));
  return r;
}

std::atomic<bool> g_avx512_allowed{true};  // SetAvx512ForTesting

bool HasAvx512F() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has && g_avx512_allowed.load(std::memory_order_relaxed);
}

void SetAvx512ForTesting(bool allowed) { g_avx512_allowed.store(allowed); }

// vmath::Exp on 16 lanes, inlined (the same clamp, polynomial and two-factor 2^k, so the same
// values). kScalef (AVX-512 only): p 2^k by VSCALEFPS, the same product (k is in [-126, 127]
// after the clamp), in one instruction where the integer route takes eight.
template <bool kScalef = false>
LRA_SSM_INLINE V ExpV(V x) {
  V k;
  const V p = vmath::ExpMantissa(x, &k);
  if constexpr (kScalef) return ScalefV(p, k);
  const VI ki = __builtin_convertvector(k, VI);
  const VI k1 = ki >> 1, k2 = ki - k1;
  return p * (V)((k1 + 127) << 23) * (V)((k2 + 127) << 23);  // bit casts: 2^k1, 2^k2
}

// Loads one block's chunk in one pass over its rows: u, dt = softplus(delta + bias) (as
// Softplus above, with sigmoid(dt), its derivative, when `sig` is set: backward only), z and
// sigmoid(z) (as vmath::Sigmoid). Each row is computed in registers as it is loaded, instead of
// a pass per array and per function over the [T][kW] scratch. Rows kAhead ahead are prefetched:
// a block reads one line per row, rows D floats apart.
// kFull: all 16 lanes valid, so the row loads are plain vector moves (a runtime `valid` keeps
// the partial-row path, whose copies through the stack kept the bias vector there).
template <bool kScalef, bool kFull>
LRA_SSM_INLINE void PrepareChunkT(const ScanArgs& a, int64_t b, int64_t t0, int T, int64_t d0,
                                  int valid, bool sig, Scratch& s) {
  if constexpr (kFull) valid = kW;
  const int64_t row0 = b * a.len + t0;
  const V bv = a.bias ? LoadRow(a.bias, 0, 0, d0, valid) : V{};
  const float* __restrict__ up = a.u;
  const float* __restrict__ dp = a.delta;
  const float* __restrict__ zp = a.z;
  const int64_t dim = a.dim;
  const bool softplus = a.softplus;
  for (int t = 0; t < T; ++t) {
    const int64_t row = row0 + t, q = t * kW;
    if (t + kAhead < T) {
      const int64_t off = (row + kAhead) * dim + d0;
      __builtin_prefetch(up + off, 0, 3);
      __builtin_prefetch(dp + off, 0, 3);
      if (zp) __builtin_prefetch(zp + off, 0, 3);
    }
    St(&s.u[q], LoadRow(up, dim, row, d0, valid));
    V x = LoadRow(dp, dim, row, d0, valid) + bv;
    if (softplus) {
      const V e = ExpV<kScalef>(x < 0.0f ? x : -x);  // exp(-|x|)
      const V sp = (x > 0.0f ? x : V{}) + Log1pUnit(e);
      if (sig) St(&s.sig[q], (x >= 0.0f ? Bc(1.0f) : e) / (1.0f + e));
      x = x > 20.0f ? x : sp;
    }
    St(&s.dt[q], x);
    if (zp) {
      const V zv = LoadRow(zp, dim, row, d0, valid);
      St(&s.zv[q], zv);
      St(&s.sz[q], 1.0f / (1.0f + ExpV<kScalef>(-zv)));
    }
  }
}

__attribute__((target("avx512f"))) void PrepareChunkAvx512(const ScanArgs& a, int64_t b,
                                                           int64_t t0, int T, int64_t d0,
                                                           int valid, bool sig, Scratch& s) {
  if (valid == kW) {
    PrepareChunkT<true, true>(a, b, t0, T, d0, valid, sig, s);
  } else {
    PrepareChunkT<true, false>(a, b, t0, T, d0, valid, sig, s);
  }
}

LRA_SSM_CLONES void PrepareChunk(const ScanArgs& a, int64_t b, int64_t t0, int T, int64_t d0,
                                 int valid, bool sig, Scratch& s) {
  if (HasAvx512F()) {
    PrepareChunkAvx512(a, b, t0, T, d0, valid, sig, s);
  } else {
    PrepareChunkT<false, false>(a, b, t0, T, d0, valid, sig, s);
  }
}

// 2^x on 16 lanes, inlined into the recurrence instead of a pass over a [T][N][kW] buffer; the
// recurrence passes x = dt (A log2 e) with A log2 e formed once per block (LoadA), so
// exp(dt A) = 2^x needs no range-reduction multiply. x is clamped to [-126, 127] (2^-126 is
// the smallest normal float: below it exp(dt A) < 1.2e-38 does not change any sum; the upper
// end matters only for A > 0). Then x = k + r with k = round(x) and r in [-1/2, 1/2]:
// adding 1.5 * 2^23 + 127 rounds x to an integer in the low mantissa bits, so those bits,
// shifted into the exponent field, are 2^k itself (the high bits shift out), with no float to
// int conversion. 2^r by Exp2Poly, a degree-5 polynomial on [-1/2, 1/2] fitted for relative
// error (Remez; 7.5e-8 in exact arithmetic, 2.1e-7 evaluated in float with FMAs, the 2.1e-7 of
// the degree-6 Taylor polynomial of vmath's exp (exp_poly.h) evaluated the same way, one FMA
// less per state and step). Against exp(dt A) the
// result differs by the rounding of A log2 e, a relative error of |dt A| eps, the size of the
// rounding of the product dt A that the float recurrence already carries.
// kNonPositive: the caller knows x <= 0 (dt >= 0 after the softplus and every A <= 0, as in
// Mamba, where A = -exp(A_log)), so the upper clamp, a no-op there, is left out.
//
// kScalef (AVX-512 only, with kNonPositive): k = round(x) by VRNDSCALEPS and 2^r 2^k by
// VSCALEFPS, three instructions where the exponent-field trick takes six (clamp, round, two
// subtractions, shift, multiply). Below the clamp, where the trick returns 2^-126 p(0), VSCALEFPS
// gives the subnormal or zero exp(dt A) rounds to; elsewhere round(x), r and 2^k are the same,
// so the result is the same float.
// 2^r for r in [-1/2, 1/2]: vmath's degree-5 minimax polynomial (exp_poly.h).
LRA_SSM_INLINE V Exp2Poly(V r) { return vmath::Exp2Poly(r); }

template <bool kNonPositive = false, bool kScalef = false>
LRA_SSM_INLINE V Exp2V(V x) {
  if constexpr (kScalef) {
    static_assert(kNonPositive, "the scalef form has no upper clamp");
    const V k = RoundV(x);
    const V r = x - k;  // exact, in [-1/2, 1/2]
    return ScalefV(Exp2Poly(r), k);
  }
  const V lo = Bc(-126.0f), hi = Bc(127.0f);
  x = x > lo ? x : lo;
  if constexpr (!kNonPositive) x = x < hi ? x : hi;
  const float kShift = 12582912.0f + 127.0f;  // 1.5 * 2^23 + the exponent bias
  const V t = x + kShift;                     // low mantissa bits: round(x) + 127
  const V r = x - (t - kShift);               // exact
  return Exp2Poly(r) * (V)((VI)t << 23);  // bit casts: the exponent field (round(x) + 127) << 23 is 2^k
}

// The sum of the 16 lanes (pairwise halving).
LRA_SSM_INLINE float HSum(V v) {
  float s[kW];
  St(s, v);
  for (int w = 0; w < 8; ++w) s[w] += s[w + 8];
  for (int w = 0; w < 4; ++w) s[w] += s[w + 4];
  return (s[0] + s[2]) + (s[1] + s[3]);
}

// The recurrence over one chunk of one block, on kN states (0: N known only at run time; with
// kN set the loops unroll and the state stays in registers):
//   dA = exp(dt A) = 2^(dt A2);  h <- dA h + (dt u) B;  y[t] = sum_n C h.
// h [N][kW] in/out, A2 [N][kW] = A log2 e, dt, u, y [T][kW], B, C [T][N] rows of the batch.
// kRecompute (backward): also keeps every state hs [T][N][kW] and dA [T][N][kW], and sets
// (kFirst) or adds dy[t] h_t into dCl [T][N][kW], dC's lanes.
template <int kN, bool kRecompute, bool kFirst, bool kNonPositive, bool kScalef = false>
LRA_SSM_INLINE void ScanChunkT(int T, int64_t n_rt, const float* __restrict__ dt,
                               const float* __restrict__ u, const float* __restrict__ A2,
                               const float* __restrict__ Bp, const float* __restrict__ Cp,
                               float* __restrict__ h, float* __restrict__ y,
                               float* __restrict__ hs, float* __restrict__ dAs,
                               const float* __restrict__ dy, float* __restrict__ dCl) {
  const int64_t n = kN > 0 ? kN : n_rt;
  V hl[kN > 0 ? kN : 1];
  if constexpr (kN > 0)
    for (int j = 0; j < kN; ++j) hl[j] = Ld(h + j * kW);
  for (int t = 0; t < T; ++t) {
    const V dtv = Ld(dt + t * kW), duv = dtv * Ld(u + t * kW);
    V dyv = V{};
    if constexpr (kRecompute) dyv = Ld(dy + t * kW);
    // State j: returns the new h_j; stores what backward keeps.
    auto state = [&](int64_t j) __attribute__((always_inline)) {
      V hv;
      if constexpr (kN > 0) {
        hv = hl[j];
      } else {
        hv = Ld(h + j * kW);
      }
      const V da = Exp2V<kNonPositive, kScalef>(dtv * Ld(A2 + j * kW));
      hv = da * hv + duv * Bp[t * n + j];
      if constexpr (kN > 0) {
        hl[j] = hv;
      } else {
        St(h + j * kW, hv);
      }
      if constexpr (kRecompute) {
        const int64_t q = (t * n + j) * kW;
        St(dAs + q, da);
        St(hs + q, hv);
        St(dCl + q, kFirst ? dyv * hv : Ld(dCl + q) + dyv * hv);
      }
      return hv * Cp[t * n + j];
    };
    // Two partial sums over the states (even and odd j) halve the dependency chain.
    V acc0 = V{}, acc1 = V{};
    int64_t j = 0;
#pragma GCC unroll 8
    for (; j + 1 < n; j += 2) {
      acc0 += state(j);
      acc1 += state(j + 1);
    }
    if (j < n) acc0 += state(j);
    St(y + t * kW, acc0 + acc1);
  }
  if constexpr (kN > 0)
    for (int j = 0; j < kN; ++j) St(h + j * kW, hl[j]);
}

// Mamba's case (N = 16, dt A <= 0) on AVX-512: the scalef form of Exp2V (see there).
__attribute__((target("avx512f"))) void ScanChunk16Avx512(bool recompute, int T,
                                                          const float* dt, const float* u,
                                                          const float* A2, const float* Bp,
                                                          const float* Cp, float* h, float* y,
                                                          float* hs, float* dAs, const float* dy,
                                                          float* dCl, bool first) {
#define LRA_SSM_SCAN(KR, KF) \
  ScanChunkT<16, KR, KF, true, true>(T, 16, dt, u, A2, Bp, Cp, h, y, hs, dAs, dy, dCl)
  if (!recompute) {
    LRA_SSM_SCAN(false, false);
  } else if (first) {
    LRA_SSM_SCAN(true, true);
  } else {
    LRA_SSM_SCAN(true, false);
  }
#undef LRA_SSM_SCAN
}

LRA_SSM_CLONES void ScanChunk(bool recompute, int T, int64_t n, const float* dt, const float* u,
                              const float* A2, const float* Bp, const float* Cp, float* h,
                              float* y, float* hs, float* dAs, const float* dy, float* dCl,
                              bool first, bool nonpositive) {
// Each kernel is named out with its template arguments (not through a pointer), so it is
// inlined into this function's clones and compiled for each one's instruction set.
#define LRA_SSM_SCAN(KN, KR, KF, KP) \
  ScanChunkT<KN, KR, KF, KP>(T, n, dt, u, A2, Bp, Cp, h, y, hs, dAs, dy, dCl)
// Forward, recompute of the first block, recompute of the others.
#define LRA_SSM_SCAN3(KN, KP)           \
  if (!recompute) {                     \
    LRA_SSM_SCAN(KN, false, false, KP); \
  } else if (first) {                   \
    LRA_SSM_SCAN(KN, true, true, KP);   \
  } else {                              \
    LRA_SSM_SCAN(KN, true, false, KP);  \
  }
  if (n == 16 && nonpositive && HasAvx512F()) {  // Mamba: d_state 16, dt A <= 0
    ScanChunk16Avx512(recompute, T, dt, u, A2, Bp, Cp, h, y, hs, dAs, dy, dCl, first);
  } else if (n == 16 && nonpositive) {
    LRA_SSM_SCAN3(16, true)
  } else if (n == 16) {
    LRA_SSM_SCAN3(16, false)
  } else {
    LRA_SSM_SCAN3(0, false)
  }
#undef LRA_SSM_SCAN3
#undef LRA_SSM_SCAN
}

// Reverse recurrence over one chunk of one block, given the recomputed states hs, their dA and
// the state h0 before the chunk. dy[t][w] = d out / d y (the gate applied). carry[n][w] =
// dA_{t+1} dh_{t+1} from the chunk after (zero after the last). With dh = dy C + carry:
//   g[t]  = d/d dt = sum_n dh (dA A h_{t-1} + B u)      gu[t] = d/du = dt sum_n dh B
//   dAacc[n] += dh dA h_{t-1} dt                         dBl[t][n] (set if kFirst, else +=) dh dt u
template <int kN, bool kFirst>
LRA_SSM_INLINE void BackwardChunkT(int T, int64_t n_rt, const float* __restrict__ dAs,
                                   const float* __restrict__ dt, const float* __restrict__ u,
                                   const float* __restrict__ Bp, const float* __restrict__ Cp,
                                   const float* __restrict__ At, const float* __restrict__ h0,
                                   const float* __restrict__ hs, const float* __restrict__ dy,
                                   float* __restrict__ carry, float* __restrict__ dAacc,
                                   float* __restrict__ g, float* __restrict__ gu,
                                   float* __restrict__ dBl) {
  const int64_t n = kN > 0 ? kN : n_rt;
  // With kN set the carry stays in registers through the chunk (as the state in ScanChunkT).
  V cl[kN > 0 ? kN : 1];
  if constexpr (kN > 0)
    for (int j = 0; j < kN; ++j) cl[j] = Ld(carry + j * kW);
  for (int t = T - 1; t >= 0; --t) {
    const float* at = dAs + t * n * kW;
    const float* hp = t > 0 ? hs + (t - 1) * n * kW : h0;
    const V dyv = Ld(dy + t * kW), dtv = Ld(dt + t * kW), uv = Ld(u + t * kW);
    const V dtu = dtv * uv;
    // State j: adds its terms to ga (sum dh dA h A) and gb (sum dh B).
    auto state = [&](int64_t j, V& ga, V& gb) __attribute__((always_inline)) {
      const V aj = Ld(at + j * kW);
      V cj;
      if constexpr (kN > 0) {
        cj = cl[j];
      } else {
        cj = Ld(carry + j * kW);
      }
      const V dh = dyv * Cp[t * n + j] + cj;
      const V x = dh * Ld(hp + j * kW) * aj;  // d/d(dA) * dA
      ga += x * Ld(At + j * kW);
      gb += dh * Bp[t * n + j];
      St(dAacc + j * kW, Ld(dAacc + j * kW) + x * dtv);
      const int64_t q = (t * n + j) * kW;
      St(dBl + q, kFirst ? dh * dtu : Ld(dBl + q) + dh * dtu);
      if constexpr (kN > 0) {
        cl[j] = dh * aj;
      } else {
        St(carry + j * kW, dh * aj);
      }
    };
    V ga0 = V{}, ga1 = V{}, gb0 = V{}, gb1 = V{};
    int64_t j = 0;
#pragma GCC unroll 8
    for (; j + 1 < n; j += 2) {
      state(j, ga0, gb0);
      state(j + 1, ga1, gb1);
    }
    if (j < n) state(j, ga0, gb0);
    const V gb = gb0 + gb1;
    St(g + t * kW, (ga0 + ga1) + gb * uv);
    St(gu + t * kW, gb * dtv);
  }
  if constexpr (kN > 0)
    for (int j = 0; j < kN; ++j) St(carry + j * kW, cl[j]);
}

LRA_SSM_CLONES void BackwardChunk(int T, int64_t n, const float* dAs, const float* dt,
                                  const float* u, const float* Bp, const float* Cp,
                                  const float* At, const float* h0, const float* hs,
                                  const float* dy, float* carry, float* dAacc, float* g, float* gu,
                                  float* dBl, bool first) {
#define LRA_SSM_BACK(KN, KF) \
  BackwardChunkT<KN, KF>(T, n, dAs, dt, u, Bp, Cp, At, h0, hs, dy, carry, dAacc, g, gu, dBl)
  if (n == 16) {
    if (first) {
      LRA_SSM_BACK(16, true);
    } else {
      LRA_SSM_BACK(16, false);
    }
  } else if (first) {
    LRA_SSM_BACK(0, true);
  } else {
    LRA_SSM_BACK(0, false);
  }
#undef LRA_SSM_BACK
}

// c = a + b lane-pairwise after gathering: lanes of a and b (indices 0-15 of a, 16-31 of b)
// taken by `lo` and by `hi`, added.
LRA_SSM_INLINE V PairSum(V a, V b, VI lo, VI hi) {
  return __builtin_shuffle(a, b, lo) + __builtin_shuffle(a, b, hi);
}

// out[q] = sum of the 16 lanes of x[q][kW], for q < count. Sixteen rows at a time as a
// transposing tree (16 -> 8 -> 4 -> 2 -> 1 vectors, each step halving the partial sums per
// row), so each sum costs about two shuffles and one add instead of a horizontal sum each.
LRA_SSM_CLONES void SumLanes(const float* x, int64_t count, float* out) {
  int64_t q = 0;
  for (; q + kW <= count; q += kW) {
    V v[kW];
    for (int i = 0; i < kW; ++i) v[i] = Ld(x + (q + i) * kW);
    // Halves: lanes 0-7 of the result hold a's 8 partials, 8-15 b's.
    const VI lo1 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
    const VI hi1 = lo1 + 8;
    for (int i = 0; i < 8; ++i) v[i] = PairSum(v[2 * i], v[2 * i + 1], lo1, hi1);
    const VI lo2 = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
    const VI hi2 = lo2 + 4;
    for (int i = 0; i < 4; ++i) v[i] = PairSum(v[2 * i], v[2 * i + 1], lo2, hi2);
    const VI lo3 = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29};
    const VI hi3 = lo3 + 2;
    for (int i = 0; i < 2; ++i) v[i] = PairSum(v[2 * i], v[2 * i + 1], lo3, hi3);
    const VI lo4 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    St(out + q, PairSum(v[0], v[1], lo4, lo4 + 1));  // lane i: row q + i
  }
  for (; q < count; ++q) out[q] = HSum(Ld(x + q * kW));
}

// Blocks of work item (b, group): [j0, j1).
struct Item {
  int64_t b, j0, j1;
};
inline Item ItemOf(const ScanArgs& a, int64_t i) {
  const int64_t b = i / a.ngroups, g = i % a.ngroups;
  return {b, g * kGroup, std::min(a.nblocks, (g + 1) * kGroup)};
}
inline int ValidLanes(const ScanArgs& a, int64_t j) {
  return static_cast<int>(std::min<int64_t>(kW, a.dim - j * kW));
}

// At[j][n][w] = A[d0 + w, n] for each block of the item (zero beyond the channels), and
// A2 = At log2 e (for Exp2V).
void LoadA(const ScanArgs& a, const Item& it, Scratch& s) {
  const int64_t n = a.nstate;
  std::fill(s.At.begin(), s.At.end(), 0.0f);
  for (int64_t j = it.j0; j < it.j1; ++j) {
    float* at = s.At.data() + (j - it.j0) * n * kW;
    const int valid = ValidLanes(a, j);
    for (int w = 0; w < valid; ++w)
      for (int64_t k = 0; k < n; ++k) at[k * kW + w] = a.A[(j * kW + w) * n + k];
  }
  const float kLog2e = 1.44269504088896341f;
  s.a_nonpositive = true;
  for (size_t q = 0; q < s.At.size(); ++q) {
    s.A2[q] = s.At[q] * kLog2e;
    s.a_nonpositive = s.a_nonpositive && s.At[q] <= 0.0f;  // false for NaN
  }
}

// out rows [row0, row0 + T) of the block = (y + D u) * silu(z), y from s.y.
template <bool kFull>  // as PrepareChunkT
LRA_SSM_INLINE void FinishT(const ScanArgs& a, int T, int64_t row0, int64_t d0, int valid,
                            const Scratch& s, float* out) {
  if constexpr (kFull) valid = kW;
  const V dv = a.D ? LoadRow(a.D, 0, 0, d0, valid) : V{};
  for (int t = 0; t < T; ++t) {
    const int q = t * kW;
    V v = Ld(&s.y[q]) + dv * Ld(&s.u[q]);
    if (a.z) v *= Ld(&s.zv[q]) * Ld(&s.sz[q]);
    StoreRow(v, a.dim, row0 + t, d0, valid, out);
  }
}
LRA_SSM_CLONES void Finish(const ScanArgs& a, int T, int64_t row0, int64_t d0, int valid,
                           const Scratch& s, float* out) {
  if (valid == kW) {
    FinishT<true>(a, T, row0, d0, valid, s, out);
  } else {
    FinishT<false>(a, T, row0, d0, valid, s, out);
  }
}

// ckpt (may be null): [B, nchunks, N, dpad], the state before each chunk. last (may be null):
// [B, D, N].
LRA_SSM_CLONES void ForwardItem(const ScanArgs& a, int64_t i, float* out, float* ckpt, float* last) {
  const Item it = ItemOf(a, i);
  const int64_t n = a.nstate;
  Scratch& s = ThreadScratch(n, /*backward=*/false);
  LoadA(a, it, s);
  for (int64_t c = 0; c < a.nchunks; ++c) {
    const int64_t t0 = c * kT;
    const int T = static_cast<int>(std::min<int64_t>(kT, a.len - t0));
    const float* Bp = a.B + (it.b * a.len + t0) * n;
    const float* Cp = a.C + (it.b * a.len + t0) * n;
    for (int64_t j = it.j0; j < it.j1; ++j) {
      const int64_t d0 = j * kW;
      const int valid = ValidLanes(a, j);
      const float* A2 = s.A2.data() + (j - it.j0) * n * kW;
      float* h = s.h.data() + (j - it.j0) * n * kW;
      if (ckpt) {
        for (int64_t k = 0; k < n; ++k)
          std::memcpy(ckpt + ((it.b * a.nchunks + c) * n + k) * a.dpad + d0, h + k * kW,
                      kW * sizeof(float));
      }
      PrepareChunk(a, it.b, t0, T, d0, valid, /*sig=*/false, s);
      ScanChunk(/*recompute=*/false, T, n, s.dt.data(), s.u.data(), A2, Bp, Cp, h, s.y.data(),
                nullptr, nullptr, nullptr, nullptr, false,
                a.softplus && s.a_nonpositive);
      Finish(a, T, it.b * a.len + t0, d0, valid, s, out);
    }
  }
  if (last) {
    for (int64_t j = it.j0; j < it.j1; ++j) {
      const float* h = s.h.data() + (j - it.j0) * n * kW;
      for (int w = 0; w < ValidLanes(a, j); ++w)
        for (int64_t k = 0; k < n; ++k) last[(it.b * a.dim + j * kW + w) * n + k] = h[k * kW + w];
    }
  }
}

struct ScanGrads {
  float* du;      // [B, L, D]
  float* ddelta;  // [B, L, D]
  float* dz;      // [B, L, D] or null
  float* dB;      // partials [B, ngroups, L, N]
  float* dC;      // partials [B, ngroups, L, N]
  float* dA;      // partials [B, D, N]
  float* dD;      // partials [B, D]
  float* dbias;   // partials [B, D]
};

LRA_SSM_CLONES void BackwardItem(const ScanArgs& a, int64_t i, const float* dout, const float* ckpt,
                  const ScanGrads& gr) {
  const Item it = ItemOf(a, i);
  const int64_t n = a.nstate;
  const int64_t g = i % a.ngroups;
  Scratch& s = ThreadScratch(n, /*backward=*/true);
  LoadA(a, it, s);
  for (int64_t c = a.nchunks - 1; c >= 0; --c) {
    const int64_t t0 = c * kT;
    const int T = static_cast<int>(std::min<int64_t>(kT, a.len - t0));
    const int64_t row0 = it.b * a.len + t0;
    const float* Bp = a.B + row0 * n;
    const float* Cp = a.C + row0 * n;
    // One block; instantiated for full blocks (valid = 16 known: the row loads and stores are
    // plain vector moves) and for the partial last block.
    auto block = [&](auto full, int64_t j, int valid) __attribute__((always_inline)) {
      if constexpr (decltype(full)::value) valid = kW;
      const int64_t d0 = j * kW;
      const int64_t jj = j - it.j0;
      const bool first = j == it.j0;  // the first block sets dBl and dCl, the others add
      const float* At = s.At.data() + jj * n * kW;
      const float* A2 = s.A2.data() + jj * n * kW;
      for (int64_t k = 0; k < n; ++k)
        std::memcpy(s.h0.data() + k * kW, ckpt + ((it.b * a.nchunks + c) * n + k) * a.dpad + d0,
                    kW * sizeof(float));
      float* h = s.h.data() + jj * n * kW;
      std::copy(s.h0.begin(), s.h0.end(), h);
      PrepareChunk(a, it.b, t0, T, d0, valid, /*sig=*/true, s);
      // out = (y + D u) silu(z): dy = dout silu(z), needed by the recomputation (dC).
      for (int t = 0; t < T; ++t) {
        const int q = t * kW;
        if (t + kAhead < T) {
          const int64_t off = (row0 + t + kAhead) * a.dim + d0;
          __builtin_prefetch(dout + off, 0, 3);
          if (gr.dz) __builtin_prefetch(gr.dz + off, 1, 3);
          __builtin_prefetch(gr.du + off, 1, 3);
          __builtin_prefetch(gr.ddelta + off, 1, 3);
        }
        const V dov = LoadRow(dout, a.dim, row0 + t, d0, valid);
        St(&s.dout[q], dov);
        St(&s.tmp[q], a.z ? dov * Ld(&s.zv[q]) * Ld(&s.sz[q]) : dov);
      }
      ScanChunk(/*recompute=*/true, T, n, s.dt.data(), s.u.data(), A2, Bp, Cp, h, s.y.data(),
                s.hs.data(), s.dA.data(), s.tmp.data(), s.dCl.data(), first,
                a.softplus && s.a_nonpositive);
      // dz = dout (y + D u) silu'(z) with silu'(z) = sz (1 + z (1 - sz)); dD += dy u;
      // du = dy D (+ the recurrence below). s.dout becomes dy; dz goes straight to its rows.
      float* dDacc = s.dDacc.data() + jj * kW;
      const V dv = a.D ? LoadRow(a.D, 0, 0, d0, valid) : V{};
      V dDv = Ld(dDacc);
      for (int t = 0; t < T; ++t) {
        const int q = t * kW;
        const V dy = Ld(&s.tmp[q]), uv = Ld(&s.u[q]);
        if (a.z && gr.dz) {
          const V yf = Ld(&s.y[q]) + dv * uv;
          const V sz = Ld(&s.sz[q]), zv = Ld(&s.zv[q]);
          StoreRow(Ld(&s.dout[q]) * yf * sz * (1.0f + zv * (1.0f - sz)), a.dim, row0 + t, d0,
                   valid, gr.dz);
        }
        St(&s.dout[q], dy);
        dDv += dy * uv;
        St(&s.y[q], dy * dv);  // du from the skip
      }
      St(dDacc, dDv);
      BackwardChunk(T, n, s.dA.data(), s.dt.data(), s.u.data(), Bp, Cp, At, s.h0.data(),
                    s.hs.data(), s.dout.data(), s.carry.data() + jj * n * kW,
                    s.dAacc.data() + jj * n * kW, s.g.data(), s.gu.data(), s.dBl.data(), first);
      float* dbacc = s.dbacc.data() + jj * kW;
      V dbv = Ld(dbacc);
      for (int t = 0; t < T; ++t) {
        const int q = t * kW;
        StoreRow(Ld(&s.y[q]) + Ld(&s.gu[q]), a.dim, row0 + t, d0, valid, gr.du);
        V gv = Ld(&s.g[q]);
        if (a.softplus) gv *= Ld(&s.sig[q]);
        StoreRow(gv, a.dim, row0 + t, d0, valid, gr.ddelta);
        dbv += gv;
      }
      St(dbacc, dbv);
    };
    for (int64_t j = it.j0; j < it.j1; ++j) {
      const int valid = ValidLanes(a, j);
      if (valid == kW) {
        block(std::true_type{}, j, valid);
      } else {
        block(std::false_type{}, j, valid);
      }
    }
    // Sum the lanes: dB[b, g, t, n] = sum over the group's channels.
    SumLanes(s.dBl.data(), T * n, gr.dB + ((it.b * a.ngroups + g) * a.len + t0) * n);
    SumLanes(s.dCl.data(), T * n, gr.dC + ((it.b * a.ngroups + g) * a.len + t0) * n);
  }
  for (int64_t j = it.j0; j < it.j1; ++j) {
    const int64_t jj = j - it.j0;
    for (int w = 0; w < ValidLanes(a, j); ++w) {
      const int64_t d = j * kW + w;
      for (int64_t k = 0; k < n; ++k)
        gr.dA[(it.b * a.dim + d) * n + k] = s.dAacc[(jj * n + k) * kW + w];
      gr.dD[it.b * a.dim + d] = s.dDacc[jj * kW + w];
      gr.dbias[it.b * a.dim + d] = s.dbacc[jj * kW + w];
    }
  }
}

// out[i] = sum_p part[p * n + i] over p in [0, parts), in that order.
void SumParts(const float* part, int64_t parts, int64_t n, float* out) {
  SumPartsRows(part, 1, parts, n, out);
}

void SumPartsRows(const float* part, int64_t rows, int64_t parts, int64_t per, float* out) {
  if (parts <= 0) {
    std::fill(out, out + rows * per, 0.0f);
    return;
  }
  ParallelFor(
      rows * per,
      [&](int64_t e0, int64_t e1) {
        // Row by row over the range, parts added in order (0 + part 0 + part 1 + ...).
        for (int64_t e = e0; e < e1;) {
          const int64_t r = e / per, i0 = e % per, i1 = std::min(per, i0 + (e1 - e));
          const float* pr = part + r * parts * per;
          float* o = out + r * per;
          for (int64_t i = i0; i < i1; ++i) o[i] = 0.0f + pr[i];
          for (int64_t p = 1; p < parts; ++p)
            for (int64_t i = i0; i < i1; ++i) o[i] += pr[p * per + i];
          e += i1 - i0;
        }
      },
      parts);
}

LRA_SSM_CLONES void StepLanes(int64_t dim, int64_t n, const float* dA, const float* dt,
                              const float* u, const float* Bp, const float* Cp, float* h,
                              float* y) {
  for (int64_t d = 0; d < dim; ++d) {
    const float du = dt[d] * u[d];
    float acc = 0.0f;
    float* hd = h + d * n;
    const float* ad = dA + d * n;
    for (int64_t k = 0; k < n; ++k) {
      hd[k] = ad[k] * hd[k] + du * Bp[k];
      acc += hd[k] * Cp[k];
    }
    y[d] = acc;
  }
}

}  // namespace ssm_internal

using namespace ssm_internal;  // NOLINT: this file's own helpers

namespace {

void CheckOptional(const Var& v, const Shape& want, const char* name) {
  if (v.defined())
    LRA_CHECK(v.shape() == want) << "SelectiveScan: " << name << " " << v.shape().ToString()
                                 << ", want " << want.ToString();
}

}  // namespace

Var SelectiveScan(const Var& u, const Var& delta, const Var& A, const Var& B, const Var& C,
                  const Var& D, const Var& z, const Var& delta_bias, SelectiveScanOptions options,
                  Tensor* last_state) {
  LRA_CHECK(u.rank() == 3) << "SelectiveScan: u " << u.shape().ToString() << " must be [B, L, D]";
  LRA_CHECK(A.rank() == 2 && A.dim(0) == u.dim(2))
      << "SelectiveScan: A " << A.shape().ToString() << " must be [D, N], D = " << u.dim(2);
  const int64_t bsz = u.dim(0), len = u.dim(1), dim = u.dim(2), n = A.dim(1);
  LRA_CHECK(delta.shape() == u.shape())
      << "SelectiveScan: delta " << delta.shape().ToString() << " != u " << u.shape().ToString();
  const Shape bc{bsz, len, n};
  LRA_CHECK(B.shape() == bc && C.shape() == bc)
      << "SelectiveScan: B " << B.shape().ToString() << " C " << C.shape().ToString() << ", want "
      << bc.ToString();
  CheckOptional(D, Shape{dim}, "D");
  CheckOptional(delta_bias, Shape{dim}, "delta_bias");
  CheckOptional(z, u.shape(), "z");

  ScanArgs a;
  a.batch = bsz;
  a.len = len;
  a.dim = dim;
  a.nstate = n;
  a.u = u.value().data<float>();
  a.delta = delta.value().data<float>();
  a.A = A.value().data<float>();
  a.B = B.value().data<float>();
  a.C = C.value().data<float>();
  a.D = D.defined() ? D.value().data<float>() : nullptr;
  a.z = z.defined() ? z.value().data<float>() : nullptr;
  a.bias = delta_bias.defined() ? delta_bias.value().data<float>() : nullptr;
  a.softplus = options.delta_softplus;
  a.nblocks = (dim + kW - 1) / kW;
  a.ngroups = (a.nblocks + kGroup - 1) / kGroup;
  a.nchunks = (len + kT - 1) / kT;
  a.dpad = a.nblocks * kW;

  std::vector<Var> inputs = {u, delta, A, B, C};
  for (const Var* v : {&D, &z, &delta_bias})
    if (v->defined()) inputs.push_back(*v);
  const bool need = NeedsGrad(inputs);
  Tensor out = Tensor::Empty(u.shape());
  Tensor ckpt = need ? Tensor::Empty({bsz, std::max<int64_t>(a.nchunks, 1), n, a.dpad}) : Tensor();
  if (last_state) *last_state = Tensor::Zeros({bsz, dim, n});
  const int64_t items = bsz * a.ngroups;
  const int64_t item_cost = len * kGroup * kW * n;
  float* outp = out.data<float>();
  float* ckp = need ? ckpt.data<float>() : nullptr;
  float* lastp = last_state ? last_state->data<float>() : nullptr;
  ParallelFor(
      items,
      [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) ForwardItem(a, i, outp, ckp, lastp);
      },
      item_cost);
  if (!need) return MakeOp("SelectiveScan", out, inputs, nullptr);

  return MakeOp("SelectiveScan", out, inputs,
                [a, u, delta, A, B, C, D, z, delta_bias, ckpt](const Tensor& dout) {
                  const int64_t bsz = a.batch, len = a.len, dim = a.dim, n = a.nstate;
                  recurrent_internal::GradBuffer du(u, u.shape()), ddelta(delta, u.shape());
                  recurrent_internal::GradBuffer dz(z, u.shape());
                  Tensor pB = Tensor::Empty({bsz, a.ngroups, len, n}),
                         pC = Tensor::Empty({bsz, a.ngroups, len, n});
                  Tensor pA = Tensor::Empty({bsz, dim, n}), pD = Tensor::Empty({bsz, dim}),
                         pb = Tensor::Empty({bsz, dim});
                  ScanGrads gr{du.data(),        ddelta.data(),    a.z ? dz.data() : nullptr,
                               pB.data<float>(), pC.data<float>(), pA.data<float>(),
                               pD.data<float>(), pb.data<float>()};
                  const float* doutp = dout.data<float>();
                  const float* ckp = ckpt.data<float>();
                  ParallelFor(
                      bsz * a.ngroups,
                      [&](int64_t i0, int64_t i1) {
                        for (int64_t i = i0; i < i1; ++i) BackwardItem(a, i, doutp, ckp, gr);
                      },
                      len * kGroup * kW * n);
                  du.Finish();
                  ddelta.Finish();
                  dz.Finish();
                  // Per-group partials of dB and dC, per-batch partials of dA, dD and d delta_bias:
                  // summed in a fixed order.
                  auto give_sum = [&](const Var& v, const Tensor& part, int64_t parts,
                                      int64_t rows) {
                    if (!v.defined() || !v.requires_grad()) return;
                    Tensor g = Tensor::Empty(v.shape());
                    const int64_t per = g.numel() / rows;
                    const float* pp = part.data<float>();
                    float* gp = g.data<float>();
                    // One region over all rows: per row (L N for dB, dC) is below the
                    // parallel grain, so a region per row ran all 2 x batch sums on one thread.
                    SumPartsRows(pp, rows, parts, per, gp);
                    AccumulateGrad(v, g);
                  };
                  give_sum(B, pB, a.ngroups, bsz);
                  give_sum(C, pC, a.ngroups, bsz);
                  give_sum(A, pA, bsz, 1);
                  give_sum(D, pD, bsz, 1);
                  give_sum(delta_bias, pb, bsz, 1);
                });
}

Tensor SelectiveScanStep(Tensor& state, const Tensor& u, const Tensor& delta, const Tensor& A,
                         const Tensor& B, const Tensor& C, const Tensor& D, const Tensor& z,
                         const Tensor& delta_bias, SelectiveScanOptions options) {
  LRA_CHECK(u.rank() == 2 && A.rank() == 2 && A.dim(0) == u.dim(1))
      << "SelectiveScanStep: u " << u.shape().ToString() << " must be [batch, D], A "
      << A.shape().ToString() << " [D, N]";
  const int64_t bsz = u.dim(0), dim = u.dim(1), n = A.dim(1);
  LRA_CHECK(delta.shape() == u.shape() && (!z.defined() || z.shape() == u.shape()))
      << "SelectiveScanStep: delta " << delta.shape().ToString() << " / z must match u "
      << u.shape().ToString();
  LRA_CHECK(B.shape() == (Shape{bsz, n}) && C.shape() == (Shape{bsz, n}))
      << "SelectiveScanStep: B " << B.shape().ToString() << " C " << C.shape().ToString()
      << ", want [" << bsz << ", " << n << "]";
  LRA_CHECK(state.shape() == (Shape{bsz, dim, n}))
      << "SelectiveScanStep: state " << state.shape().ToString() << ", want [" << bsz << ", " << dim
      << ", " << n << "]";
  LRA_CHECK((!D.defined() || D.shape() == Shape{dim}) &&
            (!delta_bias.defined() || delta_bias.shape() == Shape{dim}))
      << "SelectiveScanStep: D and delta_bias must be [" << dim << "]";
  Tensor out = Tensor::Empty({bsz, dim});
  const float* Ap = A.data<float>();
  float* hp = state.data<float>();
  float* op = out.data<float>();
  ParallelFor(
      bsz,
      [&](int64_t b0, int64_t b1) {
        std::vector<float> dt(dim), sig(dim), tmp(dim), sz(dim), dA(dim * n);
        for (int64_t b = b0; b < b1; ++b) {
          const float* dp = delta.data<float>() + b * dim;
          for (int64_t d = 0; d < dim; ++d)
            dt[d] = dp[d] + (delta_bias.defined() ? delta_bias.data<float>()[d] : 0.0f);
          if (options.delta_softplus) Softplus(dt.data(), dt.data(), nullptr, tmp.data(), dim);
          for (int64_t d = 0; d < dim; ++d)
            for (int64_t k = 0; k < n; ++k) dA[d * n + k] = dt[d] * Ap[d * n + k];
          vmath::Exp(dA.data(), dA.data(), dim * n);
          const float* up = u.data<float>() + b * dim;
          float* y = op + b * dim;
          StepLanes(dim, n, dA.data(), dt.data(), up, B.data<float>() + b * n,
                    C.data<float>() + b * n, hp + b * dim * n, y);
          if (D.defined())
            for (int64_t d = 0; d < dim; ++d) y[d] += D.data<float>()[d] * up[d];
          if (z.defined()) {
            const float* zp = z.data<float>() + b * dim;
            vmath::Sigmoid(zp, sz.data(), dim);
            for (int64_t d = 0; d < dim; ++d) y[d] *= zp[d] * sz[d];
          }
        }
      },
      // Per row D N (exp, 3 FMA) updates: Mamba's 256 x 16 state runs up to 3 rows on the
      // calling thread, since a parallel region costs about as much as a row.
      dim * n * 2);
  return out;
}

// ---- Causal depthwise conv1d ----

namespace {

// y = pre * sigmoid(pre) over rows [r0, r1) (in place on y, which holds pre).
void SiluRows(float* y, float* sig, int64_t dim, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    vmath::Sigmoid(y + r * dim, sig, dim);
    for (int64_t d = 0; d < dim; ++d) y[r * dim + d] *= sig[d];
  }
}

// For rows r in [r0, r1) of [B*L, D]: pre = bias + sum_k w[:, k] x[r - K + 1 + k, :] (rows of
// other sequences masked; wt is w transposed to [K, D]), then y = act(pre), or with `dy`
// (backward) y = g = dy * act'(pre) (silu'(p) = s (1 + p (1 - s)), s = sigmoid(p)). y's rows
// are those of x (y + r0 * dim holds row r0). One pass per row, 16 channels at a time: pre is
// summed in a register over the K taps (bias first, then the taps in order) and
// activated there (sigmoid as vmath::Sigmoid, 1 / (1 + exp(-p)) with ExpV, the same values),
// and stored once. (Summing into the output row in memory, a pass per tap, stalled on each
// tap's reload of the vector the tap before had just stored: 70% of that loop's samples.)
template <bool kScalef>
LRA_SSM_INLINE void ConvActRowsT(const float* __restrict__ x, const float* __restrict__ wt,
                                 const float* __restrict__ bias, int64_t len, int64_t dim,
                                 int64_t kw, int64_t r0, int64_t r1, bool silu,
                                 const float* __restrict__ dy, float* __restrict__ y) {
  // One block of 16 channels; kFull: all 16 valid (plain vector moves, so the sum stays in a
  // register; the partial loads go through memory).
  auto block = [&](auto full, int64_t r, int64_t k0, int64_t d0, int valid)
                   __attribute__((always_inline)) {
    if constexpr (decltype(full)::value) valid = kW;
    V v;
    if (!silu && dy) {  // act' = 1
      v = LoadRow(dy, dim, r, d0, valid);
    } else {
      V pre = bias ? LoadRow(bias, 0, 0, d0, valid) : V{};
      for (int64_t k = k0; k < kw; ++k)
        pre += LoadRow(wt, dim, k, d0, valid) * LoadRow(x, dim, r - kw + 1 + k, d0, valid);
      v = pre;
      if (silu) {
        const V sg = 1.0f / (1.0f + ExpV<kScalef>(-pre));
        v = dy ? LoadRow(dy, dim, r, d0, valid) * sg * (1.0f + pre * (1.0f - sg)) : pre * sg;
      }
    }
    StoreRow(v, dim, r, d0, valid, y);
  };
  const int64_t full_end = dim / kW * kW;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t t = r % len;
    const int64_t k0 = std::max<int64_t>(0, kw - 1 - t);  // taps before the sequence start: 0
    for (int64_t d0 = 0; d0 < full_end; d0 += kW) block(std::true_type{}, r, k0, d0, kW);
    if (full_end < dim)
      block(std::false_type{}, r, k0, full_end, static_cast<int>(dim - full_end));
  }
}

__attribute__((target("avx512f"))) void ConvActRowsAvx512(const float* x, const float* wt,
                                                          const float* bias, int64_t len,
                                                          int64_t dim, int64_t kw, int64_t r0,
                                                          int64_t r1, bool silu, const float* dy,
                                                          float* y) {
  ConvActRowsT<true>(x, wt, bias, len, dim, kw, r0, r1, silu, dy, y);
}

LRA_SSM_CLONES void ConvActRows(const float* x, const float* wt, const float* bias, int64_t len,
                                int64_t dim, int64_t kw, int64_t r0, int64_t r1, bool silu,
                                const float* dy, float* y) {
  if (HasAvx512F()) {
    ConvActRowsAvx512(x, wt, bias, len, dim, kw, r0, r1, silu, dy, y);
  } else {
    ConvActRowsT<false>(x, wt, bias, len, dim, kw, r0, r1, silu, dy, y);
  }
}

// dx[r] = sum_k w[:, k] g[s + K - 1 - k] within the sequence (s = r's step), rows [r0, r1);
// g + q * dim is row q's g. Summed in a register per 16 channels, taps in order (as the forward).
LRA_SSM_CLONES void ConvDxRows(const float* __restrict__ g, const float* __restrict__ wt,
                               int64_t len, int64_t dim, int64_t kw, int64_t r0, int64_t r1,
                               float* __restrict__ dx) {
  auto block = [&](auto full, int64_t r, int64_t k0, int64_t d0, int valid)
                   __attribute__((always_inline)) {
    if constexpr (decltype(full)::value) valid = kW;  // see ConvActRowsT
    V acc = V{};
    for (int64_t k = k0; k < kw; ++k)
      acc += LoadRow(wt, dim, k, d0, valid) * LoadRow(g, dim, r + kw - 1 - k, d0, valid);
    StoreRow(acc, dim, r, d0, valid, dx);
  };
  const int64_t full_end = dim / kW * kW;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t s = r % len;
    const int64_t k0 = std::max<int64_t>(0, s + kw - len);  // taps past the sequence end: 0
    for (int64_t d0 = 0; d0 < full_end; d0 += kW) block(std::true_type{}, r, k0, d0, kW);
    if (full_end < dim)
      block(std::false_type{}, r, k0, full_end, static_cast<int>(dim - full_end));
  }
}

// p[k, :] += sum_r g[r] x[r - K + 1 + k] (within the sequence) and p[K, :] += sum_r g[r], over
// rows [r0, r1) in order. For K < kMaxTaps the K + 1 sums of 16 channels stay in registers
// through the rows (adding into p row by row stalled on reloading what the row before stored).
LRA_SSM_CLONES void ConvDwRows(const float* __restrict__ g, const float* __restrict__ x,
                               int64_t len, int64_t dim, int64_t kw, int64_t r0, int64_t r1,
                               float* __restrict__ p) {
  constexpr int64_t kMaxTaps = 8;
  if (kw < kMaxTaps) {
    auto block = [&](auto full, int64_t d0, int valid) __attribute__((always_inline)) {
      if constexpr (decltype(full)::value) valid = kW;  // see ConvActRowsT
      V acc[kMaxTaps];
      for (int64_t k = 0; k <= kw; ++k) acc[k] = LoadRow(p, dim, k, d0, valid);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t t = r % len;
        const V gv = LoadRow(g, dim, r, d0, valid);
        for (int64_t k = std::max<int64_t>(0, kw - 1 - t); k < kw; ++k)
          acc[k] += gv * LoadRow(x, dim, r - kw + 1 + k, d0, valid);
        acc[kw] += gv;
      }
      for (int64_t k = 0; k <= kw; ++k) StoreRow(acc[k], dim, k, d0, valid, p);
    };
    const int64_t full_end = dim / kW * kW;
    for (int64_t d0 = 0; d0 < full_end; d0 += kW) block(std::true_type{}, d0, kW);
    if (full_end < dim) block(std::false_type{}, full_end, static_cast<int>(dim - full_end));
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t t = r % len;
    const float* gr = g + r * dim;
    for (int64_t k = 0; k < kw; ++k) {
      const int64_t s = t - kw + 1 + k;
      if (s < 0) continue;
      const float* xs = x + (r - t + s) * dim;
      for (int64_t d = 0; d < dim; ++d) p[k * dim + d] += gr[d] * xs[d];
    }
    for (int64_t d = 0; d < dim; ++d) p[kw * dim + d] += gr[d];
  }
}

}  // namespace

Var CausalConv1d(const Var& x, const Var& w, const Var& bias, bool silu) {
  LRA_CHECK(x.rank() == 3 && w.rank() == 2 && w.dim(0) == x.dim(2))
      << "CausalConv1d: x " << x.shape().ToString() << " must be [B, L, D] and w "
      << w.shape().ToString() << " [D, K]";
  if (bias.defined())
    LRA_CHECK(bias.shape() == Shape{x.dim(2)}) << "CausalConv1d: bias " << bias.shape().ToString();
  const int64_t len = x.dim(1), dim = x.dim(2), kw = w.dim(1), rows = x.dim(0) * len;
  Tensor wt = recurrent_internal::Transposed2d(w.value());  // [K, D]
  Tensor y = Tensor::Empty(x.shape());
  const float* bp = bias.defined() ? bias.value().data<float>() : nullptr;
  ParallelFor(
      rows,
      [&](int64_t r0, int64_t r1) {
        ConvActRows(x.value().data<float>(), wt.data<float>(), bp, len, dim, kw, r0, r1, silu,
                    nullptr, y.data<float>());
      },
      dim * kw);
  std::vector<Var> inputs = {x, w};
  if (bias.defined()) inputs.push_back(bias);
  return MakeOp(
      "CausalConv1d", y, inputs, [x, w, bias, silu, wt, len, dim, kw, rows](const Tensor& dy) {
        // One pass over fixed blocks of kRows rows: g = dy * act'(pre) (pre recomputed) for the
        // block and the K - 1 rows after it, kept in a per-block buffer, then from it the
        // block's dx rows and its partial sums of dw and dbias. The partials are summed in block
        // order, so the result does not depend on the thread count.
        constexpr int64_t kRows = 256;
        const int64_t nb = (rows + kRows - 1) / kRows;
        const float* bp = bias.defined() ? bias.value().data<float>() : nullptr;
        const float* xp = x.value().data<float>();
        const float* dyp = dy.data<float>();
        const float* wtp = wt.data<float>();
        const bool need_x = x.requires_grad(), need_w = w.requires_grad();
        const bool need_b = bias.defined() && bias.requires_grad();
        std::optional<recurrent_internal::GradBuffer> dx;
        if (need_x) dx.emplace(x, x.shape());
        float* dxp = need_x ? dx->data() : nullptr;
        std::vector<float> part((need_w || need_b) ? nb * (kw + 1) * dim : 0, 0.0f);
        ParallelFor(
            nb,
            [&](int64_t blk0, int64_t blk1) {
              // Per thread and kept (a buffer per call made glibc trim and re-fault its heap);
              // every row of it is written before it is read.
              thread_local std::vector<float> gbuf;
              gbuf.resize((kRows + kw - 1) * dim);
              for (int64_t blk = blk0; blk < blk1; ++blk) {
                const int64_t r0 = blk * kRows, r1 = std::min(rows, r0 + kRows);
                const int64_t g1 = std::min(rows, r1 + kw - 1);
                // gp + r * dim is row r's g, for r in [r0, g1).
                float* gp = gbuf.data() - r0 * dim;
                ConvActRows(xp, wtp, bp, len, dim, kw, r0, g1, silu, dyp, gp);
                if (need_x) ConvDxRows(gp, wtp, len, dim, kw, r0, r1, dxp);
                if (need_w || need_b)
                  ConvDwRows(gp, xp, len, dim, kw, r0, r1, part.data() + blk * (kw + 1) * dim);
              }
            },
            kRows * dim * kw * 3);
        if (need_x) dx->Finish();
        if (need_w || need_b) {
          std::vector<float> tot((kw + 1) * dim);
          SumParts(part.data(), nb, (kw + 1) * dim, tot.data());
          if (need_w) {
            Tensor dw = Tensor::Empty(w.shape());
            for (int64_t d = 0; d < dim; ++d)
              for (int64_t k = 0; k < kw; ++k) dw.data<float>()[d * kw + k] = tot[k * dim + d];
            AccumulateGrad(w, dw);
          }
          if (need_b) {
            Tensor db = Tensor::Empty(bias.shape());
            std::copy(tot.begin() + kw * dim, tot.end(), db.data<float>());
            AccumulateGrad(bias, db);
          }
        }
      });
}

Tensor CausalConv1dStep(Tensor& state, const Tensor& x, const Tensor& w, const Tensor& bias,
                        bool silu) {
  LRA_CHECK(x.rank() == 2 && w.rank() == 2 && w.dim(0) == x.dim(1))
      << "CausalConv1dStep: x " << x.shape().ToString() << " must be [batch, D], w "
      << w.shape().ToString() << " [D, K]";
  const int64_t bsz = x.dim(0), dim = x.dim(1), kw = w.dim(1);
  LRA_CHECK(state.shape() == (Shape{bsz, dim, kw}))
      << "CausalConv1dStep: state " << state.shape().ToString() << ", want [" << bsz << ", " << dim
      << ", " << kw << "]";
  LRA_CHECK(!bias.defined() || bias.shape() == Shape{dim})
      << "CausalConv1dStep: bias " << bias.shape().ToString();
  Tensor y = Tensor::Empty({bsz, dim});
  float* sp = state.data<float>();
  float* yp = y.data<float>();
  const float* wp = w.data<float>();
  for (int64_t b = 0; b < bsz; ++b) {
    for (int64_t d = 0; d < dim; ++d) {
      float* s = sp + (b * dim + d) * kw;
      std::memmove(s, s + 1, (kw - 1) * sizeof(float));
      s[kw - 1] = x.data<float>()[b * dim + d];
      float acc = bias.defined() ? bias.data<float>()[d] : 0.0f;
      for (int64_t k = 0; k < kw; ++k) acc += wp[d * kw + k] * s[k];
      yp[b * dim + d] = acc;
    }
  }
  if (silu) {
    std::vector<float> sig(dim);
    SiluRows(yp, sig.data(), dim, 0, bsz);
  }
  return y;
}

}  // namespace lra

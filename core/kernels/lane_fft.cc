#include "core/kernels/lane_fft.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>

#include "absl/base/internal/raw_logging.h"

// The pass loops are written on GCC vector extensions of 16 floats: the AVX-512 build keeps a
// lane vector in one zmm register, the AVX2 build in two ymm, the baseline in four xmm. The
// helpers are always inlined into the three drivers at the end of the anonymous namespace
// (target attributes, picked at run time), so they are compiled for each ISA.
#define LRA_LANE_FFT_INLINE inline __attribute__((always_inline))

namespace lra {
namespace kernels {
namespace {

constexpr int kL = LaneFft::kLanes;
constexpr int kC = 2 * kL;  // floats of one complex lane vector: 16 real parts, 16 imaginary
constexpr double kTwoPi = 6.283185307179586476925286766559;

typedef float V __attribute__((vector_size(64)));

LRA_LANE_FFT_INLINE V Load(const float* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
LRA_LANE_FFT_INLINE void Store(float* p, V v) { __builtin_memcpy(p, &v, sizeof v); }
LRA_LANE_FFT_INLINE V Splat(float a) { return V{} + a; }

struct C {
  V re, im;
};
LRA_LANE_FFT_INLINE C LoadC(const float* p) { return {Load(p), Load(p + kL)}; }
LRA_LANE_FFT_INLINE void StoreC(float* p, C a) {
  Store(p, a.re);
  Store(p + kL, a.im);
}
LRA_LANE_FFT_INLINE C Add(C a, C b) { return {a.re + b.re, a.im + b.im}; }
LRA_LANE_FFT_INLINE C Sub(C a, C b) { return {a.re - b.re, a.im - b.im}; }
// a * (wr + i wi).
LRA_LANE_FFT_INLINE C Mul(C a, V wr, V wi) {
  return {a.re * wr - a.im * wi, a.re * wi + a.im * wr};
}

// a w for a stored twiddle t = (cos, sin): w = cos - i sin forward (kInv false), cos + i sin
// inverse.
template <bool kInv>
LRA_LANE_FFT_INLINE C MulTwiddle(C a, const float* t) {
  return Mul(a, Splat(t[0]), Splat(kInv ? t[1] : -t[1]));
}

// The 4-point DFT of (a0, a1, a2, a3) in place, sign -1 (forward) or +1 (kInv).
template <bool kInv>
LRA_LANE_FFT_INLINE void Dft4(C& a0, C& a1, C& a2, C& a3) {
  const C t0 = Add(a0, a2), t1 = Sub(a0, a2);
  const C t2 = Add(a1, a3), t3 = Sub(a1, a3);
  a0 = Add(t0, t2);
  a2 = Sub(t0, t2);
  // Forward: b1 = t1 - i t3, b3 = t1 + i t3; the inverse swaps them.
  const C m = {t1.re + t3.im, t1.im - t3.re};
  const C p = {t1.re - t3.im, t1.im + t3.re};
  a1 = kInv ? p : m;
  a3 = kInv ? m : p;
}

// (cos, sin) of 2 pi e/16, e = 0..9, rounded once to float: the internal twiddles of the
// radix-8 and radix-16 butterflies.
constexpr float kW16[10][2] = {
    {1.0f, 0.0f},
    {0.92387953251128675613f, 0.38268343236508977173f},
    {0.70710678118654752440f, 0.70710678118654752440f},
    {0.38268343236508977173f, 0.92387953251128675613f},
    {0.0f, 1.0f},
    {-0.38268343236508977173f, 0.92387953251128675613f},
    {-0.70710678118654752440f, 0.70710678118654752440f},
    {-0.92387953251128675613f, 0.38268343236508977173f},
    {-1.0f, 0.0f},
    {-0.92387953251128675613f, -0.38268343236508977173f},
};

// a exp(-+2 pi i e/16) (forward -, inverse +); e = 4 is an exact rotation by -+i.
template <bool kInv>
LRA_LANE_FFT_INLINE C MulW16(C a, int e) {
  if (e == 0) return a;
  if (e == 4) return kInv ? C{-a.im, a.re} : C{a.im, -a.re};
  return Mul(a, Splat(kW16[e][0]), Splat(kInv ? kW16[e][1] : -kW16[e][1]));
}

// One Stockham decimation-in-frequency pass of radix P: for groups j < l and q < s,
//   out[q + s (P j + r)] = w_j^r sum_t in[q + s (j + t l)] exp(-+ 2 pi i t r / P)
// (Van Loan 1992, section 1.7, generalised to radix P as in its chapter 2). Group j = 0 has all
// twiddles 1 and skips the multiplication. `odd` is the plan's cos/sin table of radix P (odd P).
// Radix P = 4Q (Q = 2, 4) runs as two stages in registers, the factorisation of the DFT into a
// 4-point and a Q-point stage with internal twiddles (Van Loan, chapter 2; Cooley and Tukey,
// Math. Comp. 19, 1965): with t = t1 + Q t2 and r = 4 r1 + r2,
//   y_{4 r1 + r2} = sum_{t1} w_Q^{t1 r1} w_P^{t1 r2} sum_{t2} w_4^{t2 r2} a_{t1 + Q t2},
// so one pass over memory does the work of two radix-4 (or radix-4 and radix-2) passes.
//
// The butterfly reads a_t at in + t * is and writes y_r at out + r * os (in lane vectors). The
// twiddles w^t multiply the inputs (kPre: decimation in time, the inverse's last pass) or w^r
// the outputs (decimation in frequency, every other pass).
//
// tw: the group's P - 1 (cos, sin) pairs, or nullptr for twiddles 1 (group 0). They and the odd
// radices' constants are broadcast where used (AVX-512 folds the broadcast into the operand).
template <int P, bool kInv, bool kPre>
LRA_LANE_FFT_INLINE void Butterfly(const float* in, int64_t is, float* out, int64_t os,
                                   const float* tw, const float* odd) {
  C a[P], b[P];
  #pragma GCC unroll 16
  for (int t = 0; t < P; ++t) a[t] = LoadC(in + t * is * kC);
  if (kPre && tw != nullptr) {
    #pragma GCC unroll 16
    for (int t = 1; t < P; ++t) a[t] = MulTwiddle<kInv>(a[t], tw + 2 * (t - 1));
  }
  if constexpr (P == 2) {
    b[0] = Add(a[0], a[1]);
    b[1] = Sub(a[0], a[1]);
  } else if constexpr (P == 4) {
    Dft4<kInv>(a[0], a[1], a[2], a[3]);
    #pragma GCC unroll 16
    for (int r = 0; r < 4; ++r) b[r] = a[r];
  } else if constexpr (P == 8 || P == 16) {
    constexpr int Q = P / 4;
    #pragma GCC unroll 16
    for (int t1 = 0; t1 < Q; ++t1) {
      Dft4<kInv>(a[t1], a[t1 + Q], a[t1 + 2 * Q], a[t1 + 3 * Q]);  // a[t1 + Q r2] = c[t1][r2]
      #pragma GCC unroll 16
      for (int r2 = 1; r2 < 4; ++r2) {
        a[t1 + Q * r2] = MulW16<kInv>(a[t1 + Q * r2], (16 / P) * t1 * r2);
      }
    }
    #pragma GCC unroll 16
    for (int r2 = 0; r2 < 4; ++r2) {
      C* c = a + Q * r2;  // c[t1], t1 < Q
      if constexpr (Q == 2) {
        b[r2] = Add(c[0], c[1]);
        b[4 + r2] = Sub(c[0], c[1]);
      } else {
        Dft4<kInv>(c[0], c[1], c[2], c[3]);
        #pragma GCC unroll 16
        for (int r1 = 0; r1 < 4; ++r1) b[4 * r1 + r2] = c[r1];
      }
    }
  } else {
    // Odd P = 2h + 1: with S_t = a_t + a_{P-t} and D_t = a_t - a_{P-t},
    //   y_r = a_0 + sum_t S_t cos(2 pi t r/P) -+ i sum_t D_t sin(2 pi t r/P), y_{P-r} with +-.
    constexpr int h = (P - 1) / 2;
    C S[h + 1], D[h + 1];
    b[0] = a[0];
    #pragma GCC unroll 16
    for (int t = 1; t <= h; ++t) {
      S[t] = Add(a[t], a[P - t]);
      D[t] = Sub(a[t], a[P - t]);
      b[0] = Add(b[0], S[t]);
    }
    #pragma GCC unroll 16
    for (int r = 1; r <= h; ++r) {
      C A = a[0], B = {V{}, V{}};
      #pragma GCC unroll 16
      for (int t = 1; t <= h; ++t) {
        const V c = Splat(odd[(t - 1) * h + (r - 1)]), sv = Splat(odd[h * h + (t - 1) * h + r - 1]);
        A.re += S[t].re * c;
        A.im += S[t].im * c;
        B.re += D[t].re * sv;
        B.im += D[t].im * sv;
      }
      // Forward: y_r = A - i B = (A.re + B.im, A.im - B.re); the inverse swaps r and P - r.
      const C m = {A.re + B.im, A.im - B.re};
      const C p = {A.re - B.im, A.im + B.re};
      b[kInv ? P - r : r] = m;
      b[kInv ? r : P - r] = p;
    }
  }
  StoreC(out, b[0]);
  #pragma GCC unroll 16
  for (int r = 1; r < P; ++r) {
    StoreC(out + r * os * kC,
           !kPre && tw != nullptr ? MulTwiddle<kInv>(b[r], tw + 2 * (r - 1)) : b[r]);
  }
}

// A pass of radix P over l groups. Stockham (kEdge false): group j's butterflies q < s read
// in[q + s (j + t l)] and write out[q + s (P j + r)]. Edge passes (kEdge, s = 1) keep the P
// outputs of a group a block apart instead, out[j + r bs] (bs = l + 1, LaneFft::Plan): the
// forward's first pass so leaves P blocks of l, each an independent DFT of size l (decimation
// in frequency: block r holds the inputs of Z[P k' + r], Van Loan 1992, chapter 2), and the
// inverse's last pass (kPre, decimation in time) reads such blocks and writes y in natural
// order.
template <int P, bool kInv, bool kEdge, bool kPre>
LRA_LANE_FFT_INLINE void RunPass(const float* in, float* out, const LaneFft::Pass& pass,
                                 const float* twiddles, const float* odd) {
  const int64_t l = pass.l, s = pass.s;
  for (int64_t j = 0; j < l; ++j) {
    const float* tw = j > 0 ? twiddles + pass.tw + j * 2 * (P - 1) : nullptr;
    if constexpr (kEdge) {
      // Blocks are bs = l + 1 lane vectors apart (LaneFft::Plan::bs).
      Butterfly<P, kInv, kPre>(in + j * kC, kPre ? l + 1 : l, out + j * kC, kPre ? l : l + 1, tw,
                               odd);
    } else {
      const float* src = in + j * s * kC;
      float* dst = out + P * j * s * kC;
      for (int64_t q = 0; q < s; ++q) {
        Butterfly<P, kInv, false>(src + q * kC, l * s, dst + q * kC, s, tw, odd);
      }
    }
  }
}

template <bool kInv, bool kEdge, bool kPre>
LRA_LANE_FFT_INLINE void Dispatch(const float* in, float* out, const LaneFft::Pass& p,
                                  const float* tw, const std::vector<float>* odd) {
  switch (p.radix) {
    case 2: RunPass<2, kInv, kEdge, kPre>(in, out, p, tw, nullptr); break;
    case 3: RunPass<3, kInv, kEdge, kPre>(in, out, p, tw, odd[3].data()); break;
    case 4: RunPass<4, kInv, kEdge, kPre>(in, out, p, tw, nullptr); break;
    case 5: RunPass<5, kInv, kEdge, kPre>(in, out, p, tw, odd[5].data()); break;
    case 7: RunPass<7, kInv, kEdge, kPre>(in, out, p, tw, odd[7].data()); break;
    case 8: RunPass<8, kInv, kEdge, kPre>(in, out, p, tw, nullptr); break;
    case 16: RunPass<16, kInv, kEdge, kPre>(in, out, p, tw, nullptr); break;
    default: ABSL_RAW_LOG(FATAL, "LaneFft: radix %d", p.radix);
  }
}

// The sub-DFTs of the P blocks of l lane vectors that the first pass left in `blocks`, one block
// at a time (a block, 128 l bytes, stays in L1 or L2 through its passes): the Stockham passes
// alternate between the block and the same block of `scratch`, ending in `blocks`.
template <bool kInv>
LRA_LANE_FFT_INLINE void BlockDfts(const LaneFft::Plan& plan, const float* tw,
                                   const std::vector<float>* odd, float* blocks, float* scratch) {
  const int count = static_cast<int>(plan.sub.size());
  const int64_t bs = plan.bs;
  // With an even count the first pass left the data in `blocks`, and blocks too large for L1
  // (over 16 KiB) all use one scratch block, which then stays in L2 instead of streaming
  // through the second half of work: about 10% faster at n = 8000 (32 KiB blocks), within the
  // noise at 8192, in interleaved runs of lane_fft_benchmark; with 8 KiB blocks (n = 2048) one
  // shared block measured 5% slower, hence the threshold.
  const bool shared = count % 2 == 0 && bs * kC * sizeof(float) > 16384;
  for (int r = 0; r < plan.first.radix; ++r) {
    float* home = blocks + r * bs * kC;
    float* other = scratch + (shared ? 0 : r * bs * kC);
    const float* in = count % 2 == 0 ? home : other;
    for (int i = 0; i < count; ++i) {
      float* dst = (count - 1 - i) % 2 == 0 ? home : other;
      Dispatch<kInv, false, false>(in, dst, plan.sub[i], tw, odd);
      in = dst;
    }
  }
}

// The lane-vector index of Z[k] in the first pass's blocks, (k mod P) bs + k div P, for k
// stepping up (Next) or down (Prev).
struct BlockIndex {
  BlockIndex(int p, int64_t l, int64_t k) : P(p), L(l), r(k % p), at((k % p) * l + k / p) {}
  void Next() {
    if (++r == P) {
      r = 0;
      at -= (P - 1) * L - 1;
    } else {
      at += L;
    }
  }
  void Prev() {
    if (r-- == 0) {
      r = P - 1;
      at += (P - 1) * L - 1;
    } else {
      at -= L;
    }
  }
  int P;
  int64_t L;
  int r;
  int64_t at;
};

// Forward: the first pass of the complex FFT from x into P blocks, the blocks' DFTs (ending in
// the first half of work), then the real split from there into spec (header, "Algorithm").
// Z[k] is at block k mod P, position k div P.
LRA_LANE_FFT_INLINE void ForwardT(int m, const LaneFft::Plan& plan, const float* tw,
                                  const std::vector<float>* odd, const float* split,
                                  const float* x, float* spec, float* work) {
  float* w1 = work;
  float* w2 = work + plan.first.radix * plan.bs * kC;
  Dispatch<false, true, false>(x, plan.sub.size() % 2 == 0 ? w1 : w2, plan.first, tw, odd);
  BlockDfts<false>(plan, tw, odd, w1, w2);
  const int P = plan.first.radix;
  auto z = [&](int64_t k) { return w1 + ((k % P) * plan.bs + k / P) * kC; };
  // Block and position of k and of m - k, stepped without divisions.
  BlockIndex ik(P, plan.bs, 1), im(P, plan.bs, m - 1);
  const V half = Splat(0.5f);
  {
    // k = 0 (and m): X[0] = Re Z0 + Im Z0, X[m] = Re Z0 - Im Z0, both real.
    const C z0 = LoadC(z(0));
    StoreC(spec, {z0.re + z0.im, V{}});
    StoreC(spec + m * kC, {z0.re - z0.im, V{}});
  }
  for (int64_t k = 1; 2 * k < m; ++k, ik.Next(), im.Prev()) {
    const C zk = LoadC(w1 + ik.at * kC), zm = LoadC(w1 + im.at * kC);
    // 2E = Z[k] + conj Z[m-k]; 2O = -i (Z[k] - conj Z[m-k]).
    const C e = {zk.re + zm.re, zk.im - zm.im};
    const C o = {zk.im + zm.im, zm.re - zk.re};
    const C t = Mul(o, Splat(split[2 * k]), Splat(-split[2 * k + 1]));  // exp(-2 pi i k/n) 2O
    StoreC(spec + k * kC, {(e.re + t.re) * half, (e.im + t.im) * half});
    StoreC(spec + (m - k) * kC, {(e.re - t.re) * half, (t.im - e.im) * half});
  }
  if (m % 2 == 0) {
    // k = m/2: X = conj Z.
    const C zh = LoadC(z(m / 2));
    StoreC(spec + (m / 2) * kC, {zh.re, -zh.im});
  }
}

// Inverse: Z' = 2 Z from the spectrum (header, "Algorithm") into P blocks (Z'[k] at block
// k mod P, position k div P) of whichever half of work lets the blocks' inverse DFTs end in the
// first half, then the last pass (decimation in time) from there into y.
LRA_LANE_FFT_INLINE void InverseT(int m, const LaneFft::Plan& plan, const float* tw,
                                  const std::vector<float>* odd, const float* split,
                                  const float* spec, float* y, float* work) {
  float* w1 = work;
  float* w2 = work + plan.first.radix * plan.bs * kC;
  float* blocks = plan.sub.size() % 2 == 0 ? w1 : w2;
  const int P = plan.first.radix;
  auto z = [&](int64_t k) { return blocks + ((k % P) * plan.bs + k / P) * kC; };
  BlockIndex ik(P, plan.bs, 1), im(P, plan.bs, m - 1);
  {
    // k = 0: Z'[0] = (X0 + Xm) + i (X0 - Xm) from the real parts only (c2r ignores the
    // imaginary parts of bins 0 and n/2).
    const V x0 = Load(spec), xm = Load(spec + m * kC);
    StoreC(z(0), {x0 + xm, x0 - xm});
  }
  for (int64_t k = 1; 2 * k < m; ++k, ik.Next(), im.Prev()) {
    const C xk = LoadC(spec + k * kC), xm = LoadC(spec + (m - k) * kC);
    // F = X[k] + conj X[m-k]; G = X[k] - conj X[m-k]; T = i exp(+2 pi i k/n) G.
    const C f = {xk.re + xm.re, xk.im - xm.im};
    const C g = {xk.re - xm.re, xk.im + xm.im};
    const C wg = Mul(g, Splat(split[2 * k]), Splat(split[2 * k + 1]));
    const C t = {-wg.im, wg.re};
    StoreC(blocks + ik.at * kC, Add(f, t));
    StoreC(blocks + im.at * kC, {f.re - t.re, t.im - f.im});
  }
  if (m % 2 == 0) {
    // k = m/2: Z' = 2 conj X.
    const C x = LoadC(spec + (m / 2) * kC);
    StoreC(z(m / 2), {x.re + x.re, -(x.im + x.im)});
  }
  BlockDfts<true>(plan, tw, odd, w1, w2);
  Dispatch<true, true, true>(w1, y, plan.first, tw, odd);
}

// The drivers, one per instruction set; Isa() picks one.
#define LRA_LANE_FFT_ARGS                                                               \
  int m, const LaneFft::Plan &plan, const float *tw, const std::vector<float> *odd,     \
      const float *split, const float *in, float *out, float *work
#define LRA_LANE_FFT_PASS m, plan, tw, odd, split, in, out, work
__attribute__((target("avx512f"))) void LaneForwardAvx512(LRA_LANE_FFT_ARGS) {
  ForwardT(LRA_LANE_FFT_PASS);
}
__attribute__((target("avx512f"))) void LaneInverseAvx512(LRA_LANE_FFT_ARGS) {
  InverseT(LRA_LANE_FFT_PASS);
}
__attribute__((target("avx2,fma"))) void LaneForwardAvx2(LRA_LANE_FFT_ARGS) {
  ForwardT(LRA_LANE_FFT_PASS);
}
__attribute__((target("avx2,fma"))) void LaneInverseAvx2(LRA_LANE_FFT_ARGS) {
  InverseT(LRA_LANE_FFT_PASS);
}
void LaneForwardBaseline(LRA_LANE_FFT_ARGS) { ForwardT(LRA_LANE_FFT_PASS); }
void LaneInverseBaseline(LRA_LANE_FFT_ARGS) { InverseT(LRA_LANE_FFT_PASS); }
#undef LRA_LANE_FFT_ARGS
#undef LRA_LANE_FFT_PASS

std::atomic<int> g_isa_cap{static_cast<int>(LaneFftIsa::kAvx512)};  // SetLaneFftIsaForTesting

LaneFftIsa Isa() {
  static const LaneFftIsa best =
      __builtin_cpu_supports("avx512f")                                       ? LaneFftIsa::kAvx512
      : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? LaneFftIsa::kAvx2
                                                                              : LaneFftIsa::kBaseline;
  return static_cast<LaneFftIsa>(
      std::min(static_cast<int>(best), g_isa_cap.load(std::memory_order_relaxed)));
}

int LargestPrimeFactor(int m) {
  int p = 1;
  for (int f = 2; f * f <= m; ++f) {
    while (m % f == 0) {
      p = f;
      m /= f;
    }
  }
  return m > 1 ? std::max(p, m) : p;
}

}  // namespace

bool LaneFft::Supports(int n) {
  return n >= 4 && n % 2 == 0 && LargestPrimeFactor(n / 2) <= 7;
}

LaneFft::LaneFft(int n) : n_(n), m_(n / 2) {
  // Radices: 16 while it divides, then at most one of 8, 4 or 2, then 3, 5, 7. Fewer passes
  // mean fewer trips through memory: the arrays (128 bytes per complex lane vector) outgrow L1
  // at m = 256.
  std::vector<int> radices;
  int rest = m_;
  while (rest % 16 == 0) {
    radices.push_back(16);
    rest /= 16;
  }
  for (int p : {8, 4, 2, 3, 5, 7}) {
    while (rest % p == 0) {
      radices.push_back(p);
      rest /= p;
    }
  }
  ABSL_RAW_CHECK(rest == 1, "LaneFft: n/2 must be 7-smooth");
  // Twiddles of the first pass (size m), then of the block passes (size l = m / P).
  int64_t L = m_, s = 1;
  for (size_t i = 0; i < radices.size(); ++i) {
    const int p = radices[i];
    if (i == 1) {
      L = m_ / radices[0];
      s = 1;
    }
    Pass pass{p, static_cast<int>(L / p), static_cast<int>(s),
              static_cast<int64_t>(twiddles_.size())};
    for (int64_t j = 0; j < pass.l; ++j) {
      for (int r = 1; r < p; ++r) {
        const double a = kTwoPi * static_cast<double>(j * r) / static_cast<double>(L);
        twiddles_.push_back(static_cast<float>(std::cos(a)));
        twiddles_.push_back(static_cast<float>(std::sin(a)));
      }
    }
    if (i == 0) {
      plan_.first = pass;
      plan_.bs = pass.l + 1;
    } else {
      plan_.sub.push_back(pass);
    }
    L /= p;
    s *= p;
  }
  for (int k = 0; 2 * k <= m_; ++k) {
    const double a = kTwoPi * k / n_;
    split_.push_back(static_cast<float>(std::cos(a)));
    split_.push_back(static_cast<float>(std::sin(a)));
  }
  for (int p : {3, 5, 7}) {
    const int h = (p - 1) / 2;
    odd_[p].resize(2 * h * h);
    for (int t = 1; t <= h; ++t) {
      for (int r = 1; r <= h; ++r) {
        const double a = kTwoPi * t * r / p;
        odd_[p][(t - 1) * h + (r - 1)] = static_cast<float>(std::cos(a));
        odd_[p][h * h + (t - 1) * h + (r - 1)] = static_cast<float>(std::sin(a));
      }
    }
  }
}

const LaneFft& LaneFft::Get(int n) {
  ABSL_RAW_CHECK(Supports(n), "LaneFft::Get: n must be even, >= 4, with n/2 7-smooth");
  static auto* mu = new std::mutex;
  static auto* cache = new std::map<int, LaneFft*>;
  std::lock_guard<std::mutex> lock(*mu);
  auto it = cache->find(n);
  if (it != cache->end()) return *it->second;
  auto* fft = new LaneFft(n);
  cache->emplace(n, fft);
  return *fft;
}

std::vector<int> LaneFft::Radices() const {
  std::vector<int> r;
  r.push_back(plan_.first.radix);
  for (const Pass& p : plan_.sub) r.push_back(p.radix);
  return r;
}

void LaneFft::Forward(const float* x, float* spec, float* work) const {
  const auto f = Isa() == LaneFftIsa::kAvx512 ? LaneForwardAvx512
                 : Isa() == LaneFftIsa::kAvx2 ? LaneForwardAvx2
                                              : LaneForwardBaseline;
  f(m_, plan_, twiddles_.data(), odd_, split_.data(), x, spec, work);
}

void LaneFft::Inverse(const float* spec, float* y, float* work) const {
  const auto f = Isa() == LaneFftIsa::kAvx512 ? LaneInverseAvx512
                 : Isa() == LaneFftIsa::kAvx2 ? LaneInverseAvx2
                                              : LaneInverseBaseline;
  f(m_, plan_, twiddles_.data(), odd_, split_.data(), spec, y, work);
}

LaneFftIsa LaneFftIsaInUse() { return Isa(); }

void SetLaneFftIsaForTesting(LaneFftIsa cap) { g_isa_cap.store(static_cast<int>(cap)); }

}  // namespace kernels
}  // namespace lra

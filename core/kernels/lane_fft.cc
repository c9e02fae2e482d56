#include "core/kernels/lane_fft.h"

#include <cmath>
#include <map>
#include <mutex>

#include "absl/base/internal/raw_logging.h"

// The pass loops are written on GCC vector extensions of 16 floats: the AVX-512 clone keeps a
// lane vector in one zmm register, the AVX2 clone in two ymm, the baseline in four xmm. The
// helpers are always inlined into the cloned drivers, so they are compiled for each clone's ISA.
#define LRA_LANE_FFT_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
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

// The twiddles of group j: w_r = exp(-+ 2 pi i j r / L) from the stored (cos, sin) pairs; the
// forward transform (kInv false) uses cos - i sin, the inverse cos + i sin.
template <int P, bool kInv>
LRA_LANE_FFT_INLINE void LoadTwiddles(const float* t, V* wr, V* wi) {
  #pragma GCC unroll 16
  for (int r = 1; r < P; ++r) {
    wr[r] = Splat(t[2 * (r - 1)]);
    wi[r] = Splat(kInv ? t[2 * (r - 1) + 1] : -t[2 * (r - 1) + 1]);
  }
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
// 4-point and a Q-point stage with internal twiddles (Van Loan, section 2.1; Cooley and Tukey,
// Math. Comp. 19, 1965): with t = t1 + Q t2 and r = 4 r1 + r2,
//   y_{4 r1 + r2} = sum_{t1} w_Q^{t1 r1} w_P^{t1 r2} sum_{t2} w_4^{t2 r2} a_{t1 + Q t2},
// so one pass over memory does the work of two radix-4 (or radix-4 and radix-2) passes.
template <int P, bool kInv>
LRA_LANE_FFT_INLINE void Butterfly(const float* in, float* out, int64_t l, int64_t s, V* wr,
                                   V* wi, bool twiddle, const V* cs, const V* sn) {
  C a[P], b[P];
  #pragma GCC unroll 16
  for (int t = 0; t < P; ++t) a[t] = LoadC(in + t * l * s * kC);
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
        const V c = cs[(t - 1) * h + (r - 1)], sv = sn[(t - 1) * h + (r - 1)];
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
  for (int r = 1; r < P; ++r) StoreC(out + r * s * kC, twiddle ? Mul(b[r], wr[r], wi[r]) : b[r]);
}

template <int P, bool kInv>
LRA_LANE_FFT_INLINE void RunPass(const float* in, float* out, const LaneFft::Pass& pass,
                                 const float* twiddles, const float* odd) {
  const int64_t l = pass.l, s = pass.s;
  constexpr int h = (P - 1) / 2;
  V cs[h * h + 1], sn[h * h + 1];
  if (P % 2 == 1 && odd != nullptr) {
    for (int i = 0; i < h * h; ++i) {
      cs[i] = Splat(odd[i]);
      sn[i] = Splat(odd[h * h + i]);
    }
  }
  V wr[P], wi[P];
  for (int64_t j = 0; j < l; ++j) {
    if (j > 0) LoadTwiddles<P, kInv>(twiddles + pass.tw + j * 2 * (P - 1), wr, wi);
    const float* src = in + j * s * kC;
    float* dst = out + P * j * s * kC;
    for (int64_t q = 0; q < s; ++q) {
      Butterfly<P, kInv>(src + q * kC, dst + q * kC, l, s, wr, wi, j > 0, cs, sn);
    }
  }
}

// The complex passes, first reading `in`, last writing `out`, alternating between out and work
// so that the last lands in out.
template <bool kInv>
LRA_LANE_FFT_INLINE void Passes(const std::vector<LaneFft::Pass>& passes, const float* tw,
                                const std::vector<float>* odd, const float* in, float* out,
                                float* work) {
  const int count = static_cast<int>(passes.size());
  for (int i = 0; i < count; ++i) {
    float* dst = (count - 1 - i) % 2 == 0 ? out : work;
    const LaneFft::Pass& p = passes[i];
    switch (p.radix) {
      case 2: RunPass<2, kInv>(in, dst, p, tw, nullptr); break;
      case 3: RunPass<3, kInv>(in, dst, p, tw, odd[3].data()); break;
      case 4: RunPass<4, kInv>(in, dst, p, tw, nullptr); break;
      case 8: RunPass<8, kInv>(in, dst, p, tw, nullptr); break;
      case 16: RunPass<16, kInv>(in, dst, p, tw, nullptr); break;
      case 5: RunPass<5, kInv>(in, dst, p, tw, odd[5].data()); break;
      case 7: RunPass<7, kInv>(in, dst, p, tw, odd[7].data()); break;
      default: ABSL_RAW_LOG(FATAL, "LaneFft: radix %d", p.radix);
    }
    in = dst;
  }
}

// Forward: the complex FFT of x (read as [m][re | im]) into spec, then the real split in place
// (header, "Algorithm").
LRA_LANE_FFT_CLONES void ForwardImpl(int m, const std::vector<LaneFft::Pass>& passes,
                                     const float* tw, const std::vector<float>* odd,
                                     const float* split, const float* x, float* spec,
                                     float* work) {
  Passes<false>(passes, tw, odd, x, spec, work);
  const V half = Splat(0.5f);
  {
    // k = 0 (and m): X[0] = Re Z0 + Im Z0, X[m] = Re Z0 - Im Z0, both real.
    const C z = LoadC(spec);
    StoreC(spec, {z.re + z.im, V{}});
    StoreC(spec + m * kC, {z.re - z.im, V{}});
  }
  for (int64_t k = 1; 2 * k < m; ++k) {
    const C zk = LoadC(spec + k * kC), zm = LoadC(spec + (m - k) * kC);
    // 2E = Z[k] + conj Z[m-k]; 2O = -i (Z[k] - conj Z[m-k]).
    const C e = {zk.re + zm.re, zk.im - zm.im};
    const C o = {zk.im + zm.im, zm.re - zk.re};
    const C t = Mul(o, Splat(split[2 * k]), Splat(-split[2 * k + 1]));  // exp(-2 pi i k/n) 2O
    StoreC(spec + k * kC, {(e.re + t.re) * half, (e.im + t.im) * half});
    StoreC(spec + (m - k) * kC, {(e.re - t.re) * half, (t.im - e.im) * half});
  }
  if (m % 2 == 0) {
    // k = m/2: X = conj Z.
    const C z = LoadC(spec + (m / 2) * kC);
    StoreC(spec + (m / 2) * kC, {z.re, -z.im});
  }
}

// Inverse: Z' = 2 Z from the spectrum (header, "Algorithm") into whichever of y and work the
// first pass reads, then the inverse complex FFT into y.
LRA_LANE_FFT_CLONES void InverseImpl(int m, const std::vector<LaneFft::Pass>& passes,
                                     const float* tw, const std::vector<float>* odd,
                                     const float* split, const float* spec, float* y,
                                     float* work) {
  float* z = passes.size() % 2 == 0 ? y : work;
  {
    // k = 0: Z'[0] = (X0 + Xm) + i (X0 - Xm) from the real parts only (c2r ignores the
    // imaginary parts of bins 0 and n/2).
    const V x0 = Load(spec), xm = Load(spec + m * kC);
    StoreC(z, {x0 + xm, x0 - xm});
  }
  for (int64_t k = 1; 2 * k < m; ++k) {
    const C xk = LoadC(spec + k * kC), xm = LoadC(spec + (m - k) * kC);
    // F = X[k] + conj X[m-k]; G = X[k] - conj X[m-k]; T = i exp(+2 pi i k/n) G.
    const C f = {xk.re + xm.re, xk.im - xm.im};
    const C g = {xk.re - xm.re, xk.im + xm.im};
    const C wg = Mul(g, Splat(split[2 * k]), Splat(split[2 * k + 1]));
    const C t = {-wg.im, wg.re};
    StoreC(z + k * kC, Add(f, t));
    StoreC(z + (m - k) * kC, {f.re - t.re, t.im - f.im});
  }
  if (m % 2 == 0) {
    // k = m/2: Z' = 2 conj X.
    const C x = LoadC(spec + (m / 2) * kC);
    StoreC(z + (m / 2) * kC, {x.re + x.re, -(x.im + x.im)});
  }
  Passes<true>(passes, tw, odd, z, y, work);
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
  int64_t L = m_, s = 1;
  for (int p : radices) {
    Pass pass{p, static_cast<int>(L / p), static_cast<int>(s),
              static_cast<int64_t>(twiddles_.size())};
    for (int64_t j = 0; j < pass.l; ++j) {
      for (int r = 1; r < p; ++r) {
        const double a = kTwoPi * static_cast<double>(j * r) / static_cast<double>(L);
        twiddles_.push_back(static_cast<float>(std::cos(a)));
        twiddles_.push_back(static_cast<float>(std::sin(a)));
      }
    }
    passes_.push_back(pass);
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
  for (const Pass& p : passes_) r.push_back(p.radix);
  return r;
}

void LaneFft::Forward(const float* x, float* spec, float* work) const {
  ForwardImpl(m_, passes_, twiddles_.data(), odd_, split_.data(), x, spec, work);
}

void LaneFft::Inverse(const float* spec, float* y, float* work) const {
  InverseImpl(m_, passes_, twiddles_.data(), odd_, split_.data(), spec, y, work);
}

}  // namespace kernels
}  // namespace lra

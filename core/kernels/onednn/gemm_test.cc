#include "core/kernels/onednn/gemm.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace lra {
namespace onednn {
namespace {

struct Problem {
  int64_t batch, m, n, k;
  bool ta, tb, bias, acc;
};

// Row-major storage of op(A)[M,K] (or [K,M] when ta) and op(B)[K,N] (or [N,K] when tb).
double At(const std::vector<float>& a, const Problem& p, int64_t b, int64_t i, int64_t l) {
  return p.ta ? a[b * p.m * p.k + l * p.m + i] : a[b * p.m * p.k + i * p.k + l];
}
double Bt(const std::vector<float>& v, const Problem& p, int64_t b, int64_t l, int64_t j) {
  return p.tb ? v[b * p.k * p.n + j * p.k + l] : v[b * p.k * p.n + l * p.n + j];
}

// The bf16 mode's rounding, written out (Intel SDM, VCVTNE2PS2BF16, convert_fp32_to_bfloat16):
// NaN -> quiet NaN with the upper payload bits; denormal -> zero of the same sign; otherwise
// round to nearest, ties to even.
uint16_t Bf16Bits(uint32_t bits) {
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  if ((bits & 0x7f800000u) == 0) return static_cast<uint16_t>((bits >> 16) & 0x8000u);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

float RoundBf16(float x) {  // Bf16Bits, back in fp32
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  bits = static_cast<uint32_t>(Bf16Bits(bits)) << 16;
  float y;
  std::memcpy(&y, &bits, 4);
  return y;
}

// What Check compares with, and the bound it allows.
enum class Ref {
  kFp32,     // the exact product of the inputs as given, fp32's bound
  kRounded,  // the exact product of the inputs rounded to bf16, fp32's bound
  kBf16,     // the exact product of the inputs as given, the bf16 bound
};

// Runs Gemm and compares every element with a double-precision reference. Error bounds (Higham,
// Accuracy and Stability, 3.1 and 3.5): any fp32 summation order of K products satisfies
// |c - ref| <= gamma_{K+1} * S, with S = sum_l |a_il b_lj| (+ |c0| + |bias|), gamma_n =
// n u / (1 - n u), u = 2^-24. In bf16 mode each factor is first rounded to 8 significant bits,
// a' = a (1 + d), |d| <= v = 2^-8, so |a'b' - ab| <= (2v + v^2) |ab| and the fp32 sum of the
// a'b' (exact in fp32: two 8-bit significands) adds gamma_{K+1} sum |a'b'| <= gamma_{K+1}
// (1 + v)^2 S: the bound is ((2v + v^2) + gamma_{K+1} (1 + v)^2) S (denormals flushed to zero
// by the conversion add at most 2^-126 per term; the inputs here have none). Returns the largest
// error relative to S.
double Check(const Problem& p, Ref ref_kind, uint32_t seed = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> a(p.batch * p.m * p.k), b(p.batch * p.k * p.n), bias(p.n),
      c(p.batch * p.m * p.n);
  for (auto* v : {&a, &b, &bias, &c})
    for (float& x : *v) x = u(gen);
  const std::vector<float> c0 = c;
  Gemm(p.batch, p.m, p.n, p.k, p.ta, p.tb, a.data(), b.data(), p.bias ? bias.data() : nullptr,
       c.data(), p.acc);
  std::vector<float> ar = a, br = b;
  if (ref_kind == Ref::kRounded) {
    for (float& x : ar) x = RoundBf16(x);
    for (float& x : br) x = RoundBf16(x);
  }
  const double unit = std::ldexp(1.0, -24), gamma = (p.k + 1) * unit / (1 - (p.k + 1) * unit);
  const double v = std::ldexp(1.0, -8);
  const double bound = ref_kind == Ref::kBf16 ? (2 * v + v * v) + gamma * (1 + v) * (1 + v) : gamma;
  double worst = 0;
  int64_t failures = 0;
  for (int64_t bb = 0; bb < p.batch; ++bb)
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        double ref = 0, mag = 0;
        for (int64_t l = 0; l < p.k; ++l) {
          const double t = At(ar, p, bb, i, l) * Bt(br, p, bb, l, j);
          ref += t;
          mag += std::fabs(t);
        }
        const int64_t at = (bb * p.m + i) * p.n + j;
        if (p.acc) ref += c0[at], mag += std::fabs(c0[at]);
        if (p.bias) ref += bias[j], mag += std::fabs(bias[j]);
        const double err = std::fabs(c[at] - ref);
        if (err > bound * mag && failures++ == 0)
          ADD_FAILURE() << "at batch " << bb << " row " << i << " col " << j << ": " << c[at]
                        << " vs " << ref << ", error bound " << bound * mag;
        worst = std::max(worst, err / mag);
      }
  EXPECT_EQ(failures, 0) << "elements outside the bound";
  return worst;
}

class GemmLayouts : public ::testing::TestWithParam<std::tuple<bool, bool, bool>> {};

TEST_P(GemmLayouts, MatchesDoubleReference) {
  const auto [ta, tb, acc] = GetParam();
  // Odd sizes; the second and third shapes have a reduction long enough for the split-K path
  // of transposed-A products (K >= 512 with 2 threads), the last is a batch.
  for (Problem p : {Problem{1, 7, 5, 3, ta, tb, false, acc}, Problem{1, 33, 65, 1031, ta, tb, false, acc},
                    Problem{1, 128, 96, 4096, ta, tb, false, acc},
                    Problem{3, 17, 9, 31, ta, tb, false, acc}}) {
    SCOPED_TRACE(testing::Message() << "batch " << p.batch << " m " << p.m << " n " << p.n
                                    << " k " << p.k);
    Check(p, Ref::kFp32);
  }
}

INSTANTIATE_TEST_SUITE_P(All, GemmLayouts,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(), ::testing::Bool()));

TEST(Gemm, Bias) {
  Check({1, 64, 48, 40, false, false, true, false}, Ref::kFp32);
  Check({1, 64, 48, 40, false, true, true, false}, Ref::kFp32);
}

TEST(Gemm, SplitReductionIsDeterministicAndThreadCountOnlyChangesRounding) {
  const int64_t m = 64, n = 80, k = 3000;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> a(k * m), b(k * n), c1(m * n), c2(m * n), c3(m * n);
  for (float& x : a) x = u(gen);
  for (float& x : b) x = u(gen);
  Gemm(1, m, n, k, true, false, a.data(), b.data(), nullptr, c1.data(), false);
  Gemm(1, m, n, k, true, false, a.data(), b.data(), nullptr, c2.data(), false);
  EXPECT_EQ(0, std::memcmp(c1.data(), c2.data(), c1.size() * 4)) << "same threads, same bits";
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  Gemm(1, m, n, k, true, false, a.data(), b.data(), nullptr, c3.data(), false);
  omp_set_num_threads(threads);
  // Both are within gamma_{k+1} * sum|a b| <= gamma_{k+1} * k of the exact sum (|a|, |b| <= 1).
  const double gamma = (k + 1) * std::ldexp(1.0, -24);
  for (size_t i = 0; i < c1.size(); ++i) EXPECT_NEAR(c1[i], c3[i], 2 * gamma * k) << i;
}

TEST(ConvertToBf16, RoundsToNearestEvenLikeTheReference) {
  if (!Bf16Supported()) GTEST_SKIP() << "no AVX512-BF16/AMX on this CPU";
  const std::vector<uint32_t> edges = {
      0x3f808000u,  // tie, even below: down
      0x3f818000u,  // tie, odd below: up
      0x3f808001u, 0x3f807fffu, 0xbf818000u,
      0x7f7fffffu,  // largest float: rounds up to infinity
      0x7f800000u, 0xff800000u, 0x00000000u, 0x80000000u,
      0x7fc00001u, 0xffc12345u, 0x7f800001u,  // NaNs, the last signalling: stay NaN
      0x00000001u, 0x807fffffu, 0x00400000u,  // denormals: signed zero
      0x00800000u, 0x00ff8000u};              // smallest normals
  std::mt19937 gen(5);
  std::vector<uint32_t> bits = edges;
  while (bits.size() < 100003) bits.push_back(static_cast<uint32_t>(gen()));
  // Every tail length (the vector loop takes 32 at a time, then masked 16s) and the split over
  // threads (n >= 65536).
  for (int64_t n : {0, 1, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 70, 100003}) {
    std::vector<float> x(n);
    if (n > 0) std::memcpy(x.data(), bits.data(), n * 4);
    std::vector<uint16_t> y(n + 1, 0xabcd);
    ConvertToBf16(x.data(), n, y.data());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(y[i], Bf16Bits(bits[i])) << "n " << n << " element " << i << " bits 0x"
                                         << std::hex << bits[i];
    EXPECT_EQ(y[n], 0xabcd) << "wrote past the end, n " << n;
  }
}

// The products bf16 mode runs in bf16 at the model's shapes (H = 128): forward, data gradient
// (trans_b) and weight gradient (trans_a, K split over the threads), with and without
// accumulation, a bias, and a batch.
const Problem kBf16Products[] = {
    {1, 300, 96, 128, false, false, false, false},  // forward x w
    {1, 300, 96, 128, false, false, true, false},   // with bias
    {1, 300, 128, 96, false, true, false, true},    // data gradient dy w^T, accumulated
    {1, 128, 96, 4100, true, false, false, false},  // weight gradient x^T dy, split K
    {1, 128, 96, 4100, true, false, false, true},
    {1, 96, 128, 1030, true, true, false, true},    // the same with B stored transposed
    {3, 40, 70, 50, false, false, false, true},     // a batch
    {2, 40, 70, 50, true, true, false, false},
};

TEST(Gemm, Bf16ModeRoundsInputsAndAccumulatesInFp32) {
  if (!Bf16Supported()) GTEST_SKIP() << "no AVX512-BF16/AMX on this CPU";
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kBf16).ok());
  for (const Problem& p : kBf16Products) {
    SCOPED_TRACE(testing::Message() << "batch " << p.batch << " m " << p.m << " n " << p.n
                                    << " k " << p.k << " ta " << p.ta << " tb " << p.tb);
    // Exact to fp32 accumulation error against the reference on bf16-rounded inputs, and
    // within the bf16 bound of the unrounded reference.
    const double rounded = Check(p, Ref::kRounded), unrounded = Check(p, Ref::kBf16);
    // It is the product of the rounded inputs: much closer to that reference than to the
    // unrounded one (an fp32 product, or a conversion that rounds any other way, is not).
    // Measured: 1e-7..1e-6 against 1e-4..1e-3.
    EXPECT_LT(16 * rounded, unrounded);
    // With a short reduction bf16's error is also far outside fp32's worst-case bound (with
    // K = 4100 that bound, K u, is above bf16's typical error).
    if (p.k <= 512) EXPECT_GT(unrounded, 4 * (p.k + 1) * std::ldexp(1.0, -24));
  }
  // A weight gradient whose per-thread slices exceed 2^22 / (M + N) = 32768 rows runs in chunks
  // accumulated in fp32: still the exact product of the rounded inputs to fp32's error.
  Check({1, 64, 64, 70001, true, false, false, true}, Ref::kRounded);
  // Under 64 flops per converted element, counted per row (2N; 2MN/(M+N) for a weight
  // gradient): fp32.
  Check({1, 300, 16, 128, false, false, true, false}, Ref::kFp32);
  Check({1, 32, 32, 4100, true, false, false, true}, Ref::kFp32);
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kF32).ok());
  EXPECT_EQ(GetMatmulPrecision(), MatmulPrecision::kF32);
}

// In bf16 mode a row's result must not depend on how many rows are multiplied with it (the
// choice of bf16 once depended on M): rows 0..r of C for M = 1, 7 and 2000 agree to fp32
// rounding, 2 gamma_{K+1} sum |a'b'| (+ |bias|), far below bf16's error.
TEST(Gemm, Bf16ModeIsBatchInvariantAndDeterministic) {
  if (!Bf16Supported()) GTEST_SKIP() << "no AVX512-BF16/AMX on this CPU";
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kBf16).ok());
  const int64_t big = 2000;
  for (const auto& [n, k, tb] : {std::tuple<int64_t, int64_t, bool>{384, 128, false},
                                 std::tuple<int64_t, int64_t, bool>{128, 512, true}}) {
    SCOPED_TRACE(testing::Message() << "n " << n << " k " << k);
    std::mt19937 gen(9);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> a(big * k), b(k * n), bias(n), c(big * n), c2(big * n);
    for (auto* v : {&a, &b, &bias})
      for (float& x : *v) x = u(gen);
    Gemm(1, big, n, k, false, tb, a.data(), b.data(), bias.data(), c.data(), false);
    Gemm(1, big, n, k, false, tb, a.data(), b.data(), bias.data(), c2.data(), false);
    EXPECT_EQ(0, std::memcmp(c.data(), c2.data(), c.size() * 4)) << "same call, same bits";
    const double gamma = (k + 2) * std::ldexp(1.0, -24);
    for (int64_t rows : {1, 7}) {
      std::vector<float> small(rows * n);
      Gemm(1, rows, n, k, false, tb, a.data(), b.data(), bias.data(), small.data(), false);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double mag = std::fabs(bias[j]);
          for (int64_t l = 0; l < k; ++l)
            mag += std::fabs(double{RoundBf16(a[i * k + l])} *
                             RoundBf16(tb ? b[j * k + l] : b[l * n + j]));
          ASSERT_NEAR(small[i * n + j], c[i * n + j], 2 * gamma * mag)
              << "rows " << rows << " row " << i << " col " << j;
        }
    }
  }
  // The weight gradient's split of K is fixed by K and the thread count: same bits each call.
  const int64_t m = 128, n = 96, k = 3000;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> a(k * m), b(k * n), c1(m * n), c2(m * n);
  for (float& x : a) x = u(gen);
  for (float& x : b) x = u(gen);
  Gemm(1, m, n, k, true, false, a.data(), b.data(), nullptr, c1.data(), false);
  Gemm(1, m, n, k, true, false, a.data(), b.data(), nullptr, c2.data(), false);
  EXPECT_EQ(0, std::memcmp(c1.data(), c2.data(), c1.size() * 4));
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kF32).ok());
}

// Operands handed in already converted (Operand::bf16) give exactly the bits of the call that
// converts them itself: the forward x w (+ bias), the data gradient dz w^T, and weight
// gradients x^T dz on 2 threads, K split in two and, at K = 70001 with M = N = 64, each half
// done in two chunks (over 2^22 / (M + N) = 32768 rows), B stored plain and transposed. The
// copies start 2 bytes past an aligned address, unlike Gemm's own scratch, so the bits do not
// depend on where the copy lies. In fp32 mode, and for a product that does not pay in bf16, the
// copy is ignored: a zero-filled one changes nothing.
TEST(Gemm, PreconvertedOperandsGiveTheSameBits) {
  if (!Bf16Supported()) GTEST_SKIP() << "no AVX512-BF16/AMX on this CPU";
  const int threads = omp_get_max_threads();
  omp_set_num_threads(2);
  const Problem problems[] = {
      {1, 300, 96, 128, false, false, true, false},    // forward with bias
      {1, 300, 128, 96, false, true, false, true},     // data gradient, accumulated
      {1, 128, 96, 4100, true, false, false, false},   // weight gradient, K split
      {1, 96, 128, 1030, true, true, false, true},     // B stored [N, K]
      {1, 64, 64, 70001, true, false, false, true},    // split and chunked
      {1, 64, 64, 70001, true, true, false, false},
      {2, 40, 70, 50, false, false, false, true},      // a batch
      {1, 300, 16, 128, false, false, false, false},   // under the break-even: fp32
  };
  for (MatmulPrecision precision : {MatmulPrecision::kBf16, MatmulPrecision::kF32}) {
    ASSERT_TRUE(SetMatmulPrecision(precision).ok());
    for (const Problem& p : problems) {
      SCOPED_TRACE(testing::Message() << "bf16 mode " << (precision == MatmulPrecision::kBf16)
                                      << " batch " << p.batch << " m " << p.m << " n " << p.n
                                      << " k " << p.k << " ta " << p.ta << " tb " << p.tb);
      const bool bf16 = GemmRunsInBf16(p.batch, p.m, p.n, p.ta, p.bias);
      EXPECT_EQ(bf16, precision == MatmulPrecision::kBf16 && p.n != 16);
      std::mt19937 gen(11);
      std::uniform_real_distribution<float> u(-1, 1);
      const int64_t na = p.batch * p.m * p.k, nb = p.batch * p.k * p.n;
      std::vector<float> a(na), b(nb), bias(p.n), c0(p.batch * p.m * p.n);
      for (auto* v : {&a, &b, &bias, &c0})
        for (float& x : *v) x = u(gen);
      std::vector<uint16_t> a16(na + 1), b16(nb + 1);
      if (bf16) {
        ConvertToBf16(a.data(), na, a16.data() + 1);
        ConvertToBf16(b.data(), nb, b16.data() + 1);
      }
      const float* bp = p.bias ? bias.data() : nullptr;
      std::vector<float> want = c0;
      Gemm(p.batch, p.m, p.n, p.k, p.ta, p.tb, a.data(), b.data(), bp, want.data(), p.acc);
      for (int which = 1; which < 4; ++which) {  // A's copy, B's, both
        const Operand ao = which & 1 ? Operand(a.data(), a16.data() + 1) : Operand(a.data());
        const Operand bo = which & 2 ? Operand(b.data(), b16.data() + 1) : Operand(b.data());
        std::vector<float> got = c0;
        Gemm(p.batch, p.m, p.n, p.k, p.ta, p.tb, ao, bo, bp, got.data(), p.acc);
        EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4)) << "copies " << which;
      }
    }
  }
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kF32).ok());
  omp_set_num_threads(threads);
}

TEST(Gemm, Bf16ModeIsRefusedWithoutHardwareSupport) {
  if (Bf16Supported()) GTEST_SKIP() << "this CPU supports bf16";
  const absl::Status s = SetMatmulPrecision(MatmulPrecision::kBf16);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetMatmulPrecision(), MatmulPrecision::kF32);
}

}  // namespace
}  // namespace onednn
}  // namespace lra

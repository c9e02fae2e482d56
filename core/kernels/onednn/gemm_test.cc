#include "core/kernels/onednn/gemm.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
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

float RoundBf16(float x) {  // round to nearest even at 8 significant bits, in fp32
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  float y;
  std::memcpy(&y, &bits, 4);
  return y;
}

// Runs Gemm and compares every element with a double-precision reference computed from the
// inputs as given (or rounded to bf16 first). Error bound (Higham, Accuracy and Stability, 3.1):
// any fp32 summation order of K products satisfies |c - ref| <= gamma_{K+1} * S, with
// S = sum_l |a_il b_lj| (+ |c0| + |bias|) and gamma_n = n u / (1 - n u), u = 2^-24.
// Returns the largest error relative to S.
double Check(const Problem& p, bool round_inputs_to_bf16, uint32_t seed = 1) {
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
  if (round_inputs_to_bf16) {
    for (float& x : ar) x = RoundBf16(x);
    for (float& x : br) x = RoundBf16(x);
  }
  const double unit = std::ldexp(1.0, -24), gamma = (p.k + 1) * unit / (1 - (p.k + 1) * unit);
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
        if (err > gamma * mag && failures++ == 0)
          ADD_FAILURE() << "at batch " << bb << " row " << i << " col " << j << ": " << c[at]
                        << " vs " << ref << ", error bound " << gamma * mag;
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
    Check(p, false);
  }
}

INSTANTIATE_TEST_SUITE_P(All, GemmLayouts,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(), ::testing::Bool()));

TEST(Gemm, Bias) {
  Check({1, 64, 48, 40, false, false, true, false}, false);
  Check({1, 64, 48, 40, false, true, true, false}, false);
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

TEST(Gemm, Bf16ModeRoundsInputsAndAccumulatesInFp32) {
  if (!Bf16Supported()) GTEST_SKIP() << "no AVX512-BF16/AMX on this CPU";
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kBf16).ok());
  // Products with >= 512 flops per converted element run in bf16: exact to fp32 accumulation
  // error against the reference on bf16-rounded inputs, for every layout (each factor rounded
  // once; the product of two 8-bit significands is exact in fp32).
  for (bool ta : {false, true})
    for (bool tb : {false, true}) Check({2, 520, 530, 24, ta, tb, false, tb}, true);
  Check({1, 530, 520, 24, false, true, true, false}, true);
  // Below that ratio, and single transposed-A products of any size (weight gradients), fp32.
  Check({1, 16, 24, 40, false, false, true, false}, false);
  Check({1, 520, 530, 600, true, false, false, true}, false);
  // The mode really is on: bf16 differs from fp32 far beyond fp32 rounding.
  const int64_t m = 512, n = 512, k = 64;
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> a(m * k), b(k * n), c(m * n), c32(m * n);
  for (float& x : a) x = u(gen);
  for (float& x : b) x = u(gen);
  Gemm(1, m, n, k, false, false, a.data(), b.data(), nullptr, c.data(), false);
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kF32).ok());
  EXPECT_EQ(GetMatmulPrecision(), MatmulPrecision::kF32);
  Gemm(1, m, n, k, false, false, a.data(), b.data(), nullptr, c32.data(), false);
  double max_diff = 0;
  for (size_t i = 0; i < c.size(); ++i)
    max_diff = std::max(max_diff, double(std::fabs(c[i] - c32[i])));
  // Each factor moves by up to 2^-9 relative, so a sum of 64 products of [-1, 1] numbers moves by
  // up to 64 * 2 * 2^-9 = 0.25 and typically by ~sqrt(64) * 2^-9 ~ 0.016 (max over 262k outputs
  // larger still); fp32 rounding alone is below 64 * 2^-24 ~ 4e-6.
  EXPECT_GT(max_diff, 1e-3);
  EXPECT_LE(max_diff, 64 * 2 * std::ldexp(1.0, -9) + 1e-5);
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

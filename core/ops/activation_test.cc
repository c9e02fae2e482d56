#include "core/ops/activation.h"

#include <cstring>
#include <vector>

#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/norm.h"
#include "gtest/gtest.h"
#include "core/kernels/reference/reference.h"
#include "core/testing/grad_check.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

TEST(ActivationTest, ReluGeluMatchReference) {
  Rng rng(21);
  // Avoid |x| < 1e-3 for Relu (the kink makes finite differences meaningless there).
  Tensor x = RandomUniform({5, 9}, -3, 3, rng);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::abs(x.data<float>()[i]) < 1e-3f) x.data<float>()[i] = 0.5f;
  OpCheck r;
  r.op = [](const std::vector<Var>& in) { return Relu(in[0]); };
  r.ref = [](const std::vector<std::vector<double>>& in) {
    std::vector<double> y;
    for (double v : in[0]) y.push_back(v > 0 ? v : 0);
    return y;
  };
  CheckOp(r, {x});
  for (GeluKind k : {GeluKind::kErf, GeluKind::kTanh}) {
    OpCheck g;
    g.op = [k](const std::vector<Var>& in) { return Gelu(in[0], k); };
    g.ref = [k](const std::vector<std::vector<double>>& in) {
      std::vector<double> y;
      for (double v : in[0])
        y.push_back(k == GeluKind::kErf ? reference::GeluErf(v) : reference::GeluTanh(v));
      return y;
    };
    CheckOp(g, {x});
  }
}

TEST(ActivationTest, Glu) {
  Rng rng(22);
  for (int64_t h : {1, 3, 8}) {
    Tensor x = RandomUniform({2, 3, 2 * h}, -2, 2, rng);
    OpCheck g;
    g.op = [](const std::vector<Var>& in) { return Glu(in[0]); };
    g.ref = [h](const std::vector<std::vector<double>>& in) {
      std::vector<double> y;
      for (int64_t r = 0; r < 6; ++r)
        for (int64_t j = 0; j < h; ++j)
          y.push_back(in[0][r * 2 * h + j] * reference::Sigmoid(in[0][r * 2 * h + h + j]));
      return y;
    };
    CheckOp(g, {x});
  }
}

// LinearGluResidual against its definition in double, x + GLU(y w + b) (times the tied mask
// m[b, j] broadcast over L), and every input's gradient by finite differences (CheckOp).
TEST(ActivationTest, LinearGluResidualMatchesReference) {
  Rng rng(24);
  const int64_t bs = 2, len = 3, k = 4, h = 5;
  for (bool masked : {false, true}) {
    const Tensor x = RandomUniform({bs, len, h}, -2, 2, rng);
    const Tensor y = RandomUniform({bs, len, k}, -2, 2, rng);
    const Tensor w = RandomUniform({k, 2 * h}, -0.5, 0.5, rng);
    const Tensor b = RandomUniform({2 * h}, -0.5, 0.5, rng);
    Tensor mask;
    if (masked) {
      mask = Tensor::Empty({bs, h});
      for (int64_t i = 0; i < mask.numel(); ++i) mask.data<float>()[i] = i % 3 == 0 ? 0.0f : 1.25f;
    }
    OpCheck c;
    c.op = [mask](const std::vector<Var>& in) {
      return LinearGluResidual(in[0], in[1], in[2], in[3], mask);
    };
    c.ref = [&](const std::vector<std::vector<double>>& in) {
      std::vector<double> out;
      for (int64_t bb = 0; bb < bs; ++bb)
        for (int64_t l = 0; l < len; ++l)
          for (int64_t j = 0; j < h; ++j) {
            const int64_t row = bb * len + l;
            double a = in[3][j], g = in[3][h + j];
            for (int64_t e = 0; e < k; ++e) {
              a += in[1][row * k + e] * in[2][e * 2 * h + j];
              g += in[1][row * k + e] * in[2][e * 2 * h + h + j];
            }
            const double m = masked ? mask.data<float>()[bb * h + j] : 1.0;
            out.push_back(in[0][row * h + j] + m * a * reference::Sigmoid(g));
          }
      return out;
    };
    CheckOp(c, {x, y, w, b});
  }
}

bool SameBits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() &&
         std::memcmp(a.data<float>(), b.data<float>(), a.numel() * sizeof(float)) == 0;
}

// LinearGluResidual against Add(x, Glu(Linear(y, w, b))): the same arithmetic in the same order,
// so the value and every gradient must be bitwise equal. Row counts below, at and across the
// bias sum's 256-row blocks (10, 600); H = 24 (the fp32 test) leaves a 16-lane tail. How x's
// gradient arrives:
//   kRoot       r is the root, so dL/dr is the caller's seed: it must be copied, not shared
//               (the seed stays unchanged);
//   kShared     x has no gradient yet and dL/dr is the tape's own: shared, and a later op (x * x,
//               made before r, so its backward runs after) adds into it;
//   kAccumulate x already has a gradient (x * x made after r): added.
//   With a tied mask [B, H] (0 or 1/(1-p)), the reference multiplies the GLU by the mask
//   broadcast over L (TiedDropout's arithmetic: one product per element, dx = dy * mask).
void ExpectLinearGluResidualIsBitwiseLinearGluAdd(int64_t k, int64_t h) {
  enum Path { kRoot, kShared, kAccumulate };
  Rng rng(23);
  for (int cs = 0; cs < 4; ++cs) {
    const int64_t len = cs < 2 ? 5 : 300;
    const bool masked = cs % 2 == 1;
    const Tensor xv = RandomUniform({2, len, h}, -2, 2, rng);
    const Tensor yv = RandomUniform({2, len, k}, -2, 2, rng);
    const Tensor wv = RandomUniform({k, 2 * h}, -0.5, 0.5, rng);
    const Tensor bv = RandomUniform({2 * h}, -0.5, 0.5, rng);
    const Tensor cv = RandomUniform({2, len, h}, -1, 1, rng);
    Tensor mask, wide;  // [B, H] and the same broadcast to [B, L, H]
    if (masked) {
      mask = RandomUniform({2, h}, 0, 1, rng);
      for (int64_t i = 0; i < mask.numel(); ++i)
        mask.data<float>()[i] = mask.data<float>()[i] < 0.3f ? 0.0f : 1.0f / 0.7f;
      wide = Tensor::Empty({2, len, h});
      for (int64_t bb = 0; bb < 2; ++bb)
        for (int64_t l = 0; l < len; ++l)
          for (int64_t j = 0; j < h; ++j)
            wide.data<float>()[(bb * len + l) * h + j] = mask.data<float>()[bb * h + j];
    }
    for (Path path : {kRoot, kShared, kAccumulate}) {
      std::vector<Tensor> got[2];
      for (int fused = 0; fused < 2; ++fused) {
        Var x = Parameter(xv.Clone(), "x"), y = Parameter(yv.Clone(), "y");
        Var w = Parameter(wv.Clone(), "w"), b = Parameter(bv.Clone(), "b");
        Var before = path == kShared ? Mul(x, x) : Var();
        Var branch = fused ? Var() : Glu(Linear(y, w, b));
        if (!fused && masked) branch = Mul(branch, Constant(wide));
        Var r = fused ? LinearGluResidual(x, y, w, b, mask) : Add(x, branch);
        Tensor seed = cv.Clone();
        if (path == kRoot) {
          Backward(r, seed);
          EXPECT_TRUE(SameBits(seed, cv)) << "the caller's seed was written";
        } else {
          Var other = path == kShared ? before : Mul(x, x);
          Backward(Add(Mul(r, Constant(cv)), other), seed);
        }
        got[fused] = {r.value(), x.grad(), y.grad(), w.grad(), b.grad()};
      }
      const char* names[] = {"r", "dx", "dy", "dw", "db"};
      for (int i = 0; i < 5; ++i)
        EXPECT_TRUE(SameBits(got[0][i], got[1][i]))
            << names[i] << " len=" << len << " path=" << path << " masked=" << masked;
    }
  }
}

TEST(ActivationTest, LinearGluResidualIsBitwiseLinearGluAdd) {
  ExpectLinearGluResidualIsBitwiseLinearGluAdd(20, 24);
}

// The same in bf16 mode at sizes where all three products run in bf16 (K = 96, 2H = 128: at
// least 64 flops per converted element, core/kernels/onednn/gemm.cc), so the fused op's dz is
// converted once for both gradients, as Linear's (core/ops/matmul.cc; matmul_test checks
// Linear against plain Gemm calls).
TEST(ActivationTest, LinearGluResidualIsBitwiseLinearGluAddInBf16Mode) {
  if (!onednn::Bf16Supported()) GTEST_SKIP() << "no AVX512-BF16/AMX on this CPU";
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kBf16).ok());
  ExpectLinearGluResidualIsBitwiseLinearGluAdd(96, 64);
  ASSERT_TRUE(SetMatmulPrecision(MatmulPrecision::kF32).ok());
}

// next_stats: the LayerNorm statistics of the output, bitwise LayerNormStats of r, with and
// without the mask; r itself unchanged by asking for them.
TEST(ActivationTest, LinearGluResidualNextStatsAreLayerNormStatsOfOutput) {
  Rng rng(29);
  const int64_t k = 20, h = 40, len = 70;
  for (const bool masked : {false, true}) {
    const Tensor xv = RandomUniform({2, len, h}, -2, 2, rng);
    const Tensor yv = RandomUniform({2, len, k}, -2, 2, rng);
    const Tensor wv = RandomUniform({k, 2 * h}, -0.5, 0.5, rng);
    const Tensor bv = RandomUniform({2 * h}, -0.5, 0.5, rng);
    Tensor mask;
    if (masked) {
      mask = RandomUniform({2, h}, 0, 1, rng);
      for (int64_t i = 0; i < mask.numel(); ++i)
        mask.data<float>()[i] = mask.data<float>()[i] < 0.3f ? 0.0f : 1.0f / 0.7f;
    }
    Var x = Parameter(xv.Clone(), "x"), y = Parameter(yv.Clone(), "y");
    Var w = Parameter(wv.Clone(), "w"), b = Parameter(bv.Clone(), "b");
    Tensor stats;
    const Var r = LinearGluResidual(x, y, w, b, mask, &stats, 1e-6f);
    const Var plain = LinearGluResidual(x, y, w, b, mask);
    EXPECT_TRUE(SameBits(r.value(), plain.value())) << "masked=" << masked;
    ASSERT_TRUE(stats.defined());
    EXPECT_TRUE(SameBits(stats, LayerNormStats(r.value(), 1e-6f))) << "masked=" << masked;
  }
}

}  // namespace
}  // namespace lra

// Lstm and Gru against double-precision references of PyTorch's equations (forward and
// central finite-difference gradients, core/testing/grad_check.h), and the streaming steps
// against the sequence ops.
#include "core/ops/rnn.h"

#include <cmath>
#include <vector>

#include "core/random.h"
#include "core/tape.h"
#include "core/testing/grad_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::kEpsF32;
using testing::OpCheck;
using testing::RandomTensor;

double Sig(double x) { return 1 / (1 + std::exp(-x)); }

// in = {xproj [B, L, gH], w_hh [H, gH], (b_hh [gH])}; returns h [B, L, H].
std::vector<double> RefRnn(bool lstm, int64_t bsz, int64_t len, int64_t h, bool has_bias,
                           const std::vector<std::vector<double>>& in) {
  const int64_t g = (lstm ? 4 : 3) * h;
  std::vector<double> out(bsz * len * h);
  for (int64_t b = 0; b < bsz; ++b) {
    std::vector<double> hp(h, 0.0), c(h, 0.0), s(g);
    for (int64_t t = 0; t < len; ++t) {
      const double* x = in[0].data() + (b * len + t) * g;
      for (int64_t j = 0; j < g; ++j) {
        s[j] = has_bias ? in[2][j] : 0.0;
        for (int64_t k = 0; k < h; ++k) s[j] += hp[k] * in[1][k * g + j];
      }
      std::vector<double> hn(h);
      for (int64_t j = 0; j < h; ++j) {
        if (lstm) {
          const double i = Sig(x[j] + s[j]), f = Sig(x[h + j] + s[h + j]);
          const double gg = std::tanh(x[2 * h + j] + s[2 * h + j]);
          const double o = Sig(x[3 * h + j] + s[3 * h + j]);
          c[j] = f * c[j] + i * gg;
          hn[j] = o * std::tanh(c[j]);
        } else {
          const double r = Sig(x[j] + s[j]), z = Sig(x[h + j] + s[h + j]);
          const double n = std::tanh(x[2 * h + j] + r * s[2 * h + j]);
          hn[j] = (1 - z) * n + z * hp[j];
        }
      }
      hp = hn;
      for (int64_t j = 0; j < h; ++j) out[(b * len + t) * h + j] = hp[j];
    }
  }
  return out;
}

std::vector<Tensor> RnnInputs(bool lstm, int64_t bsz, int64_t len, int64_t h, bool has_bias,
                              uint64_t seed) {
  const int64_t g = (lstm ? 4 : 3) * h;
  Rng rng(seed);
  std::vector<Tensor> in = {RandomTensor({bsz, len, g}, rng),
                            RandomTensor({h, g}, rng, -0.6f, 0.6f)};
  if (has_bias) in.push_back(RandomTensor({g}, rng));
  return in;
}

Var RunRnn(bool lstm, const std::vector<Var>& in) {
  const Var b = in.size() > 2 ? in[2] : Var();
  return lstm ? Lstm(in[0], in[1], b) : Gru(in[0], in[1], b);
}

// Tolerances (grad_check.h): each pre-activation sums H products and the state carries the
// sums of all L steps, so the forward's reduction length is L * H; the weight and bias
// gradients also sum over the B rows: B * L * H for the backward.
void CheckRnn(bool lstm, bool has_bias, int64_t bsz = 2, int64_t len = 7, int64_t h = 5) {
  OpCheck c;
  c.op = [lstm](const std::vector<Var>& in) { return RunRnn(lstm, in); };
  c.ref = [=](const std::vector<std::vector<double>>& in) {
    return RefRnn(lstm, bsz, len, h, has_bias, in);
  };
  c.reduction_length = len * h;
  c.grad_reduction_length = bsz * len * h;
  CheckOp(c, RnnInputs(lstm, bsz, len, h, has_bias, 3));
}

TEST(LstmTest, GradCheck) { CheckRnn(true, true); }
TEST(LstmTest, GradCheckNoBias) { CheckRnn(true, false); }
TEST(GruTest, GradCheck) { CheckRnn(false, true); }
// 9 rows and 3H = 33 / 4H = 44 columns: the 8-row and 1-row register blocks of the
// hidden-to-hidden product and its column tail (H = 5 above only takes the tail).
TEST(LstmTest, GradCheckBlockedProduct) { CheckRnn(true, true, 9, 4, 11); }
TEST(GruTest, GradCheckBlockedProduct) { CheckRnn(false, true, 9, 4, 11); }
TEST(GruTest, GradCheckNoBias) { CheckRnn(false, false); }

// Stepping equals the sequence op. Both are fp32 evaluations of the same sums, each within
// 16 eps sqrt(L H) of the exact values (|h| < 1, so scale 1); they differ by at most twice that.
void CheckStep(bool lstm) {
  const int64_t bsz = 3, len = 40, h = 24, g = (lstm ? 4 : 3) * h;
  const std::vector<Tensor> in = RnnInputs(lstm, bsz, len, h, true, 8);
  Var out;
  {
    NoGrad ng;
    out = RunRnn(lstm, {Var(in[0]), Var(in[1]), Var(in[2])});
  }
  Tensor hs = Tensor::Zeros({bsz, h}), cs = Tensor::Zeros({bsz, h});
  const double tol = 2 * 16 * kEpsF32 * std::sqrt(double(len * h));
  for (int64_t t = 0; t < len; ++t) {
    Tensor xt = Tensor::Empty({bsz, g});
    for (int64_t b = 0; b < bsz; ++b)
      for (int64_t j = 0; j < g; ++j)
        xt.data<float>()[b * g + j] = in[0].data<float>()[(b * len + t) * g + j];
    const Tensor y = lstm ? LstmStep(xt, in[1], in[2], hs, cs) : GruStep(xt, in[1], in[2], hs);
    for (int64_t b = 0; b < bsz; ++b)
      for (int64_t j = 0; j < h; ++j)
        ASSERT_NEAR(y.data<float>()[b * h + j], out.value().data<float>()[(b * len + t) * h + j],
                    tol)
            << "t " << t;
  }
}

TEST(LstmTest, StepMatchesSequence) { CheckStep(true); }
TEST(GruTest, StepMatchesSequence) { CheckStep(false); }

// The recurrence splits the batch rows over the threads; the output and every gradient are
// bitwise the same with 1 and 2 threads. 9 rows: one thread runs the 8-row and the 1-row
// blocks of the hidden-to-hidden product, two threads blocks of 4 and 1 rows and of 4.
void CheckThreads(bool lstm) {
  const int64_t bsz = 9, len = 12, h = 40;
  const std::vector<Tensor> in = RnnInputs(lstm, bsz, len, h, true, 17);
  auto op = [lstm](const std::vector<Var>& v) { return RunRnn(lstm, v); };
  const auto one = testing::OutputAndGradsWithThreads(op, in, 1);
  const auto two = testing::OutputAndGradsWithThreads(op, in, 2);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i], two[i]) << "tensor " << i;
}

TEST(LstmTest, ThreadCountIndependent) { CheckThreads(true); }
TEST(GruTest, ThreadCountIndependent) { CheckThreads(false); }

// A permutation: exact forward and gradient (reduction length 1).
TEST(ReverseTimeTest, GradCheck) {
  const int64_t bsz = 2, len = 5, h = 3;
  Rng rng(9);
  OpCheck c;
  c.op = [](const std::vector<Var>& in) { return ReverseTime(in[0]); };
  c.ref = [=](const std::vector<std::vector<double>>& in) {
    std::vector<double> y(in[0].size());
    for (int64_t b = 0; b < bsz; ++b)
      for (int64_t t = 0; t < len; ++t)
        for (int64_t j = 0; j < h; ++j)
          y[(b * len + t) * h + j] = in[0][(b * len + len - 1 - t) * h + j];
    return y;
  };
  CheckOp(c, {RandomTensor({bsz, len, h}, rng)});
}

}  // namespace
}  // namespace lra

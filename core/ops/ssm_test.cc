// SelectiveScan and CausalConv1d against double-precision references (forward and central
// finite-difference gradients, core/testing/grad_check.h), streaming steps against the
// training-mode ops, and thread-count independence.
#include "core/ops/ssm.h"

#include <omp.h>

#include <cmath>
#include <vector>

#include "core/ops/recurrent_internal.h"
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

struct ScanCase {
  int64_t b, l, d, n;
  bool has_D, has_z, has_bias, softplus;
};

// selective_scan_ref (state-spaces/mamba e9594ce, mamba_ssm/ops/selective_scan_interface.py)
// in double and [B, L, D] layout. in = {u, delta, A, B, C, [D], [z], [delta_bias]}.
std::vector<double> RefScan(const ScanCase& k, const std::vector<std::vector<double>>& in) {
  const auto &u = in[0], &delta = in[1], &A = in[2], &Bm = in[3], &Cm = in[4];
  size_t next = 5;
  const std::vector<double>* D = k.has_D ? &in[next++] : nullptr;
  const std::vector<double>* z = k.has_z ? &in[next++] : nullptr;
  const std::vector<double>* bias = k.has_bias ? &in[next++] : nullptr;
  std::vector<double> out(k.b * k.l * k.d);
  for (int64_t b = 0; b < k.b; ++b)
    for (int64_t d = 0; d < k.d; ++d) {
      std::vector<double> h(k.n, 0.0);
      for (int64_t t = 0; t < k.l; ++t) {
        const int64_t i = (b * k.l + t) * k.d + d;
        double dt = delta[i] + (bias ? (*bias)[d] : 0.0);
        if (k.softplus) dt = dt > 20 ? dt : std::log1p(std::exp(dt));
        double y = 0;
        for (int64_t j = 0; j < k.n; ++j) {
          h[j] = std::exp(dt * A[d * k.n + j]) * h[j] + dt * Bm[(b * k.l + t) * k.n + j] * u[i];
          y += Cm[(b * k.l + t) * k.n + j] * h[j];
        }
        if (D) y += (*D)[d] * u[i];
        if (z) y *= (*z)[i] / (1 + std::exp(-(*z)[i]));
        out[i] = y;
      }
    }
  return out;
}

// Inputs for a case: u, delta in [-1, 1]; A = -(1..N) scaled into [-1.5, -0.1] per channel
// (S4D-Real-like, decaying); B, C, D, z, bias in [-1, 1].
std::vector<Tensor> ScanInputs(const ScanCase& k, uint64_t seed) {
  Rng rng(seed);
  std::vector<Tensor> in = {RandomTensor({k.b, k.l, k.d}, rng), RandomTensor({k.b, k.l, k.d}, rng),
                            RandomTensor({k.d, k.n}, rng, -1.5f, -0.1f),
                            RandomTensor({k.b, k.l, k.n}, rng), RandomTensor({k.b, k.l, k.n}, rng)};
  if (k.has_D) in.push_back(RandomTensor({k.d}, rng));
  if (k.has_z) in.push_back(RandomTensor({k.b, k.l, k.d}, rng, -2.0f, 2.0f));
  if (k.has_bias) in.push_back(RandomTensor({k.d}, rng, -0.5f, 0.5f));
  return in;
}

Var RunScan(const ScanCase& k, const std::vector<Var>& in, Tensor* last = nullptr) {
  size_t next = 5;
  const Var D = k.has_D ? in[next++] : Var();
  const Var z = k.has_z ? in[next++] : Var();
  const Var bias = k.has_bias ? in[next++] : Var();
  SelectiveScanOptions o;
  o.delta_softplus = k.softplus;
  return SelectiveScan(in[0], in[1], in[2], in[3], in[4], D, z, bias, o, last);
}

// Tolerances (grad_check.h): an output is a sum over the N states of terms that each add up to
// L decayed inputs, so the forward's reduction length is L * N. A gradient sums at most every
// term of the forward (dB and dC over D channels and L steps, dA, dD and delta_bias over B and
// L): B * L * D * N bounds every backward sum.
void CheckScanInputs(const ScanCase& k, const std::vector<Tensor>& in) {
  OpCheck c;
  c.op = [k](const std::vector<Var>& in) { return RunScan(k, in); };
  c.ref = [k](const std::vector<std::vector<double>>& in) { return RefScan(k, in); };
  c.reduction_length = static_cast<double>(k.l * k.n);
  c.grad_reduction_length = static_cast<double>(k.b * k.l * k.d * k.n);
  CheckOp(c, in);
}

void CheckScan(const ScanCase& k) { CheckScanInputs(k, ScanInputs(k, 11)); }

TEST(SelectiveScanTest, AllInputsAcrossChunksAndBlocks) {
  // L = 70 crosses the 64-step chunk; D = 20 is one full 16-lane block and a partial one.
  CheckScan({2, 70, 20, 3, true, true, true, true});
}

TEST(SelectiveScanTest, TwoChannelGroups) {
  // D = 70: five blocks in two work items per batch row, so dB and dC sum two partials.
  CheckScan({1, 20, 70, 2, false, false, true, true});
}

TEST(SelectiveScanTest, SixteenStates) {
  // N = 16 (Mamba's d_state) runs the kernels' unrolled path, the state held in registers.
  CheckScan({1, 70, 20, 16, true, true, true, true});
}

TEST(SelectiveScanTest, ExponentsBelowTheClampAndPositive) {
  // The kernels evaluate exp(dt A) as 2^(dt A log2 e) with the exponent clamped to
  // [-126, 127]. Even channels get A in [-300, -100], so dt A (dt = softplus(delta + bias) in
  // [0.2, 1.7]) reaches -510, far below the clamp (exp < 1e-38 there, as good as 0 beside the
  // other terms); odd channels get A in [0.01, 0.05] > 0 (growing states, positive exponents).
  // N = 16: the unrolled kernels Mamba runs.
  const ScanCase k{2, 20, 20, 16, true, true, true, true};
  std::vector<Tensor> in = ScanInputs(k, 5);
  Rng rng(6);
  const Tensor big = RandomTensor({k.d, k.n}, rng, -300.0f, -100.0f);
  const Tensor pos = RandomTensor({k.d, k.n}, rng, 0.01f, 0.05f);
  float* a = in[2].data<float>();
  for (int64_t d = 0; d < k.d; ++d)
    for (int64_t j = 0; j < k.n; ++j)
      a[d * k.n + j] = (d % 2 == 0 ? big : pos).data<float>()[d * k.n + j];
  CheckScanInputs(k, in);
}

TEST(SelectiveScanTest, ExponentsFarBelowTheClampAllNonPositive) {
  // Every A <= 0 and dt >= 0 (softplus), N = 16: Mamba's case, which on AVX-512 CPUs evaluates
  // 2^(dt A log2 e) with VRNDSCALEPS / VSCALEFPS instead of the clamped exponent field. A in
  // [-300, -100] on even channels takes dt A down to about -510 (2^-736: zero in float, where
  // the clamped form gives 2^-126); odd channels keep A in [-1.5, -0.1].
  const ScanCase k{2, 70, 20, 16, true, true, true, true};
  std::vector<Tensor> in = ScanInputs(k, 7);
  Rng rng(8);
  const Tensor big = RandomTensor({k.d, k.n}, rng, -300.0f, -100.0f);
  float* a = in[2].data<float>();
  for (int64_t d = 0; d < k.d; d += 2)
    for (int64_t j = 0; j < k.n; ++j) a[d * k.n + j] = big.data<float>()[d * k.n + j];
  CheckScanInputs(k, in);
}

// The AVX-512 kernels (VSCALEFPS exp in the scan, the softplus and sigmoid, the conv's SiLU)
// and the portable ones that CPUs without AVX-512 run compute the same floats wherever no
// exponent falls below -126 (ssm.cc, Exp2V and ExpV): outputs and every gradient bitwise equal,
// on Mamba's path (N = 16, softplus, every A <= 0) and the conv with SiLU. (Skipped in effect
// on a CPU without AVX-512, where both runs take the portable kernels.)
TEST(SelectiveScanTest, Avx512AndPortableKernelsAgree) {
  const ScanCase k{2, 70, 40, 16, true, true, true, true};
  const std::vector<Tensor> in = ScanInputs(k, 9);
  auto scan = [k](const std::vector<Var>& v) { return RunScan(k, v); };
  Rng rng(10);
  const std::vector<Tensor> cin = {RandomTensor({2, 37, 40}, rng), RandomTensor({40, 4}, rng),
                                   RandomTensor({40}, rng)};
  auto conv = [](const std::vector<Var>& v) { return CausalConv1d(v[0], v[1], v[2], true); };
  const auto fast_scan = testing::OutputAndGradsWithThreads(scan, in, 2);
  const auto fast_conv = testing::OutputAndGradsWithThreads(conv, cin, 2);
  ssm_internal::SetAvx512ForTesting(false);
  const auto portable_scan = testing::OutputAndGradsWithThreads(scan, in, 2);
  const auto portable_conv = testing::OutputAndGradsWithThreads(conv, cin, 2);
  ssm_internal::SetAvx512ForTesting(true);
  ASSERT_EQ(fast_scan.size(), portable_scan.size());
  for (size_t i = 0; i < fast_scan.size(); ++i) EXPECT_EQ(fast_scan[i], portable_scan[i]) << i;
  ASSERT_EQ(fast_conv.size(), portable_conv.size());
  for (size_t i = 0; i < fast_conv.size(); ++i) EXPECT_EQ(fast_conv[i], portable_conv[i]) << i;
}

TEST(SelectiveScanTest, NoOptionalInputs) { CheckScan({2, 9, 5, 4, false, false, false, false}); }

TEST(SelectiveScanTest, SoftplusAboveThresholdIsIdentity) {
  const ScanCase k{1, 3, 2, 1, false, false, false, true};
  std::vector<Tensor> in = ScanInputs(k, 3);
  in[1].Fill(25.0f);  // softplus(25) taken as 25, as the reference kernel does
  Var out = RunScan(k, {Var(in[0]), Var(in[1]), Var(in[2]), Var(in[3]), Var(in[4])});
  std::vector<std::vector<double>> din;
  for (const Tensor& t : in) din.push_back(testing::ToDouble(t));
  const std::vector<double> ref = RefScan(k, din);
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_NEAR(out.value().data<float>()[i], ref[i],
                64 * kEpsF32 * std::max(1.0, std::abs(ref[i])));
}

// Stepping one token at a time equals the scan. Both are fp32 evaluations of the same sums and
// each is within 16 eps sqrt(L N) scale of the exact result (the forward bound above), so they
// differ by at most twice that.
TEST(SelectiveScanTest, StepMatchesScan) {
  const ScanCase k{2, 150, 20, 4, true, true, true, true};
  const std::vector<Tensor> in = ScanInputs(k, 5);
  Tensor last;
  Var out;
  {
    NoGrad ng;
    std::vector<Var> vars;
    for (const Tensor& t : in) vars.emplace_back(t);
    out = RunScan(k, vars, &last);
  }
  Tensor state = Tensor::Zeros({k.b, k.d, k.n});
  double scale = 1;
  for (float v : out.value().ToVector()) scale = std::max(scale, std::abs(double(v)));
  const double tol = 2 * 16 * kEpsF32 * std::sqrt(double(k.l * k.n)) * scale;
  SelectiveScanOptions o;
  o.delta_softplus = true;
  auto slice = [&](const Tensor& x, int64_t t) {  // x[:, t, :]
    const int64_t w = x.dim(2);
    Tensor s = Tensor::Empty({k.b, w});
    for (int64_t b = 0; b < k.b; ++b)
      for (int64_t j = 0; j < w; ++j)
        s.data<float>()[b * w + j] = x.data<float>()[(b * k.l + t) * w + j];
    return s;
  };
  for (int64_t t = 0; t < k.l; ++t) {
    const Tensor y =
        SelectiveScanStep(state, slice(in[0], t), slice(in[1], t), in[2], slice(in[3], t),
                          slice(in[4], t), in[5], slice(in[6], t), in[7], o);
    for (int64_t b = 0; b < k.b; ++b)
      for (int64_t d = 0; d < k.d; ++d)
        ASSERT_NEAR(y.data<float>()[b * k.d + d],
                    out.value().data<float>()[(b * k.l + t) * k.d + d], tol)
            << "t " << t << " b " << b << " d " << d;
  }
  // The scan's last state continues the stream: it equals the stepped state.
  double sscale = 1;
  for (float v : state.ToVector()) sscale = std::max(sscale, std::abs(double(v)));
  const double stol = 2 * 16 * kEpsF32 * std::sqrt(double(k.l)) * sscale;
  for (int64_t i = 0; i < state.numel(); ++i)
    ASSERT_NEAR(last.data<float>()[i], state.data<float>()[i], stol) << i;
}

// Output and every gradient are bitwise identical with 1 and 2 threads (fixed partial sums).
TEST(SelectiveScanTest, ThreadCountIndependent) {
  const ScanCase k{3, 130, 70, 5, true, true, true, true};
  const std::vector<Tensor> in = ScanInputs(k, 9);
  auto op = [k](const std::vector<Var>& v) { return RunScan(k, v); };
  const auto one = testing::OutputAndGradsWithThreads(op, in, 1);
  const auto two = testing::OutputAndGradsWithThreads(op, in, 2);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i], two[i]) << "tensor " << i;
}

// SumPartsRows (one parallel region over all rows, as the scan's dB and dC sums now run) equals
// the per-row sums it replaced, 0 + part 0 + part 1 + ... in that order, bitwise, with 1 and 2
// threads; the sizes are above the parallel grain (rows x per x parts = 2^17) and split rows
// between the threads, and a part holds -0 (0 + -0 is +0: the order is the old one exactly).
TEST(SelectiveScanTest, SumPartsRowsMatchesPerRowSums) {
  const int64_t rows = 3, parts = 4, per = 11001;
  Rng rng(21);
  Tensor part = RandomTensor({rows, parts, per}, rng);
  part.data<float>()[5] = -0.0f;
  std::vector<float> want(rows * per);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < per; ++i) {
      float s = 0.0f;
      for (int64_t p = 0; p < parts; ++p) s += part.data<float>()[(r * parts + p) * per + i];
      want[r * per + i] = s;
    }
  const int prev = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    std::vector<float> got(rows * per, 1.0f);
    ssm_internal::SumPartsRows(part.data<float>(), rows, parts, per, got.data());
    for (int64_t e = 0; e < rows * per; ++e)
      ASSERT_EQ(std::signbit(got[e]), std::signbit(want[e])) << threads << " threads, " << e;
    EXPECT_EQ(got, want) << threads << " threads";
  }
  omp_set_num_threads(prev);
  std::vector<float> none(2 * 3, 1.0f);
  ssm_internal::SumPartsRows(nullptr, 2, 0, 3, none.data());
  EXPECT_EQ(none, std::vector<float>(6, 0.0f));
}

// A second backward adds into the gradients the first one wrote (the first writes in place,
// the second through a temporary): every gradient doubles exactly.
TEST(SelectiveScanTest, SecondBackwardAccumulates) {
  const ScanCase k{2, 70, 20, 3, true, true, true, true};
  const std::vector<Tensor> in = ScanInputs(k, 13);
  std::vector<Var> vars;
  for (const Tensor& t : in) vars.emplace_back(t.Clone(), true);
  Rng rng(5);
  const Tensor dy = RandomTensor({k.b, k.l, k.d}, rng);
  Backward(RunScan(k, vars), dy);
  std::vector<std::vector<float>> once;
  for (const Var& v : vars) once.push_back(v.grad().ToVector());
  Backward(RunScan(k, vars), dy);
  for (size_t i = 0; i < vars.size(); ++i) {
    std::vector<float> twice = once[i];
    for (float& g : twice) g *= 2;
    EXPECT_EQ(vars[i].grad().ToVector(), twice) << "input " << i;
  }
}

// ---- CausalConv1d ----

std::vector<double> RefConv(int64_t bsz, int64_t len, int64_t dim, int64_t kw, bool has_bias,
                            bool silu, const std::vector<std::vector<double>>& in) {
  std::vector<double> y(bsz * len * dim);
  for (int64_t b = 0; b < bsz; ++b)
    for (int64_t t = 0; t < len; ++t)
      for (int64_t d = 0; d < dim; ++d) {
        double acc = has_bias ? in[2][d] : 0.0;
        for (int64_t k = 0; k < kw; ++k) {
          const int64_t s = t - kw + 1 + k;
          if (s >= 0) acc += in[1][d * kw + k] * in[0][(b * len + s) * dim + d];
        }
        y[(b * len + t) * dim + d] = silu ? acc / (1 + std::exp(-acc)) : acc;
      }
  return y;
}

void CheckConv(bool has_bias, bool silu, int64_t bsz = 2, int64_t len = 11, int64_t dim = 5) {
  const int64_t kw = 4;
  Rng rng(4);
  std::vector<Tensor> in = {RandomTensor({bsz, len, dim}, rng), RandomTensor({dim, kw}, rng)};
  if (has_bias) in.push_back(RandomTensor({dim}, rng));
  OpCheck c;
  c.op = [&](const std::vector<Var>& v) {
    return CausalConv1d(v[0], v[1], has_bias ? v[2] : Var(), silu);
  };
  c.ref = [&](const std::vector<std::vector<double>>& v) {
    return RefConv(bsz, len, dim, kw, has_bias, silu, v);
  };
  c.reduction_length = kw + 1;               // K products and the bias
  c.grad_reduction_length = bsz * len * kw;  // dw, dbias sum over B and L
  CheckOp(c, in);
}

TEST(CausalConv1dTest, Plain) { CheckConv(false, false); }
TEST(CausalConv1dTest, BiasAndSilu) { CheckConv(true, true); }

// Backward works on blocks of 256 rows of [B * L, D], each with the K - 1 rows after it: 3 x 100
// rows put a block boundary (row 256) inside the third sequence and end the last block short.
TEST(CausalConv1dTest, BackwardBlocksAcrossSequences) {
  CheckConv(true, true, 3, 100, 3);
  CheckConv(false, false, 3, 100, 3);
}

// Same sums in the same order (bias, then k = 0..K-1; missing inputs are zeros in the step),
// so the step equals the op to a few ulp: 16 eps sqrt(K + 1) scale, as the forward bound.
TEST(CausalConv1dTest, StepMatchesConv) {
  const int64_t bsz = 2, len = 9, dim = 19, kw = 4;
  Rng rng(6);
  const Tensor x = RandomTensor({bsz, len, dim}, rng), w = RandomTensor({dim, kw}, rng),
               bias = RandomTensor({dim}, rng);
  Var y;
  {
    NoGrad ng;
    y = CausalConv1d(Var(x), Var(w), Var(bias), true);
  }
  Tensor state = Tensor::Zeros({bsz, dim, kw});
  const double tol = 16 * kEpsF32 * std::sqrt(double(kw + 1)) * 5;  // scale: |pre| <= 1 + K
  for (int64_t t = 0; t < len; ++t) {
    Tensor xt = Tensor::Empty({bsz, dim});
    for (int64_t b = 0; b < bsz; ++b)
      for (int64_t d = 0; d < dim; ++d)
        xt.data<float>()[b * dim + d] = x.data<float>()[(b * len + t) * dim + d];
    const Tensor yt = CausalConv1dStep(state, xt, w, bias, true);
    for (int64_t b = 0; b < bsz; ++b)
      for (int64_t d = 0; d < dim; ++d)
        ASSERT_NEAR(yt.data<float>()[b * dim + d], y.value().data<float>()[(b * len + t) * dim + d],
                    tol);
  }
}

}  // namespace
}  // namespace lra

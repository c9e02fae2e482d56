// SynthesizerAttention (the op): forward against a double reference written from
// synthesizer_attention.h, gradients (q, k, v, the shared [heads, P, P] logits and the
// per-example logits) by central differences: shared + dot product (the released code's
// default), per-example only (ignore_dot_product), both with a token mask, with dropout (the
// reference regenerates the Philox mask of core/kernels/window_dropout.h); an example's output
// does not depend on the rest of its batch, nor the gradients on the thread count. Each for
// both saved states (the row logsumexp, the probabilities).
#include "core/ops/synthesizer_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <vector>

#include "core/kernels/window_dropout.h"
#include "core/testing/grad_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;
using Vec = std::vector<double>;

// Scores of masked query rows at the unperturbed inputs, by (b, head, row); see Ref.
struct Frozen {
  std::map<int, Vec> rows;
  bool recorded = false;
};

// shared: [heads, P, P] (top-left L x L used) or empty; pe: [B, heads, L, L] or empty; q, k
// empty for synthetic only; drop(z, h, i, j): the dropout factor M / (1 - p) (null: none). A
// masked query's scores all become -1e10 in fp32, so its row is uniform, yet autodiff (flax's
// and ours) still passes the softmax Jacobian at that uniform row to its scores. The reference
// reproduces both with softmax(s - s0), s0 = the row's scores at the unperturbed inputs
// (recorded by the first call), as models/transformer/reference_model.h does.
using DropFn = std::function<double(int, int, int, int)>;
Vec Ref(const Vec& q, const Vec& k, const Vec& v, const Vec& shared, int p, const Vec& pe, int b,
        int l, int heads, int d, const std::vector<int32_t>& lengths,
        const std::vector<uint8_t>& mask, Frozen& frozen, const DropFn& drop = nullptr) {
  const bool record = !frozen.recorded;
  frozen.recorded = true;
  const int w = heads * d;
  Vec out(v.size(), 0.0);
  for (int z = 0; z < b; ++z) {
    auto valid = [&](int j) {
      return j < (lengths.empty() ? l : lengths[z]) && (mask.empty() || mask[z * l + j]);
    };
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < l; ++i) {
        Vec s(l, 0.0);
        double mx = -1e300, zs = 0;
        for (int j = 0; j < l; ++j) {
          if (!q.empty())
            for (int c = 0; c < d; ++c)
              s[j] += q[(z * l + i) * w + h * d + c] * k[(z * l + j) * w + h * d + c] / std::sqrt(double(d));
          if (!shared.empty()) s[j] += shared[(h * p + i) * p + j];
          if (!pe.empty()) s[j] += pe[((z * heads + h) * l + i) * l + j];
        }
        if (!valid(i)) {
          Vec& s0 = frozen.rows[(z * heads + h) * l + i];
          if (record) s0 = s;
          for (int j = 0; j < l; ++j) s[j] -= s0[j];
        }
        for (int j = 0; j < l; ++j)
          if (valid(i) && !valid(j)) s[j] = -1e300;
        for (int j = 0; j < l; ++j) mx = std::max(mx, s[j]);
        for (int j = 0; j < l; ++j) zs += s[j] = std::exp(s[j] - mx);
        for (int j = 0; j < l; ++j) {
          const double f = drop ? drop(z, h, i, j) : 1.0;
          for (int c = 0; c < d; ++c) out[(z * l + i) * w + h * d + c] += f * s[j] / zs * v[(z * l + j) * w + h * d + c];
        }
      }
  }
  return out;
}

// Every check runs with both saved states: the row logsumexp (backward recomputes P) and P.
class SynthesizerAttentionOpTest : public ::testing::TestWithParam<kernels::SynthesizerSaved> {
 protected:
  kernels::SynthesizerSaved Kind() const { return GetParam(); }
};

TEST_P(SynthesizerAttentionOpTest, RandomPlusDotProduct) {
  Rng rng(61);
  const int b = 2, l = 5, heads = 2, d = 3;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng),
         s = testing::RandomTensor({heads, l + 2, l + 2}, rng);  // P = L + 2: a slice is read
  const std::vector<int32_t> lengths = {5, 3};
  OpCheck c;
  c.op = [&](const std::vector<Var>& in) {
    return SynthesizerAttention(in[0], in[1], in[2], in[3], Var(), lengths, {}, heads, 0,
                                nullptr, Kind());
  };
  Frozen frozen;
  c.ref = [&](const std::vector<Vec>& in) {
    return Ref(in[0], in[1], in[2], in[3], l + 2, {}, b, l, heads, d, lengths, {}, frozen);
  };
  c.reduction_length = l * d;
  CheckOp(c, {q, k, v, s});
}

TEST_P(SynthesizerAttentionOpTest, SyntheticOnlyWithMask) {
  Rng rng(62);
  const int b = 2, l = 5, heads = 2, d = 2;
  Tensor v = testing::RandomTensor({b, l, heads * d}, rng),
         s = testing::RandomTensor({b, heads, l, l}, rng);
  const std::vector<int32_t> lengths = {5, 4};
  for (const std::vector<uint8_t>& mask :
       {std::vector<uint8_t>{}, std::vector<uint8_t>{1, 0, 1, 1, 1, 1, 1, 0, 1, 1}}) {
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) {
      return SynthesizerAttention(Var(), Var(), in[0], Var(), in[1], lengths, mask, heads, 0,
                                  nullptr, Kind());
    };
    Frozen frozen;
    c.ref = [&](const std::vector<Vec>& in) {
      return Ref({}, {}, in[0], {}, 0, in[1], b, l, heads, d, lengths, mask, frozen);
    };
    c.reduction_length = l;
    SCOPED_TRACE(mask.size());
    CheckOp(c, {v, s});
  }
}

// dense+random with the dot product and a token mask: every input's gradient.
TEST_P(SynthesizerAttentionOpTest, SharedPerExampleAndDotProductWithMask) {
  Rng rng(64);
  const int b = 2, l = 6, heads = 2, d = 2, p = 7;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng),
         sh = testing::RandomTensor({heads, p, p}, rng),
         pe = testing::RandomTensor({b, heads, l, l}, rng);
  const std::vector<int32_t> lengths = {6, 4};
  const std::vector<uint8_t> mask = {1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1};
  OpCheck c;
  c.op = [&](const std::vector<Var>& in) {
    return SynthesizerAttention(in[0], in[1], in[2], in[3], in[4], lengths, mask, heads, 0,
                                nullptr, Kind());
  };
  Frozen frozen;
  c.ref = [&](const std::vector<Vec>& in) {
    return Ref(in[0], in[1], in[2], in[3], p, in[4], b, l, heads, d, lengths, mask, frozen);
  };
  c.reduction_length = l * d;
  CheckOp(c, {q, k, v, sh, pe});
}

// Dropout on the probabilities with the Philox mask of core/kernels/window_dropout.h (key: the
// op's one draw from rng), forward and gradients; rate 0 draws nothing.
TEST_P(SynthesizerAttentionOpTest, DropoutIsPhiloxOnProbabilities) {
  Rng rng(63);
  const int b = 2, l = 5, heads = 2, d = 2;
  const float rate = 0.3f;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng),
         sh = testing::RandomTensor({heads, l, l}, rng);
  const std::vector<int32_t> lengths = {5, 3};
  const uint64_t seed = Rng(9).NextU64();
  const kernels::WindowDropout wd(rate, seed);
  OpCheck c;
  c.op = [&](const std::vector<Var>& in) {
    Rng r(9);
    return SynthesizerAttention(in[0], in[1], in[2], in[3], Var(), lengths, {}, heads, rate, &r, Kind());
  };
  Frozen frozen;
  int dropped = 0;
  c.ref = [&](const std::vector<Vec>& in) {
    return Ref(in[0], in[1], in[2], in[3], l, {}, b, l, heads, d, lengths, {}, frozen,
               [&](int z, int h, int i, int j) {
                 float f;
                 wd.Row(z, h, i, j, 1, &f);
                 dropped += f == 0;
                 return double(f);
               });
  };
  c.reduction_length = l * d;
  CheckOp(c, {q, k, v, sh});
  EXPECT_GT(dropped, 0);
  Rng d1(1);
  SynthesizerAttention(Var(), Var(), Constant(v), Constant(sh), Var(), {}, {}, heads, 0, &d1, Kind());
  EXPECT_EQ(d1.counter(), 0u);
}

// An example's output is bitwise the same alone and in a batch with other examples (other
// lengths, masks and per-example logits), with dropout, on 1 or 2 threads.
TEST_P(SynthesizerAttentionOpTest, ExampleIndependentOfItsBatch) {
  Rng rng(65);
  const int b = 3, l = 40, heads = 2, d = 8;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng),
         sh = testing::RandomTensor({heads, l, l}, rng),
         pe = testing::RandomTensor({b, heads, l, l}, rng);
  const std::vector<int32_t> lengths = {40, 25, 33};
  std::vector<uint8_t> mask(b * l, 1);
  mask[l + 3] = mask[2 * l + 7] = 0;
  Rng r(3);
  const Tensor all = SynthesizerAttention(Constant(q), Constant(k), Constant(v), Constant(sh),
                                          Constant(pe), lengths, mask, heads, 0.1f, &r, Kind())
                         .value();
  // Example z alone: its rows of every input. The dropout mask is keyed by (b, head, i, j), so an
  // example alone draws example 0's mask: with dropout compare example 0, without every one.
  auto row = [&](const Tensor& t, int z) {
    const int64_t n = t.numel() / b;
    std::vector<int64_t> dims = t.shape().ToVector();
    dims[0] = 1;
    std::vector<float> x(t.data<float>() + z * n, t.data<float>() + (z + 1) * n);
    return Tensor::FromVector(Shape(dims), x);
  };
  Rng r0(3);
  const Tensor first = SynthesizerAttention(Constant(row(q, 0)), Constant(row(k, 0)),
                                            Constant(row(v, 0)), Constant(sh),
                                            Constant(row(pe, 0)), {lengths[0]},
                                            std::vector<uint8_t>(mask.begin(), mask.begin() + l),
                                            heads, 0.1f, &r0, Kind())
                           .value();
  const std::vector<float> a = all.ToVector(), f = first.ToVector();
  EXPECT_EQ(std::vector<float>(a.begin(), a.begin() + f.size()), f);
  const Tensor plain = SynthesizerAttention(Constant(q), Constant(k), Constant(v), Constant(sh),
                                            Constant(pe), lengths, mask, heads, 0, nullptr, Kind())
                           .value();
  for (int z = 0; z < b; ++z) {
    const Tensor one = SynthesizerAttention(
        Constant(row(q, z)), Constant(row(k, z)), Constant(row(v, z)), Constant(sh),
        Constant(row(pe, z)), {lengths[z]},
        std::vector<uint8_t>(mask.begin() + z * l, mask.begin() + (z + 1) * l), heads, 0,
        nullptr, Kind()).value();
    const std::vector<float> p = plain.ToVector(), o = one.ToVector();
    EXPECT_EQ(std::vector<float>(p.begin() + z * o.size(), p.begin() + (z + 1) * o.size()), o)
        << z;
  }
}

// Gradients are bitwise the same on 1 and 3 threads: the shared gradient is summed over the
// batch in b order whether backward holds dS of one example at a time (1 thread) or of three.
TEST_P(SynthesizerAttentionOpTest, GradientsIndependentOfThreadCount) {
  Rng rng(66);
  const int b = 3, l = 24, heads = 1, d = 4;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng),
         sh = testing::RandomTensor({heads, l + 3, l + 3}, rng),
         w = testing::RandomTensor({b, l, heads * d}, rng);
  const std::vector<int32_t> lengths = {24, 17, 9};
  auto grads = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    Var vq(q, true), vk(k, true), vv(v, true), vs(sh, true);
    Rng r(5);
    Var out = SynthesizerAttention(vq, vk, vv, vs, Var(), lengths, {}, heads, 0.2f, &r, Kind());
    Backward(out, w);
    omp_set_num_threads(saved);
    return std::vector<std::vector<float>>{vq.grad().ToVector(), vk.grad().ToVector(),
                                           vv.grad().ToVector(), vs.grad().ToVector()};
  };
  EXPECT_EQ(grads(1), grads(3));
}

INSTANTIATE_TEST_SUITE_P(Saved, SynthesizerAttentionOpTest,
                         ::testing::Values(kernels::SynthesizerSaved::kLogsumexp,
                                           kernels::SynthesizerSaved::kProbs));

}  // namespace
}  // namespace lra

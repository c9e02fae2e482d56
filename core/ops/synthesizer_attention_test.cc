// SynthesizerAttention (the op): forward against a double reference written from
// synthesizer_attention.h, gradients (q, k, v and the synthetic logits) by central differences:
// random + dot product (the released code's default), synthetic only (ignore_dot_product), with
// lengths and a token mask (a masked query attends uniformly to all positions, as flax).
#include "core/ops/synthesizer_attention.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

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

// syn: [sb, heads, L, L] (sb = 1 or B) or empty; q, k empty for synthetic only. A masked
// query's scores all become -1e10 in fp32, so its row is uniform, yet autodiff (flax's and
// ours) still passes the softmax Jacobian at that uniform row to its scores. The reference
// reproduces both with softmax(s - s0), s0 = the row's scores at the unperturbed inputs
// (recorded by the first call), as models/transformer/reference_model.h does.
Vec Ref(const Vec& q, const Vec& k, const Vec& v, const Vec& syn, int sb, int b, int l,
        int heads, int d, const std::vector<int32_t>& lengths, const std::vector<uint8_t>& mask,
        Frozen& frozen) {
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
          if (!syn.empty()) s[j] += syn[(((sb == 1 ? 0 : z) * heads + h) * l + i) * l + j];
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
        for (int j = 0; j < l; ++j)
          for (int c = 0; c < d; ++c) out[(z * l + i) * w + h * d + c] += s[j] / zs * v[(z * l + j) * w + h * d + c];
      }
  }
  return out;
}

TEST(SynthesizerAttentionOpTest, RandomPlusDotProduct) {
  Rng rng(61);
  const int b = 2, l = 5, heads = 2, d = 3;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng),
         s = testing::RandomTensor({1, heads, l, l}, rng);
  const std::vector<int32_t> lengths = {5, 3};
  OpCheck c;
  c.op = [&](const std::vector<Var>& in) {
    return SynthesizerAttention(in[0], in[1], in[2], in[3], lengths, {}, heads, 0, nullptr);
  };
  Frozen frozen;
  c.ref = [&](const std::vector<Vec>& in) {
    return Ref(in[0], in[1], in[2], in[3], 1, b, l, heads, d, lengths, {}, frozen);
  };
  c.reduction_length = l * d;
  CheckOp(c, {q, k, v, s});
}

TEST(SynthesizerAttentionOpTest, SyntheticOnlyWithMask) {
  Rng rng(62);
  const int b = 2, l = 5, heads = 2, d = 2;
  Tensor v = testing::RandomTensor({b, l, heads * d}, rng),
         s = testing::RandomTensor({b, heads, l, l}, rng);
  const std::vector<int32_t> lengths = {5, 4};
  for (const std::vector<uint8_t>& mask :
       {std::vector<uint8_t>{}, std::vector<uint8_t>{1, 0, 1, 1, 1, 1, 1, 0, 1, 1}}) {
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) {
      return SynthesizerAttention(Var(), Var(), in[0], in[1], lengths, mask, heads, 0, nullptr);
    };
    Frozen frozen;
    c.ref = [&](const std::vector<Vec>& in) {
      return Ref({}, {}, in[0], in[1], b, b, l, heads, d, lengths, mask, frozen);
    };
    c.reduction_length = l;
    SCOPED_TRACE(mask.size());
    CheckOp(c, {v, s});
  }
}

TEST(SynthesizerAttentionOpTest, DropoutActsOnProbabilities) {
  Rng rng(63);
  Tensor v = testing::RandomTensor({1, 4, 4}, rng), s = testing::RandomTensor({1, 2, 4, 4}, rng);
  Rng d1(1), d2(1);
  Var plain = SynthesizerAttention(Var(), Var(), Constant(v), Constant(s), {}, {}, 2, 0, &d1);
  Var drop = SynthesizerAttention(Var(), Var(), Constant(v), Constant(s), {}, {}, 2, 0.5f, &d2);
  EXPECT_EQ(d1.counter(), 0u);
  EXPECT_NE(plain.value().ToVector(), drop.value().ToVector());
}

}  // namespace
}  // namespace lra

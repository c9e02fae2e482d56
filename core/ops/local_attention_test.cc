// LocalAttention (the op): forward against a double reference of local windows, gradients by
// core/testing/grad_check.h's central differences, on inputs where every query is valid (a
// masked query's flax gradient is not a derivative of its output; the kernel test checks those
// rows against a frozen-score reference); masked rows' forward is checked too.
#include "core/ops/local_attention.h"

#include <cmath>
#include <vector>

#include "core/testing/grad_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

// [B, L, heads*d] doubles: softmax over the valid keys of each query's window of w positions;
// a masked query (past its length) is uniform over its window.
std::vector<double> Ref(const std::vector<double>& q, const std::vector<double>& k,
                        const std::vector<double>& v, int b, int l, int heads, int d, int w,
                        const std::vector<int32_t>& lengths) {
  const int width = heads * d;
  std::vector<double> out(q.size(), 0.0);
  for (int z = 0; z < b; ++z)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < l; ++i) {
        const int len = lengths.empty() ? l : lengths[z];
        const int j0 = i / w * w, j1 = std::min(j0 + w, l);
        std::vector<double> p(j1 - j0, 0.0);
        double tot = 0;
        for (int j = j0; j < j1; ++j) {
          if (i < len && j >= len) continue;
          double s = 0;
          for (int e = 0; e < d; ++e) s += q[(z * l + i) * width + h * d + e] * k[(z * l + j) * width + h * d + e];
          tot += p[j - j0] = i < len ? std::exp(s / std::sqrt(double(d))) : 1.0;
        }
        for (int j = j0; j < j1; ++j)
          for (int e = 0; e < d; ++e)
            out[(z * l + i) * width + h * d + e] += p[j - j0] / tot * v[(z * l + j) * width + h * d + e];
      }
  return out;
}

TEST(LocalAttentionOpTest, MatchesReferenceAndGradients) {
  Rng rng(91);
  const int b = 2, l = 7, heads = 2, d = 3, w = 3;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng), k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng);
  for (bool padded : {false, true}) {
    const std::vector<int32_t> lengths = padded ? std::vector<int32_t>{7, 4} : std::vector<int32_t>{};
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) {
      return LocalAttention(in[0], in[1], in[2], lengths, {heads, w});
    };
    c.ref = [&](const std::vector<std::vector<double>>& in) {
      return Ref(in[0], in[1], in[2], b, l, heads, d, w, lengths);
    };
    c.reduction_length = w * d;  // a length-d dot per score, w scores and values per output
    c.check_grad = !padded;      // padded: masked query rows (see the file comment)
    SCOPED_TRACE(padded);
    CheckOp(c, {q, k, v});
  }
}

TEST(LocalAttentionOpTest, SharedInputAccumulatesAllThreeGradients) {
  Rng rng(92);
  Tensor x = testing::RandomTensor({1, 5, 4}, rng);
  OpCheck c;
  c.op = [](const std::vector<Var>& in) { return LocalAttention(in[0], in[0], in[0], {}, {2, 2}); };
  c.ref = [](const std::vector<std::vector<double>>& in) {
    return Ref(in[0], in[0], in[0], 1, 5, 2, 2, 2, {});
  };
  c.reduction_length = 4;
  CheckOp(c, {x});
}

TEST(LocalAttentionOpTest, DropoutDrawsOneKeyAndOnlyWhenOn) {
  Rng rng(93);
  Var x = Constant(testing::RandomTensor({2, 8, 4}, rng));
  Rng r(5);
  Var a = LocalAttention(x, x, x, {}, {2, 4, 0.0f}, {}, &r);
  EXPECT_EQ(r.counter(), 0u);
  Var c = LocalAttention(x, x, x, {}, {2, 4, 0.5f}, {}, &r);
  EXPECT_EQ(r.counter(), 1u);
  EXPECT_NE(a.value().ToVector(), c.value().ToVector());
}

}  // namespace
}  // namespace lra

// LinearAttention (the op): forward against a double reference, gradients by
// core/testing/grad_check.h's central differences, with and without padding.
#include "core/ops/linear_attention.h"

#include <cmath>
#include <vector>

#include "core/testing/grad_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

// [B, L, heads*d]: out_i = sum_{j < len} a_ij v_j / (sum_{j < len} a_ij + 1e-6),
// a_ij = phi(q_i).phi(k_j), phi = elu + 1.
std::vector<double> Ref(const std::vector<double>& q, const std::vector<double>& k,
                        const std::vector<double>& v, int b, int l, int heads, int d,
                        const std::vector<int32_t>& lengths) {
  auto phi = [](double x) { return x > 0 ? x + 1 : std::exp(x); };
  const int w = heads * d;
  std::vector<double> out(q.size(), 0.0);
  for (int z = 0; z < b; ++z)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < l; ++i) {
        double den = 1e-6;
        for (int j = 0; j < (lengths.empty() ? l : lengths[z]); ++j) {
          double a = 0;
          for (int e = 0; e < d; ++e)
            a += phi(q[(z * l + i) * w + h * d + e]) * phi(k[(z * l + j) * w + h * d + e]);
          den += a;
          for (int e = 0; e < d; ++e) out[(z * l + i) * w + h * d + e] += a * v[(z * l + j) * w + h * d + e];
        }
        for (int e = 0; e < d; ++e) out[(z * l + i) * w + h * d + e] /= den;
      }
  return out;
}

TEST(LinearAttentionOpTest, MatchesReferenceAndGradients) {
  Rng rng(81);
  const int b = 2, l = 6, heads = 2, d = 3;
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng);
  for (const std::vector<int32_t>& lengths : {std::vector<int32_t>{}, std::vector<int32_t>{6, 2}}) {
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) { return LinearAttention(in[0], in[1], in[2], lengths, heads); };
    c.ref = [&](const std::vector<std::vector<double>>& in) {
      return Ref(in[0], in[1], in[2], b, l, heads, d, lengths);
    };
    c.reduction_length = l * d;  // L terms of length-d dots per output
    SCOPED_TRACE(lengths.size());
    CheckOp(c, {q, k, v});
  }
}

TEST(LinearAttentionOpTest, SharedInputAccumulatesAllThreeGradients) {
  Rng rng(82);
  Tensor x = testing::RandomTensor({1, 5, 4}, rng);
  OpCheck c;
  c.op = [](const std::vector<Var>& in) { return LinearAttention(in[0], in[0], in[0], {}, 2); };
  c.ref = [](const std::vector<std::vector<double>>& in) {
    return Ref(in[0], in[0], in[0], 1, 5, 2, 2, {});
  };
  c.reduction_length = 10;
  CheckOp(c, {x});
}

}  // namespace
}  // namespace lra

#include "core/ops/loss.h"

#include "gtest/gtest.h"
#include "core/kernels/reference/reference.h"
#include "core/testing/grad_check.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

TEST(CrossEntropyTest, MatchesReference) {
  Rng rng(31);
  for (auto [b, c] : {std::pair<int64_t, int64_t>{1, 1}, {1, 2}, {4, 10}, {7, 3}}) {
    Tensor logits = RandomUniform({b, c}, -5, 5, rng);
    std::vector<int32_t> labels(b);
    for (auto& l : labels) l = static_cast<int32_t>(rng.UniformInt(c));
    OpCheck oc;
    oc.op = [labels](const std::vector<Var>& in) { return CrossEntropy(in[0], labels); };
    oc.ref = [labels, c](const std::vector<std::vector<double>>& in) {
      return std::vector<double>{reference::CrossEntropy(in[0], labels, c)};
    };
    oc.reduction_length = b * c;
    CheckOp(oc, {logits});
  }
}

TEST(CrossEntropyTest, LargeLogitsAreStable) {
  Var l = CrossEntropy(Constant(Tensor::FromVector({1, 2}, {1000.0f, 0.0f})), {1});
  EXPECT_FLOAT_EQ(l.value().item(), 1000.0f);
  EXPECT_EQ(CountCorrect(Tensor::FromVector({2, 2}, {1.0f, 0.0f, 0.0f, 1.0f}), {0, 0}), 1);
}

}  // namespace
}  // namespace lra

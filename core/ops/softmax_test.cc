#include "core/ops/softmax.h"

#include "gtest/gtest.h"
#include "core/kernels/reference/reference.h"
#include "core/testing/grad_check.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

TEST(SoftmaxTest, UnmaskedAndMaskedIncludingFullyMaskedRows) {
  Rng rng(41);
  for (int64_t n : {1, 2, 7, 16}) {
    const int64_t rows = 6;
    Tensor x = RandomUniform({2, 3, n}, -4, 4, rng);
    // Mask [3, n] repeated over the leading 2; row 1 fully masked, row 2 keeps only column 0.
    Tensor mask = Tensor::Full({3, n}, 1.0f);
    for (int64_t j = 0; j < n; ++j) mask.data<float>()[n + j] = 0.0f;
    for (int64_t j = 1; j < n; ++j) mask.data<float>()[2 * n + j] = 0.0f;
    for (bool masked : {false, true}) {
      OpCheck c;
      c.op = [&](const std::vector<Var>& in) { return Softmax(in[0], masked ? mask : Tensor()); };
      c.ref = [&](const std::vector<std::vector<double>>& in) {
        std::vector<double> m;
        if (masked)
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < n; ++j) m.push_back(mask.data<float>()[(r % 3) * n + j]);
        return reference::Softmax(in[0], rows, n, m);
      };
      c.reduction_length = n;
      CheckOp(c, {x});
    }
    Var y = Softmax(Constant(x), mask);
    for (int64_t j = 0; j < n; ++j) EXPECT_EQ(y.value().data<float>()[n + j], 0.0f);
  }
}

}  // namespace
}  // namespace lra

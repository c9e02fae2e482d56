#include "core/ops/activation.h"

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

}  // namespace
}  // namespace lra

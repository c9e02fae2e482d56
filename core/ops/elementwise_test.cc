#include "core/ops/elementwise.h"

#include <cmath>

#include "gtest/gtest.h"
#include "core/testing/grad_check.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

// Reference broadcast on doubles: out index -> a/b indices.
std::vector<double> RefBinary(const std::vector<double>& a, const Shape& as,
                              const std::vector<double>& b, const Shape& bs,
                              double (*f)(double, double)) {
  const Shape os = BroadcastShapes(as, bs);
  std::vector<double> out(os.numel());
  for (int64_t i = 0; i < os.numel(); ++i) {
    int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
    for (int d = os.rank() - 1; d >= 0; --d) {
      const int64_t idx = rem % os[d];
      rem /= os[d];
      const int da = d - (os.rank() - as.rank()), db = d - (os.rank() - bs.rank());
      if (da >= 0) {
        ia += (as[da] == 1 ? 0 : idx) * sa;
        sa *= as[da];
      }
      if (db >= 0) {
        ib += (bs[db] == 1 ? 0 : idx) * sb;
        sb *= bs[db];
      }
    }
    out[i] = f(a[ia], b[ib]);
  }
  return out;
}

struct BinCase {
  const char* name;
  Var (*op)(const Var&, const Var&);
  double (*f)(double, double);
};

TEST(BinaryTest, BroadcastShapesAndGradients) {
  const BinCase cases[] = {
      {"Add", Add, [](double x, double y) { return x + y; }},
      {"Sub", Sub, [](double x, double y) { return x - y; }},
      {"Mul", Mul, [](double x, double y) { return x * y; }},
      {"Div", Div, [](double x, double y) { return x / y; }},
  };
  const std::pair<Shape, Shape> shapes[] = {
      {{2, 3}, {2, 3}}, {{2, 3, 4}, {4}},    {{4}, {2, 3, 4}}, {{2, 3, 4}, {2, 1, 4}},
      {{3, 1}, {1, 5}}, {{2, 3}, {}},        {{1}, {3, 2}},    {{1}, {1}},
  };
  Rng rng(11);
  for (const auto& c : cases)
    for (const auto& [as, bs] : shapes) {
      // Keep b away from 0 for Div.
      Tensor a = RandomUniform(as, -1, 1, rng);
      Tensor b = RandomUniform(bs, 0.5f, 1.5f, rng);
      OpCheck oc;
      oc.op = [&c](const std::vector<Var>& in) { return c.op(in[0], in[1]); };
      oc.ref = [&](const std::vector<std::vector<double>>& in) {
        return RefBinary(in[0], as, in[1], bs, c.f);
      };
      // Broadcast gradients sum up to numel(out) terms.
      oc.grad_reduction_length = BroadcastShapes(as, bs).numel();
      SCOPED_TRACE(::testing::Message() << c.name << " " << as.ToString() << " " << bs.ToString());
      CheckOp(oc, {a, b});
    }
}

TEST(UnaryTest, AllMatchReference) {
  struct U {
    const char* name;
    std::function<Var(const Var&)> op;
    double (*f)(double);
    float lo, hi;
  };
  const U us[] = {
      {"Exp", Exp, [](double x) { return std::exp(x); }, -2, 2},
      {"Log", Log, [](double x) { return std::log(x); }, 0.5, 3},
      {"Tanh", Tanh, [](double x) { return std::tanh(x); }, -3, 3},
      {"Sigmoid", Sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -4, 4},
      {"Square", Square, [](double x) { return x * x; }, -2, 2},
      {"Sqrt", Sqrt, [](double x) { return std::sqrt(x); }, 0.5, 3},
      {"Neg", Neg, [](double x) { return -x; }, -2, 2},
      {"Scale", [](const Var& v) { return Scale(v, -2.5f); }, [](double x) { return -2.5 * x; },
       -2, 2},
      {"AddScalar", [](const Var& v) { return AddScalar(v, 0.25f); },
       [](double x) { return x + 0.25; }, -2, 2},
  };
  Rng rng(12);
  for (const U& u : us) {
    Tensor x = RandomUniform({3, 7}, u.lo, u.hi, rng);
    OpCheck oc;
    oc.op = [&u](const std::vector<Var>& in) { return u.op(in[0]); };
    oc.ref = [&u](const std::vector<std::vector<double>>& in) {
      std::vector<double> y;
      for (double v : in[0]) y.push_back(u.f(v));
      return y;
    };
    SCOPED_TRACE(u.name);
    CheckOp(oc, {x});
  }
}

TEST(ReduceTest, SumMeanSumAxis) {
  Rng rng(13);
  Tensor x = RandomUniform({3, 4, 5}, -1, 1, rng);
  OpCheck s;
  s.op = [](const std::vector<Var>& in) { return Sum(in[0]); };
  s.ref = [](const std::vector<std::vector<double>>& in) {
    double t = 0;
    for (double v : in[0]) t += v;
    return std::vector<double>{t};
  };
  s.reduction_length = 60;
  CheckOp(s, {x});
  OpCheck m = s;
  m.op = [](const std::vector<Var>& in) { return Mean(in[0]); };
  m.ref = [&](const std::vector<std::vector<double>>& in) {
    return std::vector<double>{s.ref(in)[0] / 60};
  };
  CheckOp(m, {x});
  for (int axis : {0, 1, 2, -1}) {
    for (bool keep : {false, true}) {
      OpCheck a;
      a.op = [=](const std::vector<Var>& in) { return SumAxis(in[0], axis, keep); };
      a.ref = [=](const std::vector<std::vector<double>>& in) {
        const int ax = axis < 0 ? axis + 3 : axis;
        const int64_t dims[3] = {3, 4, 5};
        int64_t outer = 1, inner = 1;
        for (int d = 0; d < ax; ++d) outer *= dims[d];
        for (int d = ax + 1; d < 3; ++d) inner *= dims[d];
        std::vector<double> y(outer * inner, 0.0);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t l = 0; l < dims[ax]; ++l)
            for (int64_t j = 0; j < inner; ++j) y[o * inner + j] += in[0][(o * dims[ax] + l) * inner + j];
        return y;
      };
      a.reduction_length = 5;
      CheckOp(a, {x});
      Var v = SumAxis(Constant(x), axis, keep);
      EXPECT_EQ(v.rank(), keep ? 3 : 2);
    }
  }
}

TEST(SumToShapeTest, GeneralPatternMatchesReference) {
  Rng rng(14);
  Tensor x = RandomUniform({2, 3, 4}, -1, 1, rng);
  Tensor s = SumToShape(x, Shape{2, 1, 4});
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) {
      double r = 0;
      for (int j = 0; j < 3; ++j) r += x.data<float>()[(i * 3 + j) * 4 + k];
      EXPECT_NEAR(s.data<float>()[i * 4 + k], r, 1e-6);
    }
}

}  // namespace
}  // namespace lra

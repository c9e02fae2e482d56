#include "models/testing/grad_check.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace lra::models::testing {

Vec ToDouble(const Tensor& t) {
  std::vector<float> v = t.ToVector();
  return Vec(v.begin(), v.end());
}

GradCheckResult CheckOp(const std::vector<Tensor>& inputs, const OpFn& op, const RefFn& ref,
                        uint64_t seed, std::vector<bool> requires) {
  if (requires.empty()) requires.assign(inputs.size(), true);
  std::vector<Var> vars;
  std::vector<Vec> xd;
  for (size_t i = 0; i < inputs.size(); ++i) {
    vars.push_back(Var(inputs[i].Clone(), requires[i]));
    xd.push_back(ToDouble(inputs[i]));
  }
  Var y = op(vars);
  Vec yref = ref(xd);
  GradCheckResult res;
  Vec yv = ToDouble(y.value());
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> nd;
  Vec r(yv.size());
  for (double& v : r) v = nd(gen);
  for (size_t i = 0; i < yv.size(); ++i) {
    res.forward_err = std::max(res.forward_err, std::abs(yv[i] - yref[i]));
    res.forward_scale = std::max(res.forward_scale, std::abs(yref[i]));
  }
  std::vector<float> rf(r.begin(), r.end());
  Backward(y, Tensor::FromVector(y.shape(), rf));
  const double h = 1e-5;
  for (size_t k = 0; k < vars.size(); ++k) {
    if (!requires[k]) continue;
    Vec g = vars[k].has_grad() ? ToDouble(vars[k].grad()) : Vec(xd[k].size(), 0.0);
    for (size_t j = 0; j < xd[k].size(); ++j) {
      const double x0 = xd[k][j];
      xd[k][j] = x0 + h;
      Vec yp = ref(xd);
      xd[k][j] = x0 - h;
      Vec ym = ref(xd);
      xd[k][j] = x0;
      double num = 0;
      for (size_t i = 0; i < r.size(); ++i) num += r[i] * (yp[i] - ym[i]) / (2 * h);
      res.grad_err = std::max(res.grad_err, std::abs(num - g[j]));
      res.grad_scale = std::max(res.grad_scale, std::abs(num));
    }
  }
  return res;
}

}  // namespace lra::models::testing

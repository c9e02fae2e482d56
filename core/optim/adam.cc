#include "core/optim/adam.h"

#include <cmath>

#include "core/check.h"
#include "core/parallel.h"

namespace lra {

// Complex parameters (c64) are updated as pairs of reals (RealCount and Reals, core/tensor.h):
// the moments of the real and the imaginary part are kept separately, which is what PyTorch's
// Adam does for complex tensors (it views them as real) and what S4's complex SSM parameters are
// trained with.

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options)
    : groups_(std::move(groups)), options_(options) {
  for (const ParamGroup& g : groups_)
    for (const Var& p : g.params) {
      LRA_CHECK(p.requires_grad()) << "Adam: '" << p.name() << "' is not a Parameter";
      moments_.push_back({Tensor::Zeros(p.shape(), p.dtype()), Tensor::Zeros(p.shape(), p.dtype())});
    }
}

std::vector<Var> Adam::Parameters() const {
  std::vector<Var> out;
  for (const ParamGroup& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
  return out;
}

void Adam::Step(float lr_factor) {
  ++step_;
  const float b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps;
  // Bias corrections folded into the step size: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), with eps
  // scaled the same way so the result equals m_hat / (sqrt(v_hat) + eps) exactly in real math.
  const double c1 = 1.0 - std::pow(double(b1), double(step_));
  const double c2 = 1.0 - std::pow(double(b2), double(step_));
  size_t idx = 0;
  for (const ParamGroup& g : groups_) {
    const float lr = g.lr * lr_factor, wd = g.weight_decay;
    for (const Var& p : g.params) {
      Moments& mo = moments_[idx++];
      if (!p.has_grad()) continue;
      float* w = Reals(p.mutable_value());
      const float* gr = Reals(p.grad());
      float* m = Reals(mo.m);
      float* v = Reals(mo.v);
      const float step_size = static_cast<float>(lr * std::sqrt(c2) / c1);
      const float eps_hat = static_cast<float>(eps * std::sqrt(c2));
      const bool decoupled = options_.decoupled_weight_decay;
      const float decay = decoupled ? 1.0f - lr * wd : 1.0f;
      ParallelFor(
          RealCount(p.value()), [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
              const float gi = decoupled ? gr[i] : gr[i] + wd * w[i];
              m[i] = b1 * m[i] + (1.0f - b1) * gi;
              v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
              w[i] = w[i] * decay - step_size * m[i] / (std::sqrt(v[i]) + eps_hat);
            }
          },
          8);
    }
  }
}

void Adam::ZeroGrad() {
  for (const ParamGroup& g : groups_)
    for (const Var& p : g.params) p.ZeroGrad();
}

float ClipGradNorm(const std::vector<Var>& params, float max_norm) {
  double total = 0.0;
  for (const Var& p : params) {
    if (!p.has_grad()) continue;
    const float* g = Reals(p.grad());
    total += ReduceBlocks(RealCount(p.grad()), 8192, [&](int64_t b, int64_t e) {
      double s = 0.0;
      for (int64_t i = b; i < e; ++i) s += double(g[i]) * g[i];
      return s;
    });
  }
  const float norm = static_cast<float>(std::sqrt(total));
  if (norm > max_norm && norm > 0.0f) {
    const float scale = max_norm / norm;
    for (const Var& p : params) {
      if (!p.has_grad()) continue;
      float* g = Reals(const_cast<Tensor&>(p.grad()));
      ParallelFor(RealCount(p.grad()), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) g[i] *= scale;
      });
    }
  }
  return norm;
}

}  // namespace lra

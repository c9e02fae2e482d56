#include "models/testing/train_util.h"

#include <cmath>
#include <random>

namespace lra::models::testing {
namespace {
float* Data(Tensor& t) {
  return t.dtype() == DType::kF32 ? t.data<float>() : reinterpret_cast<float*>(t.data<c64>());
}
const float* Data(const Tensor& t) {
  return t.dtype() == DType::kF32 ? t.data<float>()
                                  : reinterpret_cast<const float*>(t.data<c64>());
}
int64_t Floats(const Tensor& t) { return t.numel() * (t.dtype() == DType::kC64 ? 2 : 1); }
}  // namespace

AdamW::AdamW(std::vector<ParamGroup> groups, double lr, double weight_decay, double beta1,
             double beta2, double eps)
    : groups_(std::move(groups)), lr_(lr), wd_(weight_decay), b1_(beta1), b2_(beta2), eps_(eps) {
  for (const ParamGroup& g : groups_) {
    m_.emplace_back();
    v_.emplace_back();
    for (const Var& p : g.params) {
      m_.back().emplace_back(Floats(p.value()), 0.0f);
      v_.back().emplace_back(Floats(p.value()), 0.0f);
    }
  }
}

void AdamW::Step() {
  ++t_;
  const double c1 = 1 - std::pow(b1_, t_), c2 = 1 - std::pow(b2_, t_);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& g = groups_[gi];
    const double lr = g.lr.value_or(lr_), wd = g.weight_decay.value_or(wd_);
    for (size_t pi = 0; pi < g.params.size(); ++pi) {
      Var& p = g.params[pi];
      if (!p.has_grad()) continue;
      float* w = Data(p.mutable_value());
      const float* gr = Data(p.grad());
      float* m = m_[gi][pi].data();
      float* v = v_[gi][pi].data();
      const int64_t n = Floats(p.value());
      for (int64_t i = 0; i < n; ++i) {
        m[i] = static_cast<float>(b1_ * m[i] + (1 - b1_) * gr[i]);
        v[i] = static_cast<float>(b2_ * v[i] + (1 - b2_) * gr[i] * gr[i]);
        w[i] -= static_cast<float>(lr * ((m[i] / c1) / (std::sqrt(v[i] / c2) + eps_) + wd * w[i]));
      }
    }
  }
}

void AdamW::ZeroGrad() {
  for (ParamGroup& g : groups_)
    for (Var& p : g.params) p.ZeroGrad();
}

Batch ToyBatch::AsBatch(int b, int l) const {
  Batch out;
  out.batch_size = b;
  out.length = l;
  out.tokens = tokens.data();
  out.lengths = lengths.data();
  return out;
}

ToyBatch MakeToyBatch(int batch, int length, int vocab, uint64_t seed) {
  std::mt19937_64 g(seed);
  ToyBatch t;
  t.tokens.assign(static_cast<size_t>(batch) * length, 0);
  for (int b = 0; b < batch; ++b) {
    const int len = length / 2 + static_cast<int>(g() % (length - length / 2 + 1));
    int c1 = 0, c2 = 0;
    for (int i = 0; i < len; ++i) {
      const int tok = 1 + static_cast<int>(g() % (vocab - 1));
      t.tokens[static_cast<size_t>(b) * length + i] = tok;
      c1 += tok == 1;
      c2 += tok == 2;
    }
    t.lengths.push_back(len);
    t.labels.push_back(c1 > c2 ? 1 : 0);
  }
  return t;
}

}  // namespace lra::models::testing

#include "models/testing/golden_check.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/random.h"
#include "gtest/gtest.h"

namespace lra::models::testing {
namespace {

// A parameter's (or gradient's) floats; a c64 tensor as interleaved (re, im).
const float* Floats(const Tensor& t) {
  return t.dtype() == DType::kF32 ? t.data<float>() : reinterpret_cast<const float*>(t.data<c64>());
}
int64_t NumFloats(const Tensor& t) { return t.numel() * (t.dtype() == DType::kC64 ? 2 : 1); }

}  // namespace

int CheckGoldenLogitsAndGradients(Model& model, const Batch& batch,
                                  const std::function<std::vector<double>(const RefParams&)>& ref,
                                  unsigned seed, Rng rng) {
  Var logits = model.Forward(batch, /*training=*/true, rng);
  RefParams p;
  std::vector<Var> vars;
  for (const ParamGroup& grp : model.ParamGroups())
    for (const Var& v : grp.params) {
      const float* f = Floats(v.value());
      p[v.name()] = std::vector<double>(f, f + NumFloats(v.value()));
      vars.push_back(v);
    }
  std::vector<double> want = ref(p);
  EXPECT_EQ(want.size(), static_cast<size_t>(logits.numel()));
  if (want.size() != static_cast<size_t>(logits.numel())) return 0;
  double scale = 0, err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::abs(want[i]));
    err = std::max(err, std::abs(want[i] - logits.value().data<float>()[i]));
  }
  EXPECT_LE(err, 2e-4 * (1 + scale)) << "logits";
  std::mt19937 g(seed);
  std::vector<float> r(want.size());
  for (auto& v : r) v = std::normal_distribution<float>()(g);
  Backward(logits, Tensor::FromVector(logits.shape(), r));
  auto loss = [&](const RefParams& q) {
    std::vector<double> y = ref(q);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += r[i] * y[i];
    return s;
  };
  int checked = 0;
  for (const Var& v : vars) {
    EXPECT_TRUE(v.has_grad()) << v.name();
    if (!v.has_grad()) continue;
    const float* gr = Floats(v.grad());
    std::vector<double>& x = p[v.name()];
    double gscale = 0, gerr = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double x0 = x[i], h = 1e-6 * std::max(1.0, std::abs(x0));
      x[i] = x0 + h;
      const double lp = loss(p);
      x[i] = x0 - h;
      const double lm = loss(p);
      x[i] = x0;
      const double num = (lp - lm) / (2 * h);
      gscale = std::max(gscale, std::abs(num));
      gerr = std::max(gerr, std::abs(num - gr[i]));
      ++checked;
    }
    EXPECT_LE(gerr, 2e-4 * (1 + gscale)) << v.name() << " gradient";
  }
  return checked;
}

void CheckStreamingEqualsForward(Model& model, const std::string& label, int length) {
  const int B = 2, L = length, K = 10;
  std::mt19937 g(4);
  std::vector<int32_t> tok(B * L);
  for (auto& t : tok) t = static_cast<int32_t>(g() % 256);
  // Row 0 pools over its first 137 tokens: causal, so that equals the streaming logits after
  // 137 steps; row 1 pools over all L.
  std::vector<int32_t> lens = {137, L};
  Rng rng(1);
  NoGrad ng;
  Var full = model.Forward(Batch{B, L, tok.data(), lens.data()}, false, rng);
  RecurrentModel* rec = model.Recurrent();
  ASSERT_NE(rec, nullptr) << label;
  ASSERT_TRUE(rec->Reset(B).ok());
  std::vector<float> out(B * K), at137(K);
  for (int t = 0; t < L; ++t) {
    const int32_t step_tok[2] = {tok[t], tok[L + t]};
    rec->Step(step_tok, out.data());
    if (t == 136) std::copy(out.begin(), out.begin() + K, at137.begin());
  }
  double scale = 0, err = 0;
  const float* f = full.value().data<float>();
  for (int k = 0; k < K; ++k) {
    scale = std::max({scale, std::abs(double{f[k]}), std::abs(double{f[K + k]})});
    err = std::max({err, std::abs(double{f[k]} - at137[k]), std::abs(double{f[K + k]} - out[K + k])});
  }
  EXPECT_GT(scale, 0) << label;
  EXPECT_LE(err, 1e-4 * scale) << label << ": forward vs streaming";
}

}  // namespace lra::models::testing

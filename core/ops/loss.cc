#include "core/ops/loss.h"

#include <cmath>

#include "core/check.h"

namespace lra {

// Saves the softmax probabilities [B, C]: dlogits = (p - onehot(label)) * dloss / B.
Var CrossEntropy(const Var& logits, const std::vector<int32_t>& labels) {
  LRA_CHECK(logits.rank() == 2) << "CrossEntropy: logits " << logits.shape().ToString();
  const int64_t b = logits.dim(0), c = logits.dim(1);
  LRA_CHECK(static_cast<int64_t>(labels.size()) == b)
      << "CrossEntropy: " << labels.size() << " labels for batch " << b;
  const float* lp = logits.value().data<float>();
  Tensor probs = Tensor::Empty(logits.shape());
  float* pp = probs.data<float>();
  double total = 0.0;  // rows summed in order: deterministic
  for (int64_t i = 0; i < b; ++i) {
    const int32_t y = labels[i];
    LRA_CHECK(y >= 0 && y < c) << "CrossEntropy: label " << y << " not in [0, " << c << ")";
    const float* row = lp + i * c;
    float mx = row[0];
    for (int64_t j = 1; j < c; ++j) mx = std::max(mx, row[j]);
    double s = 0.0;
    for (int64_t j = 0; j < c; ++j) {
      pp[i * c + j] = std::exp(row[j] - mx);
      s += pp[i * c + j];
    }
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t j = 0; j < c; ++j) pp[i * c + j] *= inv;
    total += std::log(s) + mx - row[y];
  }
  Tensor loss = Tensor::Scalar(static_cast<float>(total / std::max<int64_t>(1, b)));
  return MakeOp("CrossEntropy", loss, {logits}, [logits, probs, labels, b, c](const Tensor& dl) {
    const float scale = dl.data<float>()[0] / static_cast<float>(b);
    bool ow;
    Tensor& g = logits.GradForWrite(&ow);
    float* gp = g.data<float>();
    const float* pp = probs.data<float>();
    for (int64_t i = 0; i < b; ++i)
      for (int64_t j = 0; j < c; ++j) {
        const float v = (pp[i * c + j] - (j == labels[i] ? 1.0f : 0.0f)) * scale;
        gp[i * c + j] = ow ? v : gp[i * c + j] + v;
      }
  });
}

std::vector<int32_t> ArgMax(const Tensor& logits) {
  LRA_CHECK(logits.rank() == 2) << "ArgMax: " << logits.shape().ToString();
  const int64_t b = logits.dim(0), c = logits.dim(1);
  const float* p = logits.data<float>();
  std::vector<int32_t> out(b);
  for (int64_t i = 0; i < b; ++i) {
    int32_t best = 0;
    for (int64_t j = 1; j < c; ++j)
      if (p[i * c + j] > p[i * c + best]) best = static_cast<int32_t>(j);
    out[i] = best;
  }
  return out;
}

int64_t CountCorrect(const Tensor& logits, const std::vector<int32_t>& labels) {
  const std::vector<int32_t> pred = ArgMax(logits);
  LRA_CHECK(pred.size() == labels.size());
  int64_t n = 0;
  for (size_t i = 0; i < pred.size(); ++i) n += pred[i] == labels[i];
  return n;
}

}  // namespace lra

#include "models/rnn/streaming.h"

#include <cstring>

#include "core/tape.h"

namespace lra::models {

void RunningMeanHead::Reset(int streams, int dim) {
  streams_ = streams;
  dim_ = dim;
  count_ = 0;
  sum_.assign(static_cast<size_t>(streams) * dim, 0.0);
}

void RunningMeanHead::Add(const Tensor& features, const ClassifierHead& head, float* logits) {
  const float* f = features.data<float>();
  for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += f[i];
  ++count_;
  if (logits == nullptr) return;
  NoGrad no_grad;
  Tensor pooled = Tensor::Empty({streams_, dim_});
  for (size_t i = 0; i < sum_.size(); ++i)
    pooled.data<float>()[i] = static_cast<float>(sum_[i] / count_);
  Var out = head.Forward(Constant(pooled));
  std::memcpy(logits, out.value().data<float>(), out.numel() * sizeof(float));
}

}  // namespace lra::models

// The streaming form of mean pooling for the recurrent models (models/rnn, models/mamba): the
// running mean of the per-token features since Reset, through the classifier head, i.e. the
// logits RecurrentModel::Step writes.
#ifndef LRA_MODELS_RNN_STREAMING_H_
#define LRA_MODELS_RNN_STREAMING_H_

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "models/common/layers.h"

namespace lra::models {

class RunningMeanHead {
 public:
  void Reset(int streams, int dim);
  // Adds one step's features [streams, dim]; if logits is non-null, writes
  // head(mean of the features so far) there, [streams, classes].
  void Add(const Tensor& features, const ClassifierHead& head, float* logits);

 private:
  int streams_ = 0, dim_ = 0;
  int64_t count_ = 0;
  std::vector<double> sum_;
};

}  // namespace lra::models

#endif  // LRA_MODELS_RNN_STREAMING_H_

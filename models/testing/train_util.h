// Test/benchmark helpers: a plain AdamW over a model's ParamGroups (until core/optim lands) and
// a tiny synthetic sequence-classification problem.
#ifndef LRA_MODELS_TESTING_TRAIN_UTIL_H_
#define LRA_MODELS_TESTING_TRAIN_UTIL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/model.h"

namespace lra::models::testing {

// Decoupled AdamW (Loshchilov & Hutter): p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p),
// with each group's lr / weight decay overriding the globals. Complex parameters are updated as
// pairs of reals.
class AdamW {
 public:
  AdamW(std::vector<ParamGroup> groups, double lr, double weight_decay, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8);
  void Step();
  void ZeroGrad();

 private:
  std::vector<ParamGroup> groups_;
  double lr_, wd_, b1_, b2_, eps_;
  int64_t t_ = 0;
  std::vector<std::vector<std::vector<float>>> m_, v_;
};

// Sequences of `length` tokens in [1, vocab) with a random unpadded length in [length/2, length]
// (pad 0 after it); label = 1 if token 1 occurs more often than token 2 among the unpadded
// tokens, else 0. Learnable from token counts, so every model here can fit it quickly.
struct ToyBatch {
  std::vector<int32_t> tokens, lengths, labels;
  Batch AsBatch(int b, int l) const;
};
ToyBatch MakeToyBatch(int batch, int length, int vocab, uint64_t seed);

}  // namespace lra::models::testing

#endif  // LRA_MODELS_TESTING_TRAIN_UTIL_H_

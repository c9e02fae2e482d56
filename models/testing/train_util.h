// Test helper: a tiny synthetic sequence-classification problem.
#ifndef LRA_MODELS_TESTING_TRAIN_UTIL_H_
#define LRA_MODELS_TESTING_TRAIN_UTIL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/model.h"

namespace lra::models::testing {

// Sequences of `length` tokens in [1, vocab) with a random unpadded length in [length/2, length]
// (pad 0 after it); label = 1 if token 1 occurs more often than token 2 among the unpadded
// tokens, else 0. Learnable from token counts, so every model here can fit it quickly.
struct ToyBatch {
  std::vector<int32_t> tokens, lengths, labels;
  Batch AsBatch(int b, int l) const;
};
ToyBatch MakeToyBatch(int batch, int length, int vocab, uint64_t seed);

// Trains `model` with AdamW at `lr` (no weight decay) for `steps` steps on fresh toy batches of
// 32 sequences of 32 tokens from `vocab` ids, and returns the mean loss of the first 5 and the
// last 5 steps.
struct LossDrop {
  double first = 0, last = 0;
};
LossDrop TrainOnToyProblem(Model& model, int vocab, double lr, int steps);

}  // namespace lra::models::testing

#endif  // LRA_MODELS_TESTING_TRAIN_UTIL_H_

#include "models/testing/train_util.h"

#include <random>

#include "core/ops/loss.h"
#include "core/optim/adam.h"
#include "core/random.h"

namespace lra::models::testing {

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

LossDrop TrainOnToyProblem(Model& model, int vocab, double lr, int steps) {
  Adam opt(OptimizerGroups(model.ParamGroups(), lr, 0.0),
           AdamOptions{.decoupled_weight_decay = true});
  Rng rng(2);
  LossDrop out;
  for (int step = 0; step < steps; ++step) {
    ToyBatch tb = MakeToyBatch(32, 32, vocab, 100 + step);
    Var loss = lra::CrossEntropy(model.Forward(tb.AsBatch(32, 32), true, rng), tb.labels);
    const double value = loss.value().data<float>()[0];
    if (step < 5) out.first += value / 5;
    if (step >= steps - 5) out.last += value / 5;
    Backward(loss);
    opt.Step();
    opt.ZeroGrad();
  }
  return out;
}

}  // namespace lra::models::testing

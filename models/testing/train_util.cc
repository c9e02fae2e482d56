#include "models/testing/train_util.h"

#include <random>

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

}  // namespace lra::models::testing

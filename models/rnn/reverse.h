// Time reversal within each sequence's length, for the bidirectional layers of the "mamba",
// "lstm" and "gru" models: a recurrence over a padded batch must start its reverse direction at
// each sequence's last real token, not at the padded end (core/ops/rnn.h ReverseTime reverses
// the whole padded length).
#ifndef LRA_MODELS_RNN_REVERSE_H_
#define LRA_MODELS_RNN_REVERSE_H_

#include <cstdint>

#include "core/tape.h"

namespace lra::models {

// x [B, L, F...] -> out[b, t] = x[b, n_b - 1 - t] for t < n_b and x[b, t] for t >= n_b, with
// n_b = lengths[b] clamped to [0, L] (lengths null: n_b = L, i.e. ReverseTime). A permutation
// that is its own inverse, so applying it to a reversed direction's output restores the order.
// One row gather (core/ops/embedding.h), whose gradient is the inverse permutation.
Var ReverseWithinLengths(const Var& x, const int32_t* lengths);

}  // namespace lra::models

#endif  // LRA_MODELS_RNN_REVERSE_H_

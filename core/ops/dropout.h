// Inverted dropout: kept values are scaled by 1 / (1 - p), so evaluation is the identity.
#ifndef LRA_CORE_OPS_DROPOUT_H_
#define LRA_CORE_OPS_DROPOUT_H_

#include "core/random.h"
#include "core/tape.h"

namespace lra {

// Drops each element with probability p (identity when !training or p == 0). The mask comes
// from `rng` (use the kDropout stream), so it is reproducible and independent of threads.
Var Dropout(const Var& x, float p, bool training, Rng& rng);

// Tied dropout: one mask value per (everything but `axis`), shared along `axis`. For
// x [B, L, H] and axis 1 this drops whole channels of a sequence (S4's DropoutNd / tie=True).
Var TiedDropout(const Var& x, float p, int axis, bool training, Rng& rng);

}  // namespace lra

#endif  // LRA_CORE_OPS_DROPOUT_H_

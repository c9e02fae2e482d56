// Test helpers shared by the models' golden tests (models/s4, models/rnn, models/mamba): the
// check of logits and every parameter's gradient against a double-precision reference, and the
// streaming-equals-forward check.
#ifndef LRA_MODELS_TESTING_GOLDEN_CHECK_H_
#define LRA_MODELS_TESTING_GOLDEN_CHECK_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/random.h"
#include "models/model.h"

namespace lra::models::testing {

// Parameter name -> values; a complex (c64) parameter as interleaved (re, im) doubles.
using RefParams = std::map<std::string, std::vector<double>>;

// Runs model.Forward(batch, training=true, rng) and checks its logits against ref(parameters),
// then every parameter's gradient of <logits, r> (r ~ N(0, 1), from `seed`) against central
// differences of ref (step 1e-6 relative; a complex parameter's real and imaginary parts each
// as a scalar, which is how its float gradient is stored). Tolerance max|a - b| <= 2e-4
// (1 + max|b|): fp32 rounding of the tiny test models leaves ~1e-6 .. 1e-5 relative (measured
// on the S4D golden models, models/s4/s4_model_test.cc), a 10x margin. Returns the number of
// parameter scalars checked. A model with dropout gets `rng`; its reference redraws the masks
// from a copy of the same state.
int CheckGoldenLogitsAndGradients(Model& model, const Batch& batch,
                                  const std::function<std::vector<double>(const RefParams&)>& ref,
                                  unsigned seed, Rng rng = Rng(1));

// For a model built with 10 classes on a 256-token vocabulary: streams two random sequences of
// `length` (> 137) tokens through model.Recurrent() and checks the logits after 137 and
// `length` steps against Forward with lengths {137, length} (causal, so equal), to 1e-4
// relative to the largest logit (fp32 rounding over a few layers x a few hundred steps; S4's
// conv == recurrent bound).
void CheckStreamingEqualsForward(Model& model, const std::string& label, int length = 200);

}  // namespace lra::models::testing

#endif  // LRA_MODELS_TESTING_GOLDEN_CHECK_H_

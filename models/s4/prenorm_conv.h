// The pre-norm S4 block's LayerNorm, length mask and FftConvSkipGelu as one tape op: the
// convolution's gather normalises x as it transposes it into channel rows, so LayerNorm's
// [B, L, H] output is neither written nor read back (one pass over the activations fewer per
// block and step, and 4 B L H bytes less held for the backward).
#ifndef LRA_MODELS_S4_PRENORM_CONV_H_
#define LRA_MODELS_S4_PRENORM_CONV_H_

#include <cstdint>

#include "core/ops/ops.h"

namespace lra {
namespace s4 {

// y = FftConvSkipGelu(MaskPastLengths(LayerNorm(x, gain, bias, eps), lengths), k, d, direction,
//                     dropout, training, rng)
// (core/ops/norm.h, models/s4/s4_model.cc, core/ops/sequence.h): x [B, L, H]; gain, bias, d [H];
// k [H, L] causal or [2, H, L] bidirectional; lengths [B] or null (no mask). The output and every
// gradient (x, gain, bias, k, d) are bitwise those of the three ops, with the same dropout draws
// (prenorm_conv_test checks it). Saves x, LayerNorm's row statistics ([2, B L]), gelu'
// ([B, L, H]), the tied mask and, when k needs a gradient, the rfft of the normalised rows.
// stats (optional): LayerNormStats(x.value(), eps) already formed (e.g. by the previous block's
// LinearGluResidual, core/ops/activation.h next_stats); undefined: computed here.
Var PreNormConvSkipGelu(const Var& x, const Var& gain, const Var& bias, float eps,
                        const int32_t* lengths, const Var& k, const Var& d,
                        ConvDirection direction, float dropout, bool training, Rng& rng,
                        const Tensor& stats = Tensor());

}  // namespace s4
}  // namespace lra

#endif  // LRA_MODELS_S4_PRENORM_CONV_H_

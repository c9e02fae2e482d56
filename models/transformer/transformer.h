// "transformer": the LRA reference Transformer encoder (/work/shared/reference/LRA.md 1.7):
//
//   x = Embed(tokens) [; learned CLS row prepended] + positions (sinusoidal or learned)
//   x = Dropout(x)
//   per layer (pre-LN):
//     x = x + Dropout(Wo Attention(LN(x) Wq, LN(x) Wk, LN(x) Wv))   q/k/v/out without bias;
//                                                                   key padding from lengths
//                                                                   (and pad tokens, below);
//                                                                   attention_dropout on P
//     x = x + Dropout(W2 Dropout(GELU(LN(x) W1 + b1)) + b2)
//   x = LN(x)                                                       encoder_norm
//   logits = Dense(K)(ReLU(Dense(mlp_dim)(Pool(x))))                classifier_head
//
// Retrieval encodes both documents with the same encoder and applies the dual head on
// [x1, x2, x1 * x2, x1 - x2] (nli) or [x1, x2] (concat). Kernels are xavier_uniform, biases
// N(0, 1e-6), the embedding N(0, 1), learned positions N(0, 0.02), the CLS row zeros; GELU is
// flax's tanh approximation. Attention is core/kernels' dense (default) or blocked algorithm,
// with `attention_dropout` applied to the probabilities in training (LRA's
// attention_dropout_rate). When the task's encoding sets mask_pad_tokens (the `lra` pixel
// encodings), keys whose token is pad_id are masked wherever they stand and the CLS row copies
// the first token's mask, as LRA's `inputs > 0` mask does (LRA.md 1.5). One difference remains:
// flax builds the mask as query mask x key mask, so every score of a masked query (a black
// pixel) sits at the large negative mask value and it attends uniformly to all keys; here a
// query is never masked (it attends to the unmasked keys). Only the outputs at masked
// positions differ, which reach the result through later layers and MEAN pooling.
// Optimizer: a single group (flax's optimizer decays every parameter) unless decay_all=false,
// which gives biases, norms and embeddings weight decay 0 as the S4 recipe does.
#ifndef LRA_MODELS_TRANSFORMER_TRANSFORMER_H_
#define LRA_MODELS_TRANSFORMER_TRANSFORMER_H_

#include <vector>

#include "models/model.h"

namespace lra::models::transformer {

std::vector<OptionSpec> TransformerOptions();

// The fixed sinusoidal table [length, dim]: sin on even, cos on odd features,
// div_term = exp(2i * -ln(10000) / dim) (LRA.md 1.7).
std::vector<float> SinusoidalPositions(int length, int dim);

}  // namespace lra::models::transformer

#endif  // LRA_MODELS_TRANSFORMER_TRANSFORMER_H_

// The S4 family as LRA classifiers (state-spaces/s4: V4 code at e757cef, V3 code at d589d98):
//
//   "s4d"  diagonal S4D (inits lin, inv, legs, real; ZOH or bilinear; dt exp or softplus)
//   "s4"   DPLR S4 with HiPPO-LegS (bilinear, Cauchy kernel with rank-1 Woodbury)
//
// Both share one implementation (S4Model) and every option except `mode`, which each
// registered name fixes. Per layer (S4's SequenceResidualBlock around its S4 layer / S4Block):
//
//   z = prenorm ? Norm(x) : x
//   z = z * [t < length]                zero past each sequence's length (S4 V3 and V4)
//   y = conv(z, K) + D * z              K from (dt, A, B, C) [, P]; causal or bidirectional
//   y = Dropout(y)                      block_version=v4 only; never tied (V4's FFTConv.drop)
//   y = Dropout(GELU(y))                tied over the length axis when tie_dropout
//   y = GLU(Linear(H -> 2H)(y))         final_act glu (`glu=false`: Linear(H -> H) only)
//   x = x + Dropout(y)                  tied when tie_dropout
//   x = prenorm ? x : Norm(x)
//
// then (prenorm only) a final Norm, pooling (mean over unpadded tokens by default) and a
// Linear(H, K) decoder; Retrieval pools both documents and applies S4's NLI head
// Linear(4H, H) -> GELU -> Linear(H, K). Pixel tasks use Linear(1, H) on the pixel scaled by
// `pixel_norm` (models/common/layers.h PixelNorm). DPLR S4 draws C ~ CN(0, 1) and stores
// C-tilde = (I - dA^l_max)^T C. `block_version` picks the S4 code the layer follows: v3
// (d589d98; the default, what this code did before the option) or v4 (e757cef): the V4-only
// dropout above, and at init V4 clips Im(B) of HiPPO-LegS to [-2, 2] (S4 and S4D-LegS) while
// V3's S4D starts its C parameter at C * B (differs from V4 for init=legs only). s4_model.cc
// cites the upstream file and line of each step.
//
// Optimizer groups: "ssm" = A (real/imag), B, P at lr_ssm and weight decay 0;
// "ssm_dt" = dt at lr_dt (negative: the run's lr) and weight decay 0; "ssm_C" = C at lr_c
// (negative: the run's lr) with the run's weight decay; "no_decay" = biases, norms, the
// embedding (option no_decay=none: empty, S4 V3; no_decay=backbone_biases_norms: the
// backbone's biases and norms only, S4 V4); "default" = everything else (Linear weights, D).
#ifndef LRA_MODELS_S4_S4_MODEL_H_
#define LRA_MODELS_S4_S4_MODEL_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "models/model.h"

namespace lra::models::s4model {

// Every option of "s4" and "s4d" (the `mode` default differs).
std::vector<OptionSpec> S4Options(const char* mode);

absl::StatusOr<std::unique_ptr<Model>> CreateS4(const TaskInfo& task, const Options& options,
                                                uint64_t seed);

}  // namespace lra::models::s4model

#endif  // LRA_MODELS_S4_S4_MODEL_H_

// Normalization layers over the last (channel) axis.
#ifndef LRA_CORE_OPS_NORM_H_
#define LRA_CORE_OPS_NORM_H_

#include "core/tape.h"

namespace lra {

// y = (x - mean) / sqrt(var + eps) * gain + bias, statistics per row of x viewed as [rows, H].
// gain, bias: [H].
Var LayerNorm(const Var& x, const Var& gain, const Var& bias, float eps = 1e-5f);

// LayerNorm in two halves, for an op that applies the normalisation inside its own pass over x
// (models/s4's pre-norm S4 block: the convolution's gather normalises x as it transposes it, so
// LayerNorm's output is never stored). LayerNormStats returns [2, rows]: row 0 the means, row 1
// 1 / sqrt(var + eps) of x's rows (x viewed as [rows, H]), bitwise LayerNorm's; the normalised
// value is then (x - mean) * rstd * gain + bias, in that order, as LayerNorm computes it.
// LayerNormBackward, given dy = dLoss/dy [rows, H], accumulates LayerNorm's gradients into x,
// gain and bias (those that require one), bitwise LayerNorm's backward.
Tensor LayerNormStats(const Tensor& x, float eps = 1e-5f);
// The entries of LayerNormStats for `rows` consecutive rows of x ([rows, h]; mean[r], rstd[r]),
// for an op that forms the rows itself (core/ops/activation.h LinearGluResidual's next_stats).
void LayerNormRowStats(const float* x, int64_t rows, int64_t h, float eps, float* mean,
                       float* rstd);
void LayerNormBackward(const Var& x, const Var& gain, const Var& bias, const Tensor& stats,
                       const float* dy);

// RMSNorm: y = x / sqrt(mean(x^2) + eps) * gain, statistics per row of x viewed as [rows, H];
// gain [H]. As rms_norm_ref of state-spaces/mamba (commit e9594ce,
// mamba_ssm/ops/triton/layer_norm.py), without its bias and residual options. One op (forward
// and backward one pass over the rows each), instead of the seven elementwise ops it would take.
Var RmsNorm(const Var& x, const Var& gain, float eps = 1e-5f);

// Running statistics of a BatchNorm layer (not trainable; checkpoint them as buffers).
struct BatchNormState {
  Tensor running_mean;  // [H], starts at 0
  Tensor running_var;   // [H], starts at 1
  float momentum = 0.1f;  // running = (1 - momentum) * running + momentum * batch
  float eps = 1e-5f;
  static BatchNormState Create(int64_t channels);
};

// BatchNorm over every axis but the last: x viewed as [N, H]. training: normalize with the
// batch mean and biased variance, and update the running mean and the unbiased variance
// (PyTorch's convention). !training: normalize with the running statistics.
Var BatchNorm(const Var& x, const Var& gain, const Var& bias, BatchNormState* state,
              bool training);

}  // namespace lra

#endif  // LRA_CORE_OPS_NORM_H_

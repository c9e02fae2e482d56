// Normalization layers over the last (channel) axis.
#ifndef LRA_CORE_OPS_NORM_H_
#define LRA_CORE_OPS_NORM_H_

#include "core/tape.h"

namespace lra {

// y = (x - mean) / sqrt(var + eps) * gain + bias, statistics per row of x viewed as [rows, H].
// gain, bias: [H].
Var LayerNorm(const Var& x, const Var& gain, const Var& bias, float eps = 1e-5f);

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

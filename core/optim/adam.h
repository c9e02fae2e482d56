// Adam and AdamW with parameter groups, and global gradient-norm clipping. Parameters may be
// float or complex (c64); a complex parameter is updated as its real and imaginary parts, each
// with its own moments (as PyTorch's Adam on complex tensors), and counts |g|^2 in the norm.
//
//   std::vector<ParamGroup> groups = {
//       {model.WeightMatrices(), /*lr=*/1e-3f, /*weight_decay=*/0.01f},
//       {model.NormsBiasesEmbeddingsAndSsmParams(), /*lr=*/1e-3f, /*weight_decay=*/0.0f}};
//   Adam opt(groups, AdamOptions{.decoupled_weight_decay = true});   // AdamW
//   LrSchedule sched = LrSchedule::S4Cosine(/*warmup=*/1000, /*total=*/50000);
//   for (...) {
//     Backward(loss);
//     ClipGradNorm(opt.Parameters(), 1.0f);
//     opt.Step(sched.Factor(opt.step() + 1));   // each group's lr times the factor
//     opt.ZeroGrad();
//   }
#ifndef LRA_CORE_OPTIM_ADAM_H_
#define LRA_CORE_OPTIM_ADAM_H_

#include <cstdint>
#include <vector>

#include "core/tape.h"

namespace lra {

struct ParamGroup {
  std::vector<Var> params;
  float lr = 1e-3f;
  float weight_decay = 0.0f;
};

struct AdamOptions {
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  // false: Adam with L2 decay added to the gradient (torch.optim.Adam's weight_decay).
  // true: AdamW, p -= lr * wd * p separately from the adaptive step (Loshchilov & Hutter).
  bool decoupled_weight_decay = false;
};

class Adam {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {});

  // One update of every parameter that has a gradient, with lr = group.lr * lr_factor.
  // Parameters without a gradient (unused this step) are left alone, moments included.
  void Step(float lr_factor = 1.0f);
  void ZeroGrad();

  int64_t step() const { return step_; }
  void set_step(int64_t s) { step_ = s; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  std::vector<Var> Parameters() const;  // every group's parameters, in group order

  // First and second moments, in Parameters() order (for checkpoints).
  struct Moments {
    Tensor m, v;
  };
  std::vector<Moments>& moments() { return moments_; }
  const std::vector<Moments>& moments() const { return moments_; }

 private:
  std::vector<ParamGroup> groups_;
  AdamOptions options_;
  std::vector<Moments> moments_;
  int64_t step_ = 0;
};

// Scales every gradient by min(1, max_norm / total_norm), total_norm the L2 norm over all
// gradients together; returns total_norm (before clipping). Summed in a fixed order.
float ClipGradNorm(const std::vector<Var>& params, float max_norm);

}  // namespace lra

#endif  // LRA_CORE_OPTIM_ADAM_H_

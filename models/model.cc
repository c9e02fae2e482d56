#include "models/model.h"

namespace lra::models {

int64_t CountParameters(Model& model) {
  int64_t n = 0;
  for (const ParamGroup& g : model.ParamGroups())
    for (const Var& v : g.params) n += RealCount(v.value());
  return n;
}

double TrainingBytes(const MemoryEstimate& estimate) {
  return 4.0 * (4.0 * estimate.parameters + estimate.activations);
}

std::vector<lra::ParamGroup> OptimizerGroups(const std::vector<ParamGroup>& groups, double lr,
                                             double weight_decay) {
  std::vector<lra::ParamGroup> out;
  for (const ParamGroup& g : groups)
    out.push_back({g.params, static_cast<float>(g.lr.value_or(lr)),
                   static_cast<float>(g.weight_decay.value_or(weight_decay))});
  return out;
}

}  // namespace lra::models

#include "models/model.h"

namespace lra::models {

int64_t CountParameters(Model& model) {
  int64_t n = 0;
  for (const ParamGroup& g : model.ParamGroups())
    for (const Var& v : g.params) n += v.numel() * (v.dtype() == DType::kC64 ? 2 : 1);
  return n;
}

}  // namespace lra::models

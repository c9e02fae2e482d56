// Embedding lookup.
#ifndef LRA_CORE_OPS_EMBEDDING_H_
#define LRA_CORE_OPS_EMBEDDING_H_

#include <cstdint>
#include <vector>

#include "core/tape.h"

namespace lra {

// table: [V, H]; ids: ids_shape.numel() values in [0, V). Returns [ids_shape..., H].
// The table's gradient is a scatter-add over ids in index order (deterministic).
Var Embedding(const Var& table, const std::vector<int32_t>& ids, const Shape& ids_shape);

}  // namespace lra

#endif  // LRA_CORE_OPS_EMBEDDING_H_

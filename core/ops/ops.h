// All core ops in one include.
#ifndef LRA_CORE_OPS_OPS_H_
#define LRA_CORE_OPS_OPS_H_

#include "core/ops/activation.h"
#include "core/ops/elementwise.h"
#include "core/ops/loss.h"
#include "core/ops/matmul.h"

#endif  // LRA_CORE_OPS_OPS_H_

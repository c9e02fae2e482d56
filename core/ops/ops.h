// All core ops in one include.
#ifndef LRA_CORE_OPS_OPS_H_
#define LRA_CORE_OPS_OPS_H_

#include "core/ops/activation.h"
#include "core/ops/complex.h"
#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"
#include "core/ops/embedding.h"
#include "core/ops/loss.h"
#include "core/ops/matmul.h"
#include "core/ops/norm.h"
#include "core/ops/pooling.h"
#include "core/ops/sequence.h"
#include "core/ops/shape_ops.h"
#include "core/ops/softmax.h"

#endif  // LRA_CORE_OPS_OPS_H_

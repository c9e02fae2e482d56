// Complex64 ops for SSM kernels.
//
// Gradient convention: for a real loss L and a complex tensor z = x + iy, grad(z) holds
// dL/dx + i dL/dy (PyTorch's convention). With it, y = a * b gives grad a += dy * conj(b), and
// y = exp(z) gives grad z += dy * conj(y).
#ifndef LRA_CORE_OPS_COMPLEX_H_
#define LRA_CORE_OPS_COMPLEX_H_

#include "core/tape.h"

namespace lra {

Var MakeComplex(const Var& re, const Var& im);  // float, float (same shape) -> c64
Var Real(const Var& z);                          // c64 -> float
Var Imag(const Var& z);                          // c64 -> float
Var CExp(const Var& z);                          // elementwise exp
// a * b elementwise; b may have a's shape or be a suffix of it (repeated over leading dims).
Var CMul(const Var& a, const Var& b);

}  // namespace lra

#endif  // LRA_CORE_OPS_COMPLEX_H_

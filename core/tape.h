// Define-by-run reverse-mode autodiff.
//
//   Rng rng(/*seed=*/1);
//   Var w = Parameter(RandomNormal({4, 3}, 0.5f, rng.stream(RngStream::kInit)), "w");
//   Var b = Parameter(Tensor::Zeros({3}), "b");
//   Var x = Constant(features);                  // [B, 4], no gradient
//   Var logits = Linear(x, w, b);                // [B, 3]; records its backward
//   Var loss = CrossEntropy(logits, labels);     // scalar
//   Backward(loss);                              // w.grad(), b.grad() = dloss/dw, dloss/db
//   optimizer.Step();                            // then optimizer.ZeroGrad()
//   { NoGrad no_grad; Var eval = Linear(x, w, b); }  // records nothing, saves nothing
//
// Model. A Var is a cheap, shared handle to a Node {value, grad, backward closure, inputs}. An op
// computes its value eagerly; if grad mode is on and any input requires a gradient, it attaches
// a closure that maps dL/d(output) to contributions to its inputs' gradients. The "tape" is the
// graph reachable from the loss: Backward(loss) visits it in reverse creation order (creation
// order is a topological order), so the run is deterministic. Backward frees each closure (and
// what it saved) as soon as it has run; intermediate gradients are freed too. Leaves that
// require a gradient (parameters) keep accumulating into grad() until ZeroGrad().
//
// Writing a new op (in a model plugin or in core/ops/): compute the output Tensor, then
//   return MakeOp("MyOp", out, {a, b}, [a, b, saved](const Tensor& dout) {
//     if (a.requires_grad()) AccumulateGrad(a, ...);   // or write via a.GradForWrite()
//     if (b.requires_grad()) ...;
//   });
// Capture inputs and saved Tensors by value; never capture the returned Var (that would be a
// reference cycle and leak the graph). See core/README.md for a complete example.
#ifndef LRA_CORE_TAPE_H_
#define LRA_CORE_TAPE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lra {

// Called during Backward() with dL/d(output) (same shape and dtype as the output).
using BackwardFn = std::function<void(const Tensor& dout)>;

namespace internal {
struct Node {
  Tensor value;
  Tensor grad;                 // undefined until a gradient reaches this node
  bool requires_grad = false;
  bool is_leaf = true;         // created by Parameter/Constant/Var(...), not by an op
  int64_t seq = 0;             // creation order: a topological order of the graph
  const char* op = "leaf";     // op name, for error messages
  std::string name;            // parameter name ("encoder.0.w"); empty otherwise
  BackwardFn backward;
  std::vector<std::shared_ptr<Node>> inputs;
};
}  // namespace internal

class Var {
 public:
  Var() = default;
  // A leaf. With requires_grad it behaves like a parameter (gradients accumulate into grad()).
  explicit Var(Tensor value, bool requires_grad = false, std::string name = "");

  bool defined() const { return node_ != nullptr; }
  const Tensor& value() const { return node_->value; }
  // For optimizers and initializers: in-place updates of a leaf's value.
  Tensor& mutable_value() const { return node_->value; }
  const Shape& shape() const { return node_->value.shape(); }
  int64_t dim(int axis) const { return node_->value.dim(axis); }
  int rank() const { return node_->value.rank(); }
  int64_t numel() const { return node_->value.numel(); }
  DType dtype() const { return node_->value.dtype(); }
  bool requires_grad() const { return node_ && node_->requires_grad; }
  bool is_leaf() const { return node_->is_leaf; }
  const std::string& name() const { return node_->name; }

  // dL/d(this); undefined (numel() == 0) if no gradient has reached this Var. Only leaves keep
  // their gradient after Backward() returns.
  const Tensor& grad() const { return node_->grad; }
  bool has_grad() const { return node_->grad.defined(); }
  void ZeroGrad() const { node_->grad = Tensor(); }

  // For backward functions. GradForAccumulate() returns the gradient buffer, zero-filled on
  // first use; add into it. GradForWrite() avoids that zero fill: when *overwrite is set on
  // return the buffer is uninitialized and the caller must assign every element, otherwise it
  // must add.
  // Var is a handle, so these are const: they change the shared node, not the handle.
  Tensor& GradForAccumulate() const;
  Tensor& GradForWrite(bool* overwrite) const;

  // Identity of the underlying node (two Vars copied from one another compare equal).
  bool SameNode(const Var& o) const { return node_ == o.node_; }
  const std::shared_ptr<internal::Node>& node() const { return node_; }

 private:
  friend Var MakeOp(const char*, Tensor, const std::vector<Var>&, BackwardFn);
  std::shared_ptr<internal::Node> node_;
};

// A trainable leaf (requires_grad = true).
Var Parameter(Tensor init, std::string name);
// A leaf that never receives a gradient.
Var Constant(Tensor value);

// The one way to add an op (see the header comment). `inputs` are the Vars the output depends
// on; when grad mode is off or none requires a gradient, `backward` is dropped and the result
// is a constant.
Var MakeOp(const char* op_name, Tensor out, const std::vector<Var>& inputs, BackwardFn backward);

// True when an op with these inputs will record a backward (so it should save what Backward
// needs; under NoGrad it can skip that work).
bool NeedsGrad(const std::vector<Var>& inputs);

// dst += src elementwise (numel and dtype must match; shapes may differ).
void AddInto(Tensor& dst, const Tensor& src);

// Adds g (same shape/dtype as v) into v's gradient; on first use it copies instead of adding.
void AccumulateGrad(const Var& v, const Tensor& g);

// Runs reverse mode from `loss` (a 1-element tensor; seeded with 1) or with an explicit seed
// gradient `dloss` of the same shape. Each op's backward runs once and is then freed: call
// Backward at most once per graph.
void Backward(const Var& loss);
void Backward(const Var& loss, const Tensor& dloss);

// Grad mode is per thread and on by default.
bool GradEnabled();
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

}  // namespace lra

#endif  // LRA_CORE_TAPE_H_

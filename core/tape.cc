#include "core/tape.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_set>

#include "core/check.h"
#include "core/parallel.h"

namespace lra {
namespace {

thread_local bool g_grad_enabled = true;
std::atomic<int64_t> g_seq{0};

std::shared_ptr<internal::Node> NewNode(Tensor value) {
  auto n = std::make_shared<internal::Node>();
  n->value = std::move(value);
  n->seq = g_seq.fetch_add(1, std::memory_order_relaxed);
  return n;
}

}  // namespace

// dst += src, elementwise over floats (complex tensors are pairs of floats).
void AddInto(Tensor& dst, const Tensor& src) {
  LRA_CHECK(dst.numel() == src.numel() && dst.dtype() == src.dtype())
      << "gradient " << src.shape().ToString() << " does not match " << dst.shape().ToString();
  const int64_t n = RealCount(dst);
  float* d = Reals(dst);
  const float* s = Reals(src);
  ParallelFor(n, [&](int64_t b, int64_t e) {
    // omp simd: -O2's cost model leaves loops that need a remainder scalar; an elementwise add
    // gives the same bits either way.
#pragma omp simd
    for (int64_t i = b; i < e; ++i) d[i] += s[i];
  });
}

Var::Var(Tensor value, bool requires_grad, std::string name) {
  node_ = NewNode(std::move(value));
  node_->requires_grad = requires_grad;
  node_->name = std::move(name);
}

Tensor& Var::GradForAccumulate() const {
  if (!node_->grad.defined()) node_->grad = Tensor::Zeros(shape(), dtype());
  return node_->grad;
}

Tensor& Var::GradForWrite(bool* overwrite) const {
  *overwrite = !node_->grad.defined();
  if (*overwrite) node_->grad = Tensor::Empty(shape(), dtype());
  return node_->grad;
}

Var Parameter(Tensor init, std::string name) { return Var(std::move(init), true, std::move(name)); }

Var Constant(Tensor value) { return Var(std::move(value), false); }

bool GradEnabled() { return g_grad_enabled; }

NoGrad::NoGrad() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = prev_; }

bool NeedsGrad(const std::vector<Var>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Var& v : inputs)
    if (v.requires_grad()) return true;
  return false;
}

Var MakeOp(const char* op_name, Tensor out, const std::vector<Var>& inputs, BackwardFn backward) {
  Var v;
  v.node_ = NewNode(std::move(out));
  v.node_->op = op_name;
  v.node_->is_leaf = false;
  if (NeedsGrad(inputs)) {
    v.node_->requires_grad = true;
    v.node_->backward = std::move(backward);
    v.node_->inputs.reserve(inputs.size());
    for (const Var& in : inputs)
      if (in.requires_grad()) v.node_->inputs.push_back(in.node());
  }
  return v;
}

void AccumulateGrad(const Var& v, const Tensor& g) {
  bool overwrite;
  Tensor& dst = v.GradForWrite(&overwrite);
  if (overwrite) {
    LRA_CHECK(dst.numel() == g.numel() && dst.dtype() == g.dtype())
        << "gradient " << g.shape().ToString() << " for " << dst.shape().ToString();
    // A first gradient is copied over the threads: an activation-sized copy on one thread left
    // the others idle (the residual Add's backward of every block; issue 16).
    const float* src = Reals(g);
    float* out = Reals(dst);
    if (src != out) {
      ParallelFor(RealCount(g), [&](int64_t b, int64_t e) {
        std::memcpy(out + b, src + b, static_cast<size_t>(e - b) * sizeof(float));
      });
    }
  } else {
    AddInto(dst, g);
  }
}

void Backward(const Var& loss) {
  LRA_CHECK(loss.numel() == 1) << "Backward(loss) needs a 1-element loss, got "
                               << loss.shape().ToString() << "; pass an explicit seed gradient";
  Tensor seed = Tensor::Empty(loss.shape(), loss.dtype());
  if (loss.dtype() == DType::kF32) {
    seed.data<float>()[0] = 1.0f;
  } else {
    seed.data<c64>()[0] = c64(1.0f, 0.0f);
  }
  Backward(loss, seed);
}

void Backward(const Var& loss, const Tensor& dloss) {
  LRA_CHECK(loss.defined());
  LRA_CHECK(dloss.shape() == loss.shape() && dloss.dtype() == loss.dtype())
      << "seed gradient " << dloss.shape().ToString() << " for loss " << loss.shape().ToString();
  if (!loss.requires_grad()) return;  // nothing upstream needs a gradient
  // Collect every node reachable through recorded edges. `order` holds owning pointers: clearing
  // a node's inputs below may drop the last other reference to an input still to be visited.
  std::vector<std::shared_ptr<internal::Node>> order;
  std::unordered_set<internal::Node*> seen;
  std::vector<std::shared_ptr<internal::Node>> stack = {loss.node()};
  seen.insert(loss.node().get());
  while (!stack.empty()) {
    std::shared_ptr<internal::Node> n = std::move(stack.back());
    stack.pop_back();
    for (const auto& in : n->inputs)
      if (seen.insert(in.get()).second) stack.push_back(in);
    order.push_back(std::move(n));
  }
  // Reverse creation order visits every consumer before its producers.
  std::sort(order.begin(), order.end(),
            [](const std::shared_ptr<internal::Node>& a, const std::shared_ptr<internal::Node>& b) {
              return a->seq > b->seq;
            });
  internal::Node* root = loss.node().get();
  if (root->grad.defined()) {
    AddInto(root->grad, dloss);
  } else {
    // A leaf keeps (and later adds into) its gradient, so it needs its own copy; an op's
    // gradient is only read by its backward, so it can share the caller's buffer.
    root->grad = root->is_leaf ? dloss.Clone() : dloss;
  }
  for (const std::shared_ptr<internal::Node>& n : order) {
    if (n->is_leaf) continue;
    if (n->backward && n->grad.defined()) {
      BackwardFn fn = std::move(n->backward);
      n->backward = nullptr;
      fn(n->grad);
    }
    // Free what this op saved and the intermediate gradient: they are no longer needed.
    n->backward = nullptr;
    n->inputs.clear();
    n->grad = Tensor();
  }
}

}  // namespace lra

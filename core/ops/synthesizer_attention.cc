#include "core/ops/synthesizer_attention.h"

#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/kernels/synthesizer_attention.h"

namespace lra {
namespace {

// Where a backward writes v's gradient: straight into its buffer when this is the first
// gradient to reach v, else into a temporary added on Finish().
struct GradOut {
  const Var* v = nullptr;
  Tensor temp;
  float* ptr = nullptr;
  GradOut(const Var& var, bool needed) {
    if (!needed) return;
    v = &var;
    bool overwrite = false;
    Tensor& g = var.GradForWrite(&overwrite);
    if (overwrite) {
      ptr = g.data<float>();
    } else {
      temp = Tensor::Empty(var.shape());
      ptr = temp.data<float>();
    }
  }
  void Finish() {
    if (v && temp.defined()) AddInto(v->GradForAccumulate(), temp);
  }
};

}  // namespace

Var SynthesizerAttention(const Var& q, const Var& k, const Var& v, const Var& shared,
                         const Var& per_example, const std::vector<int32_t>& lengths,
                         const std::vector<uint8_t>& mask, int heads, float dropout, Rng* rng,
                         kernels::SynthesizerSaved saved) {
  LRA_CHECK(v.rank() == 3 && heads >= 1 && v.dim(2) % heads == 0)
      << "SynthesizerAttention: v " << v.shape().ToString() << " must be [B, L, heads * dv], "
      << heads << " heads";
  const int64_t b = v.dim(0), l = v.dim(1);
  LRA_CHECK(q.defined() == k.defined() &&
            (q.defined() || shared.defined() || per_example.defined()))
      << "SynthesizerAttention: give q and k, synthetic logits, or both";
  LRA_CHECK(!q.defined() || (q.shape() == k.shape() && q.rank() == 3 && q.dim(0) == b &&
                             q.dim(1) == l && q.dim(2) % heads == 0))
      << "SynthesizerAttention: q " << q.shape().ToString() << " k " << k.shape().ToString()
      << " must be [" << b << ", " << l << ", heads * d]";
  LRA_CHECK(!shared.defined() || (shared.rank() == 3 && shared.dim(0) == heads &&
                                  shared.dim(1) == shared.dim(2) && shared.dim(1) >= l))
      << "SynthesizerAttention: shared " << shared.shape().ToString() << " must be [" << heads
      << ", P, P] with P >= " << l;
  LRA_CHECK(!per_example.defined() ||
            (per_example.rank() == 4 && per_example.dim(0) == b && per_example.dim(1) == heads &&
             per_example.dim(2) == l && per_example.dim(3) == l))
      << "SynthesizerAttention: per_example " << per_example.shape().ToString() << " must be ["
      << b << ", " << heads << ", " << l << ", " << l << "]";
  LRA_CHECK(lengths.empty() || static_cast<int64_t>(lengths.size()) == b)
      << "SynthesizerAttention: " << lengths.size() << " lengths for batch " << b;
  for (int32_t n : lengths)
    LRA_CHECK(n >= 0 && n <= l) << "SynthesizerAttention: length " << n << " not in [0, " << l
                                << "]";
  LRA_CHECK(mask.empty() || static_cast<int64_t>(mask.size()) == b * l)
      << "SynthesizerAttention: mask of " << mask.size() << " for [" << b << ", " << l << "]";
  LRA_CHECK(dropout >= 0 && dropout < 1) << "SynthesizerAttention: dropout " << dropout
                                         << " not in [0, 1)";
  LRA_CHECK(dropout == 0 || rng != nullptr) << "SynthesizerAttention: dropout needs an rng";
  kernels::SynthesizerShape s;
  s.batch = static_cast<int>(b);
  s.length = static_cast<int>(l);
  s.heads = heads;
  s.qk_dim = q.defined() ? static_cast<int>(q.dim(2) / heads) : 0;
  s.v_dim = static_cast<int>(v.dim(2) / heads);
  s.shared_size = shared.defined() ? static_cast<int>(shared.dim(1)) : 0;
  s.per_example = per_example.defined();
  kernels::SynthesizerDropout drop;
  if (dropout > 0) {
    drop.rate = dropout;
    drop.seed = rng->NextU64();
  }
  Tensor state = Tensor::Empty({kernels::SynthesizerSavedFloats(s, saved)});
  Tensor out = Tensor::Empty({b, l, v.dim(2)});
  auto ptr = [](const Var& x) { return x.defined() ? x.value().data<float>() : nullptr; };
  const int* lp = lengths.empty() ? nullptr : lengths.data();
  const uint8_t* mp = mask.empty() ? nullptr : mask.data();
  kernels::SynthesizerForward(s, saved, ptr(q), ptr(k), ptr(v), ptr(shared), ptr(per_example),
                              lp, mp, drop, out.data<float>(), state.data<float>());
  std::vector<Var> inputs = {v};
  for (const Var* x : {&q, &k, &shared, &per_example})
    if (x->defined()) inputs.push_back(*x);
  if (!NeedsGrad(inputs)) return Constant(out);
  return MakeOp("SynthesizerAttention", out, inputs,
                [q, k, v, shared, per_example, lengths, mask, s, saved, drop, out,
                 state](const Tensor& dout) mutable {
    auto ptr = [](const Var& x) { return x.defined() ? x.value().data<float>() : nullptr; };
    GradOut dq(q, q.requires_grad()), dk(k, k.requires_grad()), dv(v, v.requires_grad());
    float* dshared = shared.requires_grad() ? shared.GradForAccumulate().data<float>() : nullptr;
    // per_example's gradient is dS itself: written straight into its buffer when this is the
    // first gradient to reach it; else added afterwards from P's place (kProbs) or a temporary.
    float* dlogits = nullptr;
    Tensor dlogits_temp;
    bool add_probs = false;
    if (per_example.requires_grad()) {
      bool overwrite = false;
      Tensor& g = per_example.GradForWrite(&overwrite);
      if (overwrite) {
        dlogits = g.data<float>();
      } else if (saved == kernels::SynthesizerSaved::kProbs) {
        add_probs = true;
      } else {
        dlogits_temp = Tensor::Empty(per_example.shape());
        dlogits = dlogits_temp.data<float>();
      }
    }
    kernels::SynthesizerBackward(
        s, saved, ptr(q), ptr(k), ptr(v), ptr(shared), ptr(per_example),
        lengths.empty() ? nullptr : lengths.data(), mask.empty() ? nullptr : mask.data(), drop,
        out.data<float>(), state.data<float>(), dout.data<float>(), dq.ptr, dk.ptr, dv.ptr,
        dlogits, dshared);
    if (add_probs) AddInto(per_example.GradForAccumulate(), state);
    if (dlogits_temp.defined()) AddInto(per_example.GradForAccumulate(), dlogits_temp);
    dq.Finish();
    dk.Finish();
    dv.Finish();
    state = Tensor();  // the saved state goes as soon as this layer's backward ends
  });
}

}  // namespace lra

#include "core/ops/lsh_attention.h"

#include <memory>

#include "core/check.h"
#include "core/kernels/lsh_attention.h"
#include "core/random.h"

namespace lra {
namespace {

// The Rng stream of the rotations ("LSH").
constexpr uint64_t kLshRotationStream = 0x4c5348;

}  // namespace

std::vector<float> LshRotations(uint64_t seed, int head_dim, int n_hashes, int n_buckets) {
  LRA_CHECK(head_dim >= 1 && n_hashes >= 1 && n_buckets >= 2 && n_buckets % 2 == 0)
      << "LshRotations: head_dim " << head_dim << ", n_hashes " << n_hashes << ", n_buckets "
      << n_buckets << " (even, >= 2)";
  std::vector<float> r(static_cast<size_t>(head_dim) * n_hashes * (n_buckets / 2));
  Rng rng(seed, kLshRotationStream);
  rng.FillNormal(r.data(), static_cast<int64_t>(r.size()));
  return r;
}

Var LshAttention(const Var& x, const Var& v, const std::vector<float>& rotations,
                 const std::vector<int32_t>& lengths, const LshAttentionConfig& config,
                 const std::vector<uint8_t>& mask) {
  LRA_CHECK(x.rank() == 3 && x.shape() == v.shape())
      << "LshAttention: x " << x.shape().ToString() << " v " << v.shape().ToString()
      << " must both be [B, L, heads * d]";
  LRA_CHECK(config.heads >= 1 && x.dim(2) % config.heads == 0)
      << "LshAttention: width " << x.dim(2) << " not divisible by " << config.heads << " heads";
  LRA_CHECK(config.n_hashes >= 1 && config.n_buckets >= 2 && config.n_buckets % 2 == 0 &&
            config.chunk >= 1)
      << "LshAttention: n_hashes " << config.n_hashes << " (>= 1), n_buckets " << config.n_buckets
      << " (even, >= 2), chunk " << config.chunk << " (>= 1)";
  kernels::LshShape s;
  s.batch = static_cast<int>(x.dim(0));
  s.length = static_cast<int>(x.dim(1));
  s.heads = config.heads;
  s.head_dim = static_cast<int>(x.dim(2) / config.heads);
  s.n_hashes = config.n_hashes;
  s.n_buckets = config.n_buckets;
  s.chunk = config.chunk;
  LRA_CHECK(static_cast<int64_t>(rotations.size()) ==
            int64_t{s.head_dim} * s.n_hashes * (s.n_buckets / 2))
      << "LshAttention: " << rotations.size() << " rotation entries, want head_dim x n_hashes x "
      << "n_buckets / 2 = " << s.head_dim << " x " << s.n_hashes << " x " << s.n_buckets / 2;
  LRA_CHECK(lengths.empty() || static_cast<int>(lengths.size()) == s.batch)
      << "LshAttention: " << lengths.size() << " lengths for batch " << s.batch;
  for (int32_t n : lengths)
    LRA_CHECK(n >= 0 && n <= s.length)
        << "LshAttention: length " << n << " not in [0, " << s.length << "]";
  LRA_CHECK(mask.empty() || static_cast<int64_t>(mask.size()) == x.dim(0) * x.dim(1))
      << "LshAttention: mask of " << mask.size() << " bytes, want B * L = " << x.dim(0) * x.dim(1);
  auto order = std::make_shared<std::vector<int32_t>>(kernels::LshOrderInts(s));
  Tensor p = Tensor::Empty({kernels::LshProbFloats(s)}),
         o = Tensor::Empty({kernels::LshOutFloats(s)}),
         lse = Tensor::Empty({kernels::LshLseFloats(s)});
  const kernels::LshSaved saved{order->data(), p.data<float>(), o.data<float>(), lse.data<float>()};
  Tensor out = Tensor::Empty(x.shape());
  const int* lp = lengths.empty() ? nullptr : lengths.data();
  const uint8_t* mp = mask.empty() ? nullptr : mask.data();
  kernels::LshAttentionForward(s, x.value().data<float>(), v.value().data<float>(),
                               rotations.data(), lp, mp, out.data<float>(), saved);
  if (!NeedsGrad({x, v})) return Constant(out);
  return MakeOp(
      "LshAttention", out, {x, v}, [x, v, lengths, mask, s, order, p, o, lse](const Tensor& dout) {
        Tensor dx = Tensor::Empty(x.shape()), dv = Tensor::Empty(v.shape());
        const int* lp = lengths.empty() ? nullptr : lengths.data();
        const uint8_t* mp = mask.empty() ? nullptr : mask.data();
        Tensor pp = p, oo = o, ll = lse;  // non-const handles to the saved arrays
        const kernels::LshSaved sv{order->data(), pp.data<float>(), oo.data<float>(),
                                   ll.data<float>()};
        kernels::LshAttentionBackward(s, x.value().data<float>(), v.value().data<float>(), lp, mp,
                                      sv, dout.data<float>(), dx.data<float>(), dv.data<float>());
        if (x.requires_grad()) AddInto(x.GradForAccumulate(), dx);
        if (v.requires_grad()) AddInto(v.GradForAccumulate(), dv);
      });
}

}  // namespace lra

#include "core/ops/performer_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/kernels/favor.h"
#include "core/kernels/linear_attention.h"
#include "core/ops/activation.h"
#include "core/ops/elementwise.h"

namespace lra {
namespace {

void CheckLengths(const char* op, const std::vector<int32_t>& lengths, int64_t b, int64_t l) {
  LRA_CHECK(lengths.empty() || static_cast<int64_t>(lengths.size()) == b)
      << op << ": " << lengths.size() << " lengths for batch " << b;
  for (int32_t n : lengths)
    LRA_CHECK(n >= 0 && n <= l) << op << ": length " << n << " not in [0, " << l << "]";
}

}  // namespace

Tensor DrawFavorProjection(int features, int head_dim, Rng& rng) {
  LRA_CHECK(features >= 1 && head_dim >= 1)
      << "DrawFavorProjection: features " << features << ", head_dim " << head_dim;
  const int blocks = (features + head_dim - 1) / head_dim;
  std::vector<float> g(static_cast<size_t>(blocks) * head_dim * head_dim);
  std::vector<float> n(static_cast<size_t>(features) * head_dim);
  rng.FillNormal(g.data(), static_cast<int64_t>(g.size()));
  rng.FillNormal(n.data(), static_cast<int64_t>(n.size()));
  Tensor w = Tensor::Empty({features, head_dim});
  kernels::OrthogonalRandomMatrix(features, head_dim, g.data(), n.data(), w.data<float>());
  return w;
}

Tensor DrawQuerySeededProjections(const Tensor& q, const std::vector<int32_t>& lengths,
                                  int features, int head_dim) {
  const int64_t b = q.dim(0), l = q.dim(1), w = q.dim(2);
  Tensor out = Tensor::Empty({b, features, head_dim});
  const int64_t per = int64_t{features} * head_dim;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t len = lengths.empty() ? l : lengths[i];
    double sum = 0;
    const float* p = q.data<float>() + i * l * w;
    for (int64_t j = 0; j < len * w; ++j) sum += p[j];
    // performer_attention.py: convert_element_type(ceil(sum(query) * 10000000.0), int32).
    const double c = std::ceil(sum * 1e7);
    const int32_t seed = static_cast<int32_t>(static_cast<uint32_t>(
        static_cast<int64_t>(std::fmod(c, 4294967296.0))));
    Rng rng(static_cast<uint64_t>(static_cast<uint32_t>(seed)), /*stream=*/0x5045524600ull);
    Tensor one = DrawFavorProjection(features, head_dim, rng);
    std::copy(one.data<float>(), one.data<float>() + per, out.data<float>() + i * per);
  }
  return out;
}

Var FavorFeatures(const Var& x, const Tensor& w, const std::vector<int32_t>& lengths, int heads,
                  bool is_query) {
  LRA_CHECK(x.rank() == 3 && heads >= 1 && x.dim(2) % heads == 0)
      << "FavorFeatures: x " << x.shape().ToString() << " must be [B, L, heads * d], heads "
      << heads;
  kernels::FavorShape s;
  s.batch = static_cast<int>(x.dim(0));
  s.length = static_cast<int>(x.dim(1));
  s.heads = heads;
  s.head_dim = static_cast<int>(x.dim(2) / heads);
  LRA_CHECK((w.rank() == 2 && w.dim(1) == s.head_dim) ||
            (w.rank() == 3 && w.dim(0) == s.batch && w.dim(2) == s.head_dim))
      << "FavorFeatures: projection " << w.shape().ToString() << " must be [m, " << s.head_dim
      << "] or [" << s.batch << ", m, " << s.head_dim << "]";
  s.features = static_cast<int>(w.dim(w.rank() - 2));
  CheckLengths("FavorFeatures", lengths, s.batch, s.length);
  const int64_t stride = w.rank() == 3 ? int64_t{s.features} * s.head_dim : 0;
  const int* lens = lengths.empty() ? nullptr : lengths.data();
  Tensor out = Tensor::Empty({x.dim(0), x.dim(1), int64_t{heads} * s.features});
  kernels::FavorFeaturesForward(s, x.value().data<float>(), w.data<float>(), stride, lens,
                                is_query, out.data<float>());
  if (!NeedsGrad({x})) return Constant(out);
  return MakeOp("FavorFeatures", out, {x}, [x, w, lengths, s, stride, is_query](const Tensor& g) {
    Tensor dx = Tensor::Empty(x.shape());
    kernels::FavorFeaturesBackward(s, x.value().data<float>(), w.data<float>(), stride,
                                   lengths.empty() ? nullptr : lengths.data(), is_query,
                                   g.data<float>(), dx.data<float>());
    AddInto(x.GradForAccumulate(), dx);
  });
}

Var FeatureAttention(const Var& qf, const Var& kf, const Var& v,
                     const std::vector<int32_t>& lengths, int heads, float stabilizer) {
  LRA_CHECK(qf.rank() == 3 && qf.shape() == kf.shape() && v.rank() == 3 &&
            v.dim(0) == qf.dim(0) && v.dim(1) == qf.dim(1))
      << "FeatureAttention: qf " << qf.shape().ToString() << " kf " << kf.shape().ToString()
      << " v " << v.shape().ToString() << ": need qf, kf [B, L, heads * m], v [B, L, heads * dv]";
  LRA_CHECK(heads >= 1 && qf.dim(2) % heads == 0 && v.dim(2) % heads == 0)
      << "FeatureAttention: widths " << qf.dim(2) << ", " << v.dim(2) << " and " << heads
      << " heads";
  kernels::FeatureAttentionShape s;
  s.batch = static_cast<int>(qf.dim(0));
  s.length = static_cast<int>(qf.dim(1));
  s.heads = heads;
  s.feature_dim = static_cast<int>(qf.dim(2) / heads);
  s.value_dim = static_cast<int>(v.dim(2) / heads);
  CheckLengths("FeatureAttention", lengths, s.batch, s.length);
  Tensor saved = Tensor::Empty({kernels::FeatureAttentionSavedFloats(s)});
  Tensor out = Tensor::Empty(v.shape());
  const int* lens = lengths.empty() ? nullptr : lengths.data();
  kernels::FeatureAttentionForward(s, qf.value().data<float>(), kf.value().data<float>(),
                                   v.value().data<float>(), lens, stabilizer, out.data<float>(),
                                   saved.data<float>());
  if (!NeedsGrad({qf, kf, v})) return Constant(out);
  return MakeOp("FeatureAttention", out, {qf, kf, v},
                [qf, kf, v, lengths, s, stabilizer, out, saved](const Tensor& dout) {
    Tensor dq = Tensor::Empty(qf.shape()), dk = Tensor::Empty(kf.shape()),
           dv = Tensor::Empty(v.shape());
    kernels::FeatureAttentionBackward(s, qf.value().data<float>(), kf.value().data<float>(),
                                      v.value().data<float>(),
                                      lengths.empty() ? nullptr : lengths.data(), stabilizer,
                                      out.data<float>(), saved.data<float>(), dout.data<float>(),
                                      dq.data<float>(), dk.data<float>(), dv.data<float>());
    if (qf.requires_grad()) AddInto(qf.GradForAccumulate(), dq);
    if (kf.requires_grad()) AddInto(kf.GradForAccumulate(), dk);
    if (v.requires_grad()) AddInto(v.GradForAccumulate(), dv);
  });
}

Var PerformerAttention(const Var& q, const Var& k, const Var& v,
                       const std::vector<int32_t>& lengths, const PerformerConfig& c) {
  LRA_CHECK(q.rank() == 3 && q.shape() == k.shape() && q.shape() == v.shape())
      << "PerformerAttention: q " << q.shape().ToString() << " k " << k.shape().ToString()
      << " v " << v.shape().ToString() << " must all be [B, L, heads * d]";
  LRA_CHECK(c.heads >= 1 && q.dim(2) % c.heads == 0)
      << "PerformerAttention: width " << q.dim(2) << " not divisible by " << c.heads << " heads";
  if (c.feature_map == PerformerFeatureMap::kRelu) {
    auto phi = [](const Var& x) { return AddScalar(Relu(x), kPerformerReluEps); };
    return FeatureAttention(phi(q), phi(k), v, lengths, c.heads, /*stabilizer=*/0.0f);
  }
  const int d = static_cast<int>(q.dim(2) / c.heads);
  const Tensor w = c.redraw == PerformerRedraw::kFixed
                       ? c.projection
                       : DrawQuerySeededProjections(q.value(), lengths, c.features, d);
  LRA_CHECK(w.defined()) << "PerformerAttention: kFixed needs a projection";
  return FeatureAttention(FavorFeatures(q, w, lengths, c.heads, true),
                          FavorFeatures(k, w, lengths, c.heads, false), v, lengths, c.heads,
                          kernels::kFavorEps);
}

}  // namespace lra

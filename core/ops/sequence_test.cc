#include "core/ops/sequence.h"

#include <cmath>

#include "gtest/gtest.h"
#include "core/testing/grad_check.h"

namespace lra {
namespace {

using testing::CheckOp;
using testing::OpCheck;

// Direct convolution in double (the math in core/kernels/fft_conv.h).
std::vector<double> RefConv(const std::vector<double>& u, const std::vector<double>& k, int b,
                            int l, int h, bool bidir) {
  std::vector<double> y(b * l * h, 0.0);
  for (int i = 0; i < b; ++i)
    for (int t = 0; t < l; ++t)
      for (int c = 0; c < h; ++c) {
        double s = 0;
        for (int r = 0; r < l; ++r) {
          const double x = u[(i * l + r) * h + c];
          if (r <= t) s += k[c * l + (t - r)] * x;
          else if (bidir) s += k[(h + c) * l + (r - t - 1)] * x;
        }
        y[(i * l + t) * h + c] = s;
      }
  return y;
}

TEST(FftConvOpTest, CausalAndBidirectionalOddLengths) {
  kernels::FftConv engine(kernels::FftConvOptions{kernels::FftRigor::kEstimate});
  Rng rng(71);
  for (int l : {1, 5, 16}) {
    for (bool bidir : {false, true}) {
      const int b = 2, h = 3;
      Tensor u = RandomUniform({b, l, h}, -1, 1, rng);
      Tensor k = RandomUniform(bidir ? Shape{2, h, l} : Shape{h, l}, -1, 1, rng);
      OpCheck c;
      c.op = [&](const std::vector<Var>& in) {
        return FftConv(in[0], in[1], bidir ? ConvDirection::kBidirectional : ConvDirection::kCausal,
                       &engine);
      };
      c.ref = [=](const std::vector<std::vector<double>>& in) {
        return RefConv(in[0], in[1], b, l, h, bidir);
      };
      // An FFT of size n has error ~ log2(n) eps per stage times the norm of the inputs it
      // mixes (sum over L terms): reduction length L * log2(2L), plus the batch sum for dk.
      const double n = 2.0 * l;
      c.reduction_length = l * std::log2(n + 1) * 4;
      c.grad_reduction_length = b * l * std::log2(n + 1) * 4;
      SCOPED_TRACE(::testing::Message() << "L " << l << " bidir " << bidir);
      CheckOp(c, {u, k});
    }
  }
}

// Attention in double: q, k, v [B, L, heads*d].
std::vector<double> RefAttention(const std::vector<double>& q, const std::vector<double>& k,
                                 const std::vector<double>& v, int b, int l, int heads, int d,
                                 bool causal, const std::vector<int32_t>& lengths) {
  const int w = heads * d;
  std::vector<double> out(b * l * w, 0.0);
  for (int z = 0; z < b; ++z)
    for (int hh = 0; hh < heads; ++hh)
      for (int i = 0; i < l; ++i) {
        const int n = lengths.empty() ? l : lengths[z];
        std::vector<double> s(l, -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j < l; ++j) {
          if (j >= n || (causal && j > i)) continue;
          double dot = 0;
          for (int e = 0; e < d; ++e)
            dot += q[(z * l + i) * w + hh * d + e] * k[(z * l + j) * w + hh * d + e];
          s[j] = dot / std::sqrt(double(d));
          mx = std::max(mx, s[j]);
        }
        if (mx == -INFINITY) continue;
        double tot = 0;
        for (int j = 0; j < l; ++j) tot += s[j] == -INFINITY ? 0 : std::exp(s[j] - mx);
        for (int j = 0; j < l; ++j) {
          if (s[j] == -INFINITY) continue;
          const double p = std::exp(s[j] - mx) / tot;
          for (int e = 0; e < d; ++e)
            out[(z * l + i) * w + hh * d + e] += p * v[(z * l + j) * w + hh * d + e];
        }
      }
  return out;
}

TEST(AttentionOpTest, DenseAndBlockedWithMasks) {
  Rng rng(72);
  const int b = 2, heads = 2, d = 3;
  for (int l : {1, 5}) {
    for (auto algo : {AttentionAlgorithm::kDense, AttentionAlgorithm::kBlocked}) {
      for (bool causal : {false, true}) {
        // Second sequence has no valid keys when l == 1 (fully masked rows).
        const std::vector<int32_t> lengths = {l, l == 1 ? 0 : 3};
        Tensor q = RandomUniform({b, l, heads * d}, -1, 1, rng);
        Tensor k = RandomUniform({b, l, heads * d}, -1, 1, rng);
        Tensor v = RandomUniform({b, l, heads * d}, -1, 1, rng);
        OpCheck c;
        AttentionConfig cfg{heads, causal, algo};
        c.op = [&](const std::vector<Var>& in) { return Attention(in[0], in[1], in[2], lengths, cfg); };
        c.ref = [&](const std::vector<std::vector<double>>& in) {
          return RefAttention(in[0], in[1], in[2], b, l, heads, d, causal, lengths);
        };
        c.reduction_length = l * d * 4;
        SCOPED_TRACE(::testing::Message() << "L " << l << " blocked "
                                          << (algo == AttentionAlgorithm::kBlocked) << " causal "
                                          << causal);
        CheckOp(c, {q, k, v});
      }
    }
  }
}

TEST(AttentionOpTest, SharedInputAccumulatesAllThreeGradients) {
  // Self-attention with q = k = v = x: dx = dq + dk + dv.
  Rng rng(73);
  Tensor x = RandomUniform({1, 4, 4}, -1, 1, rng);
  OpCheck c;
  c.op = [](const std::vector<Var>& in) { return Attention(in[0], in[0], in[0], {}, {2}); };
  c.ref = [](const std::vector<std::vector<double>>& in) {
    return RefAttention(in[0], in[0], in[0], 1, 4, 2, 2, false, {});
  };
  c.reduction_length = 32;
  CheckOp(c, {x});
}

}  // namespace
}  // namespace lra

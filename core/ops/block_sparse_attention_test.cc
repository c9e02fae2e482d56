// BlockSparseAttention (the op): forward against a double reference of the kept pattern,
// gradients by core/testing/grad_check.h's central differences, for the Sparse Transformer,
// Longformer and BigBird layouts, on inputs where every query is valid (a masked query's flax
// gradient is not a derivative of its output; core/kernels/block_sparse_attention_test.cc checks
// those rows against a frozen-score reference); padded rows' forward is checked too.
#include "core/ops/block_sparse_attention.h"

#include <cmath>
#include <memory>
#include <vector>

#include "core/testing/grad_check.h"
#include "gtest/gtest.h"

namespace lra {
namespace {

using kernels::BlockSparseLayout;
using kernels::BlockSparsePattern;
using testing::CheckOp;
using testing::OpCheck;

// [B, L, heads*d] doubles: query i of example z, head h, reads the keys j < length that
// layout(z, h) keeps for it (blocks, ranges and element rule); a padded query (i >= length)
// of a kUniform layout is uniform over its kept keys, of a kZero layout (and a row in no
// block) 0.
std::vector<double> Ref(const std::vector<double>& q, const std::vector<double>& k,
                        const std::vector<double>& v, int b, int l, int heads, int d,
                        const BlockSparsePattern& pat, const std::vector<int32_t>& lengths) {
  const int width = heads * d;
  std::vector<double> out(q.size(), 0.0);
  for (int z = 0; z < b; ++z)
    for (int h = 0; h < heads; ++h) {
      const BlockSparseLayout& y = pat.layouts[pat.layout_of.empty() ? 0 : pat.layout_of[z * heads + h]];
      const int len = lengths.empty() ? l : lengths[z];
      for (const kernels::QueryBlock& qb : y.blocks)
        for (int i = qb.begin; i < qb.end; ++i) {
          std::vector<int> keys;
          for (int x = qb.range_begin; x < qb.range_end; ++x)
            for (int j = y.ranges[x].begin; j < y.ranges[x].end; ++j)
              if (i < y.global || j < y.global || (j - i >= y.band_lo && j - i <= y.band_hi))
                keys.push_back(j);
          if (i >= len && y.masked == kernels::MaskedQuery::kZero) continue;
          std::vector<double> p(keys.size(), 0.0);
          double tot = 0;
          for (size_t x = 0; x < keys.size(); ++x) {
            const int j = keys[x];
            if (i < len && j >= len) continue;
            double s = 0;
            for (int e = 0; e < d; ++e)
              s += q[(z * l + i) * width + h * d + e] * k[(z * l + j) * width + h * d + e];
            tot += p[x] = i < len ? std::exp(s / std::sqrt(double(d))) : 1.0;
          }
          for (size_t x = 0; x < keys.size(); ++x)
            for (int e = 0; e < d; ++e)
              out[(z * l + i) * width + h * d + e] +=
                  p[x] / tot * v[(z * l + keys[x]) * width + h * d + e];
        }
    }
  return out;
}

void CheckPattern(std::shared_ptr<const BlockSparsePattern> pat, int b, int l, int heads, int d,
                  const std::vector<int32_t>& padded_lengths, uint64_t seed) {
  Rng rng(seed);
  Tensor q = testing::RandomTensor({b, l, heads * d}, rng),
         k = testing::RandomTensor({b, l, heads * d}, rng),
         v = testing::RandomTensor({b, l, heads * d}, rng);
  int n = 1;  // most keys a row reads
  for (const BlockSparseLayout& y : pat->layouts)
    for (size_t x = 0; x + 1 < y.key_begin.size(); ++x)
      n = std::max<int>(n, y.key_begin[x + 1] - y.key_begin[x]);
  for (bool padded : {false, true}) {
    const std::vector<int32_t> lengths = padded ? padded_lengths : std::vector<int32_t>{};
    OpCheck c;
    c.op = [&](const std::vector<Var>& in) {
      return BlockSparseAttention(in[0], in[1], in[2], lengths, pat, {heads});
    };
    c.ref = [&](const std::vector<std::vector<double>>& in) {
      return Ref(in[0], in[1], in[2], b, l, heads, d, *pat, lengths);
    };
    c.reduction_length = n * d;  // a length-d dot per score, n scores and values per output
    c.check_grad = !padded;      // padded: masked query rows (see the file comment)
    SCOPED_TRACE(padded);
    CheckOp(c, {q, k, v});
  }
}

std::shared_ptr<const BlockSparsePattern> One(BlockSparseLayout y) {
  auto p = std::make_shared<BlockSparsePattern>();
  p->layouts.push_back(std::move(y));
  return p;
}

TEST(BlockSparseAttentionOpTest, SparseFixedMatchesReferenceAndGradients) {
  CheckPattern(One(kernels::SparseFixedLayout(11, 3, 1, true)), 2, 11, 2, 3, {11, 6}, 91);
}

TEST(BlockSparseAttentionOpTest, LongformerMatchesReferenceAndGradients) {
  CheckPattern(One(kernels::LongformerLayout(12, 4, 1, 3)), 2, 12, 2, 3, {12, 7}, 92);
}

// BigBird: one layout per (example, head), from each example's own length.
TEST(BlockSparseAttentionOpTest, BigBirdMatchesReferenceAndGradients) {
  const int l = 14, heads = 2, block = 2;
  for (bool padded : {false, true}) {
    const std::vector<int32_t> lens = padded ? std::vector<int32_t>{14, 9} : std::vector<int32_t>{14, 14};
    auto p = std::make_shared<BlockSparsePattern>();
    for (int z = 0; z < 2; ++z)
      for (int h = 0; h < heads; ++h) {
        const int nb = (lens[z] + block - 1) / block;
        p->layouts.push_back(kernels::BigBirdLayout(
            l, lens[z], block, kernels::BigBirdRandomBlocks(nb, block, 2, 4, h)));
        p->layout_of.push_back(static_cast<int>(p->layouts.size()) - 1);
      }
    SCOPED_TRACE(padded);
    CheckPattern(p, 2, l, heads, 3, lens, 93);
  }
}

TEST(BlockSparseAttentionOpTest, DropoutDrawsOneKeyAndOnlyWhenOn) {
  Rng rng(93);
  Var x = Constant(testing::RandomTensor({2, 8, 4}, rng));
  auto pat = One(kernels::LongformerLayout(8, 3, 0, 4));
  Rng r(5);
  Var a = BlockSparseAttention(x, x, x, {}, pat, {2, 0.0f}, {}, &r);
  EXPECT_EQ(r.counter(), 0u);
  Var c = BlockSparseAttention(x, x, x, {}, pat, {2, 0.5f}, {}, &r);
  EXPECT_EQ(r.counter(), 1u);
  EXPECT_NE(a.value().ToVector(), c.value().ToVector());
}

}  // namespace
}  // namespace lra

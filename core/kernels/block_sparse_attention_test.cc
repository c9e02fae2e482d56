#include "core/kernels/block_sparse_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "core/kernels/attention.h"
#include "core/kernels/attention_reference_check.h"
#include "core/kernels/block_sparse_reference_masks.h"
#include "core/kernels/local_attention.h"
#include "gtest/gtest.h"

namespace lra {
namespace kernels {
namespace {

using testing::kEpsF32;

using reference::BigBirdMask;
using reference::LongformerMask;
using reference::SparseMask;

// The kept set of a layout, from its blocks, ranges and element rule.
std::set<std::pair<int, int>> Kept(const BlockSparseLayout& y) {
  std::set<std::pair<int, int>> kept;
  for (const QueryBlock& qb : y.blocks)
    for (int i = qb.begin; i < qb.end; ++i)
      for (int x = qb.range_begin; x < qb.range_end; ++x)
        for (int j = y.ranges[x].begin; j < y.ranges[x].end; ++j)
          if (i < y.global || j < y.global || (j - i >= y.band_lo && j - i <= y.band_hi))
            kept.insert({i, j});
  return kept;
}

std::set<std::pair<int, int>> FromMask(int length, const std::function<bool(int, int)>& m) {
  std::set<std::pair<int, int>> kept;
  for (int i = 0; i < length; ++i)
    for (int j = 0; j < length; ++j)
      if (m(i, j)) kept.insert({i, j});
  return kept;
}

TEST(BlockSparseLayout, SparseFixedEqualsTheReleasedMask) {
  for (bool cls : {false, true})
    for (int length : {1, 7, 50, 51, 173})
      for (auto [block, c] : {std::make_pair(50, 10), std::make_pair(4, 1), std::make_pair(5, 5)}) {
        SCOPED_TRACE(::testing::Message() << cls << " " << length << " " << block << " " << c);
        EXPECT_EQ(Kept(SparseFixedLayout(length, block, c, cls)),
                  FromMask(length, [&](int i, int j) { return SparseMask(i, j, block, c, cls); }));
      }
}

TEST(BlockSparseLayout, LongformerEqualsTheReleasedMask) {
  for (int length : {1, 9, 40, 130})
    for (int window : {1, 4, 7, 512})
      for (int global : {0, 1, 3})
        for (int qblock : {1, 8, 64}) {
          SCOPED_TRACE(::testing::Message() << length << " " << window << " " << global << " "
                                            << qblock);
          EXPECT_EQ(Kept(LongformerLayout(length, window, global, qblock)),
                    FromMask(length, [&](int i, int j) {
                      return LongformerMask(i, j, window, global);
                    }));
        }
}

TEST(BlockSparseLayout, BigBirdEqualsTheReleasedPattern) {
  for (int n : {0, 5, 64, 100, 300, 600})
    for (int length : {n, n + 37}) {
      if (length == 0) continue;
      const int block = 32, nb = (n + block - 1) / block;
      const auto rnd = BigBirdRandomBlocks(nb, block, 3, 77, 1);
      SCOPED_TRACE(::testing::Message() << n << " " << length);
      const BlockSparseLayout y = BigBirdLayout(length, n, block, rnd);
      EXPECT_EQ(y.masked, MaskedQuery::kZero);
      EXPECT_EQ(y.covered_rows, n);
      EXPECT_EQ(Kept(y), FromMask(length, [&](int i, int j) {
                  return BigBirdMask(i, j, n, block, rnd);
                }));
    }
}

TEST(BlockSparseLayout, LocalIsWindows) {
  const BlockSparseLayout y = LocalLayout(11, 4);
  EXPECT_TRUE(y.disjoint_keys);
  EXPECT_FALSE(y.has_rule);
  EXPECT_EQ(Kept(y), FromMask(11, [](int i, int j) { return i / 4 == j / 4; }));
}

// Linear cost: the saved floats (one per kept tile entry) per position stay flat as L grows
// for a fixed window and block count.
TEST(BlockSparseLayout, SavedFloatsLinearInLength) {
  auto per_pos = [](const BlockSparseLayout& y, int l) {
    return static_cast<double>(y.saved_begin.back()) / l;
  };
  const double a = per_pos(LongformerLayout(1024, 512, 0, 64), 1024);
  const double b = per_pos(LongformerLayout(4096, 512, 0, 64), 4096);
  EXPECT_LT(b, 1.15 * a);
  EXPECT_LE(b, 512 + 63);  // the band of a 64-row block
  auto bb = [](int n) {
    return BigBirdLayout(n, n, 64, BigBirdRandomBlocks((n + 63) / 64, 64, 3, 1, 0));
  };
  EXPECT_LT(per_pos(bb(4096), 4096), 1.25 * per_pos(bb(1024), 1024));
}

// get_block_rand_mask's candidate sets (see the header), distinct draws, fixed per (seed, head).
TEST(BlockSparseLayout, BigBirdRandomBlocksFollowTheReleasedCandidates) {
  for (int nb : {0, 1, 3, 5, 7, 16, 40})
    for (int block : {16, 64}) {
      const auto a = BigBirdRandomBlocks(nb, block, 3, 5, 0);
      EXPECT_EQ(a, BigBirdRandomBlocks(nb, block, 3, 5, 0));
      ASSERT_EQ(static_cast<int>(a.size()), nb);
      const int last_idx = std::min(nb * block, 1024);
      const int last = last_idx > 2 * block ? last_idx / block - 1 : nb - 1;
      for (int i = 0; i < nb; ++i) {
        std::set<int> cand;
        if (i >= 1 && i + 1 < nb) {
          if (i >= 3 && i == nb - 3) {
            for (int x = 1; x <= last - 4; ++x) cand.insert(x);
          } else if (i >= 3 && i == nb - 2) {
            for (int x = 1; x <= last - 3; ++x) cand.insert(x);
          } else {
            for (int x = 1; x <= std::min(last, nb - 2); ++x)
              if (std::abs(x - i) > 1) cand.insert(x);
          }
        }
        const std::set<int> got(a[i].begin(), a[i].end());
        EXPECT_EQ(got.size(), a[i].size()) << "distinct";
        EXPECT_EQ(static_cast<int>(a[i].size()), std::min<int>(3, cand.size())) << nb << " " << i;
        for (int x : got) EXPECT_TRUE(cand.count(x)) << nb << " " << i << " " << x;
      }
    }
  EXPECT_NE(BigBirdRandomBlocks(40, 16, 3, 5, 0), BigBirdRandomBlocks(40, 16, 3, 5, 1));
  EXPECT_NE(BigBirdRandomBlocks(40, 16, 3, 5, 0), BigBirdRandomBlocks(40, 16, 3, 6, 0));
}

struct Case : testing::KernelInputs {
  BlockSparseShape s;
  BlockSparsePattern pat;
  std::vector<int> lengths;    // empty: none
  std::vector<uint8_t> mask;   // empty: none
  const int* lens() const { return lengths.empty() ? nullptr : lengths.data(); }
  const uint8_t* m() const { return mask.empty() ? nullptr : mask.data(); }
  const BlockSparseLayout& Y(int b, int h) const {
    return pat.layouts[pat.layout_of.empty() ? 0 : pat.layout_of[b * s.heads + h]];
  }
};

Case MakeCase(int b, int l, int heads, int d, uint32_t seed) {
  Case c;
  static_cast<testing::KernelInputs&>(c) =
      testing::RandomKernelInputs(static_cast<size_t>(b) * l * heads * d, seed);
  c.s = {b, l, heads, d};
  return c;
}

// Double reference of the header's semantics, one (b, head, query) at a time over all L keys
// with the layout's kept set: softmax over the valid kept keys; a row with none is uniform
// over its kept keys (kUniform: softmax(s - s0) with s0 the unperturbed scores, recorded in
// `frozen`, which is flax's autodiff at the uniform row) or 0 (kZero); a row in no block is 0.
std::vector<double> Ref(const Case& c, const std::vector<double>& q, const std::vector<double>& k,
                        const std::vector<double>& v, std::map<int64_t, std::vector<double>>& frozen,
                        bool record) {
  const auto& s = c.s;
  const int64_t hd = static_cast<int64_t>(s.heads) * s.head_dim;
  std::vector<double> out(q.size(), 0.0);
  for (int b = 0; b < s.batch; ++b) {
    const int len = c.lengths.empty() ? s.length : c.lengths[b];
    auto valid = [&](int t) { return t < len && (c.mask.empty() || c.mask[b * s.length + t]); };
    for (int h = 0; h < s.heads; ++h) {
      const BlockSparseLayout& y = c.Y(b, h);
      const std::set<std::pair<int, int>> kept = Kept(y);
      for (int i = 0; i < s.length; ++i) {
        std::vector<int> keys;
        for (int j = 0; j < s.length; ++j)
          if (kept.count({i, j})) keys.push_back(j);
        if (keys.empty()) continue;  // in no block
        std::vector<double> sc(keys.size()), pr(keys.size(), 0.0);
        for (size_t x = 0; x < keys.size(); ++x) {
          double dot = 0;
          for (int e = 0; e < s.head_dim; ++e)
            dot += q[(b * s.length + i) * hd + h * s.head_dim + e] *
                   k[(b * s.length + keys[x]) * hd + h * s.head_dim + e];
          sc[x] = dot / std::sqrt(double(s.head_dim));
        }
        bool any = false;
        for (int j : keys) any = any || (valid(i) && valid(j));
        double z = 0;
        if (any) {
          double mx = -1e300;
          for (size_t x = 0; x < keys.size(); ++x)
            if (valid(keys[x])) mx = std::max(mx, sc[x]);
          for (size_t x = 0; x < keys.size(); ++x)
            z += pr[x] = valid(keys[x]) ? std::exp(sc[x] - mx) : 0;
        } else if (y.masked == MaskedQuery::kUniform) {
          std::vector<double>& s0 = frozen[(int64_t{b} * s.heads + h) * s.length + i];
          if (record) s0 = sc;
          for (size_t x = 0; x < keys.size(); ++x) z += pr[x] = std::exp(sc[x] - s0[x]);
        } else {
          continue;  // kZero
        }
        for (size_t x = 0; x < keys.size(); ++x)
          for (int e = 0; e < s.head_dim; ++e)
            out[(b * s.length + i) * hd + h * s.head_dim + e] +=
                pr[x] / z * v[(b * s.length + keys[x]) * hd + h * s.head_dim + e];
      }
    }
  }
  return out;
}

// Forward against the reference; dq, dk, dv against central differences of <Ref, dout>.
// Tolerance as core/kernels/local_attention_test.cc derives it, with n the most keys a row
// reads: every output is a sum of <= n probabilities times values, each from a length-d dot,
// an exp (~2 ulp) and a length-n normaliser; backward adds the length-n and length-d sums of dS,
// D and the GEMMs. First-order bound (2n + 2d + 20) eps times the sum of absolute terms
// (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., 3.1), a few times
// max|ref| for N(0, 1) inputs and convex weights: 4 (2n + 2d + 20) eps (1 + max|ref|) forward,
// twice that for gradients. Outputs and gradients start at 7 so rows the kernel must zero are
// checked too.
void Check(const Case& c) {
  const auto& s = c.s;
  int n = 1;
  for (const BlockSparseLayout& y : c.pat.layouts)
    for (size_t x = 0; x + 1 < y.key_begin.size(); ++x)
      n = std::max<int>(n, y.key_begin[x + 1] - y.key_begin[x]);
  std::vector<float> out(c.q.size(), 7.0f), saved(BlockSparseSavedFloats(s, c.pat));
  BlockSparseAttentionForward(s, c.pat, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(), 0.0f,
                              0, out.data(), saved.data());
  std::vector<float> dq(c.q.size(), 7.0f), dk(c.q.size(), 7.0f), dv(c.q.size(), 7.0f);
  BlockSparseAttentionBackward(s, c.pat, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(),
                               0.0f, 0, saved.data(), c.dout.data(), dq.data(), dk.data(),
                               dv.data());
  std::map<int64_t, std::vector<double>> frozen;
  testing::CheckAgainstReference(
      c, out, dq, dk, dv,
      [&](const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
          bool record) { return Ref(c, q, k, v, frozen, record); },
      4 * (2 * n + 2 * s.head_dim + 20) * kEpsF32);
}

// Padding inside a block, a masked position inside the length, an all-padding example.
void Pad(Case& c) {
  const int l = c.s.length;
  c.lengths = {l, l / 2, 0};
  c.mask.assign(3 * l, 1);
  c.mask[2] = c.mask[l - 1] = 0;
  c.mask[l + 1] = 0;
}

TEST(BlockSparseAttention, SparseFixedMatchesReference) {
  for (bool cls : {false, true}) {
    Case c = MakeCase(3, 14, 2, 3, 1);
    c.pat.layouts.push_back(SparseFixedLayout(14, 4, 1, cls));
    Pad(c);
    SCOPED_TRACE(cls);
    Check(c);
  }
}

TEST(BlockSparseAttention, LongformerMatchesReference) {
  for (int global : {0, 2}) {
    Case c = MakeCase(3, 15, 2, 3, 2);
    c.pat.layouts.push_back(LongformerLayout(15, 5, global, 4));
    Pad(c);
    SCOPED_TRACE(global);
    Check(c);
  }
}

// Per-(example, head) layouts: each example's own length sets its blocks and global blocks.
TEST(BlockSparseAttention, BigBirdPerExampleLayoutsMatchReference) {
  Case c = MakeCase(3, 26, 2, 3, 3);
  Pad(c);  // lengths 26, 13, 0
  for (int b = 0; b < 3; ++b)
    for (int h = 0; h < 2; ++h) {
      const int n = c.lengths[b], nb = (n + 2) / 3;
      c.pat.layouts.push_back(BigBirdLayout(26, n, 3, BigBirdRandomBlocks(nb, 3, 2, 9, h)));
      c.pat.layout_of.push_back(static_cast<int>(c.pat.layouts.size()) - 1);
    }
  Check(c);
}

TEST(BlockSparseAttention, LocalMatchesReference) {
  Case c = MakeCase(3, 13, 2, 4, 4);
  c.pat.layouts.push_back(LocalLayout(13, 5));
  Pad(c);
  Check(c);
}

// The local kernel is this kernel with LocalLayout: identical bits.
TEST(BlockSparseAttention, LocalKernelIsLocalLayout) {
  Case c = MakeCase(2, 11, 2, 3, 5);
  c.pat.layouts.push_back(LocalLayout(11, 4));
  c.lengths = {11, 6};
  const LocalAttentionShape ls{2, 11, 2, 3, 4};
  for (float rate : {0.0f, 0.25f}) {
    std::vector<float> a(c.q.size()), b(c.q.size()), sa(LocalAttentionSavedFloats(ls)),
        sb(BlockSparseSavedFloats(c.s, c.pat));
    LocalAttentionForward(ls, c.q.data(), c.k.data(), c.v.data(), c.lens(), nullptr, rate, 3,
                          a.data(), sa.data());
    BlockSparseAttentionForward(c.s, c.pat, c.q.data(), c.k.data(), c.v.data(), c.lens(), nullptr,
                                rate, 3, b.data(), sb.data());
    EXPECT_EQ(a, b);
  }
}

// One block reading [0, L) is dense attention (core/kernels/attention.h), masked rows and
// dropout included: the same mask bits, so the outputs agree to rounding.
TEST(BlockSparseAttention, OneBlockReadingEverythingIsDenseAttention) {
  for (float rate : {0.0f, 0.3f}) {
    Case c = MakeCase(2, 9, 2, 4, 6);
    BlockSparseLayout y;
    y.blocks.push_back({0, 9, 0, 1});
    y.ranges.push_back({0, 9});
    Finalize(9, &y);
    c.pat.layouts.push_back(y);
    c.lengths = {9, 5};
    c.mask.assign(18, 1);
    c.mask[3] = 0;
    AttentionShape as{2, 9, 2, 4, false};
    Attention dense;
    AttentionDropout drop{rate, 0x1234567890abcdefULL};
    std::vector<float> want(c.q.size()), dsaved(dense.SavedFloats(as));
    dense.Forward(as, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(), drop, want.data(),
                  dsaved.data());
    std::vector<float> got(c.q.size()), saved(BlockSparseSavedFloats(c.s, c.pat));
    BlockSparseAttentionForward(c.s, c.pat, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(),
                                rate, drop.seed, got.data(), saved.data());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << rate << " " << i;
    std::vector<float> g[6];
    for (auto& x : g) x.resize(c.q.size());
    dense.Backward(as, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(), drop, want.data(),
                   dsaved.data(), c.dout.data(), g[0].data(), g[1].data(), g[2].data());
    BlockSparseAttentionBackward(c.s, c.pat, c.q.data(), c.k.data(), c.v.data(), c.lens(), c.m(),
                                 rate, drop.seed, saved.data(), c.dout.data(), g[3].data(),
                                 g[4].data(), g[5].data());
    for (int t = 0; t < 3; ++t)
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(g[3 + t][i], g[t][i], 1e-4) << rate << " grad " << t << " " << i;
  }
}

// Dropout on a layout with gathered keys and shared keys: the mask is the dense one restricted
// to the kept entries, so a layout that keeps everything through several ranges equals dense.
TEST(BlockSparseAttention, DropoutOverSeveralRangesIsTheDenseMask) {
  Case c = MakeCase(2, 10, 1, 4, 7);
  BlockSparseLayout y;
  y.blocks = {{0, 4, 0, 2}, {4, 10, 2, 4}};
  y.ranges = {{0, 3}, {3, 10}, {0, 4}, {4, 10}};  // touching ranges: two gathers each
  Finalize(10, &y);
  c.pat.layouts.push_back(y);
  AttentionShape as{2, 10, 1, 4, false};
  Attention dense;
  AttentionDropout drop{0.4f, 99};
  std::vector<float> want(c.q.size()), dsaved(dense.SavedFloats(as));
  dense.Forward(as, c.q.data(), c.k.data(), c.v.data(), nullptr, nullptr, drop, want.data(),
                dsaved.data());
  std::vector<float> got(c.q.size()), saved(BlockSparseSavedFloats(c.s, c.pat));
  BlockSparseAttentionForward(c.s, c.pat, c.q.data(), c.k.data(), c.v.data(), nullptr, nullptr,
                              0.4f, 99, got.data(), saved.data());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
}

}  // namespace
}  // namespace kernels
}  // namespace lra

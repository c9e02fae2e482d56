#include "core/kernels/block_sparse_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "Eigen/Core"
#include "absl/base/internal/raw_logging.h"
#include "core/kernels/philox.h"
#include "core/kernels/window_dropout.h"
#include "core/kernels/strided_view.h"

namespace lra {
namespace kernels {
namespace {

// Appends [begin, end) to a sorted list of ranges, merging it into the last one when they touch.
void AddRange(std::vector<KeyRange>& r, int begin, int end) {
  if (begin >= end) return;
  if (!r.empty() && r.back().end >= begin) {
    r.back().end = std::max(r.back().end, end);
    return;
  }
  r.push_back({begin, end});
}

// A block reading `ranges` (sorted, possibly touching: merged here).
void AddBlock(BlockSparseLayout& y, int begin, int end, const std::vector<KeyRange>& ranges) {
  QueryBlock qb;
  qb.begin = begin;
  qb.end = end;
  qb.range_begin = static_cast<int>(y.ranges.size());
  std::vector<KeyRange> merged;
  for (const KeyRange& r : ranges) AddRange(merged, r.begin, r.end);
  y.ranges.insert(y.ranges.end(), merged.begin(), merged.end());
  qb.range_end = static_cast<int>(y.ranges.size());
  y.blocks.push_back(qb);
}

void CheckShape(const BlockSparseShape& s, const BlockSparsePattern& pat, float rate) {
  ABSL_RAW_CHECK(s.batch >= 1 && s.length >= 1 && s.heads >= 1 && s.head_dim >= 1,
                 "BlockSparseAttention: batch, length, heads and head_dim must be >= 1");
  ABSL_RAW_CHECK(rate >= 0.0f && rate < 1.0f,
                 "BlockSparseAttention: dropout rate must be in [0, 1)");
  ABSL_RAW_CHECK(!pat.layouts.empty(), "BlockSparseAttention: the pattern has no layout");
  ABSL_RAW_CHECK(pat.layout_of.empty() ||
                     static_cast<int64_t>(pat.layout_of.size()) ==
                         static_cast<int64_t>(s.batch) * s.heads,
                 "BlockSparseAttention: layout_of must be empty or hold batch * heads indices");
  for (int x : pat.layout_of)
    ABSL_RAW_CHECK(x >= 0 && x < static_cast<int>(pat.layouts.size()),
                   "BlockSparseAttention: layout_of index out of range");
  for (const BlockSparseLayout& y : pat.layouts)
    ABSL_RAW_CHECK(y.key_begin.size() == y.blocks.size() + 1 && y.length == s.length,
                   "BlockSparseAttention: a layout is not Finalized for this length");
}

void CheckLengths(const BlockSparseShape& s, const int* lengths) {
  if (lengths == nullptr) return;
  for (int b = 0; b < s.batch; ++b)
    ABSL_RAW_CHECK(lengths[b] >= 0 && lengths[b] <= s.length,
                   "BlockSparseAttention: lengths[b] must lie in [0, L]");
}

// One (batch, head, block) task.
struct Task {
  int b = 0, h = 0, k = 0;  // batch, head, block index in *y
  const BlockSparseLayout* y = nullptr;
  int64_t saved = 0;        // offset of the slice's saved probabilities
};

struct Slice {
  int b = 0, h = 0;
  const BlockSparseLayout* y = nullptr;
  int64_t saved = 0;
};

std::vector<Slice> Slices(const BlockSparseShape& s, const BlockSparsePattern& pat) {
  std::vector<Slice> out(static_cast<size_t>(s.batch) * s.heads);
  int64_t off = 0;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads; ++h) {
      const int64_t bh = int64_t{b} * s.heads + h;
      const BlockSparseLayout& y = pat.layouts[pat.layout_of.empty() ? 0 : pat.layout_of[bh]];
      out[bh] = {b, h, &y, off};
      off += y.saved_begin.back();
    }
  return out;
}

std::vector<Task> Tasks(const std::vector<Slice>& slices) {
  std::vector<Task> t;
  for (const Slice& sl : slices)
    for (int k = 0; k < static_cast<int>(sl.y->blocks.size()); ++k)
      t.push_back({sl.b, sl.h, k, sl.y, sl.saved});
  return t;
}

// The per-block work shared by forward and backward.
class BlockWork {
 public:
  BlockWork(const BlockSparseShape& s, const Task& t)
      : s_(s), t_(t), y_(*t.y), qb_(y_.blocks[t.k]) {
    stride_ = int64_t{s.heads} * s.head_dim;
    base_ = static_cast<int64_t>(t.b) * s.length * stride_ + int64_t{t.h} * s.head_dim;
    nq_ = qb_.end - qb_.begin;
    nk_ = static_cast<int>(y_.key_begin[t.k + 1] - y_.key_begin[t.k]);
    kp_ = y_.key_pos.data() + y_.key_begin[t.k];
    single_ = qb_.range_end - qb_.range_begin == 1;
    p_ = t.saved + y_.saved_begin[t.k];
  }
  int nq() const { return nq_; }
  int nk() const { return nk_; }
  int64_t saved_offset() const { return p_; }
  // [nq, d] rows of a [B, L, heads, d] array.
  ConstMatView Rows(const float* x) const {
    return View(x + base_ + int64_t{qb_.begin} * stride_, nq_, s_.head_dim, stride_);
  }
  MatView Rows(float* x) const {
    return View(x + base_ + int64_t{qb_.begin} * stride_, nq_, s_.head_dim, stride_);
  }
  // [nk, d]: the kept key rows of x, in place (one range) or gathered into buf.
  ConstMatView Keys(const float* x, std::vector<float>& buf) const {
    const int d = s_.head_dim;
    if (single_)
      return View(x + base_ + int64_t{kp_[0]} * stride_, nk_, d, stride_);
    buf.resize(static_cast<size_t>(nk_) * d);
    for (int c = 0; c < nk_; ++c)
      std::memcpy(buf.data() + int64_t{c} * d, x + base_ + int64_t{kp_[c]} * stride_,
                  sizeof(float) * d);
    return View(static_cast<const float*>(buf.data()), nk_, d, d);
  }
  // x[kept key rows] += g ([nk, d]).
  void AddToKeys(const RowMat& g, float* x) const {
    const int d = s_.head_dim;
    if (single_) {
      View(x + base_ + int64_t{kp_[0]} * stride_, nk_, d, stride_) += g;
      return;
    }
    for (int c = 0; c < nk_; ++c) {
      float* dst = x + base_ + int64_t{kp_[c]} * stride_;
      for (int e = 0; e < d; ++e) dst[e] += g(c, e);
    }
  }
  // Is key column c kept for row r by the element rule?
  bool Keep(int r, int c) const {
    if (!y_.has_rule) return true;
    const int i = qb_.begin + r, j = kp_[c];
    return i < y_.global || j < y_.global || (j - i >= y_.band_lo && j - i <= y_.band_hi);
  }
  // pd = p o M / (1 - p) over the block ([nq, nk], row stride nk).
  void Dropped(const WindowDropout& drop, const float* p, float* pd) const {
    std::vector<float> f(nk_);
    for (int r = 0; r < nq_; ++r) {
      int c0 = 0;
      for (int x = qb_.range_begin; x < qb_.range_end; ++x) {
        const KeyRange& kr = y_.ranges[x];
        drop.Row(t_.b, t_.h, qb_.begin + r, kr.begin, kr.end - kr.begin, f.data() + c0);
        c0 += kr.end - kr.begin;
      }
      for (int c = 0; c < nk_; ++c)
        pd[int64_t{r} * nk_ + c] = p[int64_t{r} * nk_ + c] * f[c];
    }
  }
  int Query(int r) const { return qb_.begin + r; }
  int KeyPos(int c) const { return kp_[c]; }
  MaskedQuery masked() const { return y_.masked; }

 private:
  const BlockSparseShape& s_;
  const Task& t_;
  const BlockSparseLayout& y_;
  const QueryBlock& qb_;
  int64_t stride_ = 0, base_ = 0, p_ = 0;
  int nq_ = 0, nk_ = 0;
  const int* kp_ = nullptr;
  bool single_ = false;
};

// Rows of the slice in no block get 0 (out or dq).
void ZeroUncovered(const BlockSparseShape& s, const std::vector<Slice>& slices, float* x) {
  const int64_t stride = int64_t{s.heads} * s.head_dim;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < static_cast<int64_t>(slices.size()); ++t) {
    const Slice& sl = slices[t];
    if (sl.y->covered_rows == s.length) continue;
    std::vector<char> covered(s.length, 0);
    for (const QueryBlock& qb : sl.y->blocks)
      std::fill(covered.begin() + qb.begin, covered.begin() + qb.end, 1);
    for (int i = 0; i < s.length; ++i)
      if (!covered[i])
        std::fill_n(x + (int64_t{sl.b} * s.length + i) * stride + int64_t{sl.h} * s.head_dim,
                    s.head_dim, 0.0f);
  }
}

}  // namespace

void Finalize(int length, BlockSparseLayout* y) {
  ABSL_RAW_CHECK(length >= 1, "BlockSparseLayout: length must be >= 1");
  y->length = length;
  y->key_pos.clear();
  y->key_begin.assign(1, 0);
  y->saved_begin.assign(1, 0);
  y->covered_rows = 0;
  std::vector<int> rows(length, 0), reads(length, 0);
  for (const QueryBlock& qb : y->blocks) {
    ABSL_RAW_CHECK(qb.begin >= 0 && qb.begin < qb.end && qb.end <= length,
                   "BlockSparseLayout: a block's rows must be a non-empty part of [0, L)");
    ABSL_RAW_CHECK(qb.range_begin >= 0 && qb.range_begin < qb.range_end &&
                       qb.range_end <= static_cast<int>(y->ranges.size()),
                   "BlockSparseLayout: a block must have at least one range of the layout");
    for (int i = qb.begin; i < qb.end; ++i)
      ABSL_RAW_CHECK(rows[i]++ == 0, "BlockSparseLayout: blocks overlap");
    int prev_end = 0;
    for (int x = qb.range_begin; x < qb.range_end; ++x) {
      const KeyRange& r = y->ranges[x];
      ABSL_RAW_CHECK(r.begin >= 0 && r.begin < r.end && r.end <= length && r.begin >= prev_end,
                     "BlockSparseLayout: a block's ranges must be sorted, disjoint, non-empty "
                     "and inside [0, L)");
      prev_end = r.end;
      for (int j = r.begin; j < r.end; ++j) {
        y->key_pos.push_back(j);
        ++reads[j];
      }
    }
    y->key_begin.push_back(static_cast<int64_t>(y->key_pos.size()));
    const int64_t nk = y->key_begin.back() - y->key_begin[y->key_begin.size() - 2];
    y->saved_begin.push_back(y->saved_begin.back() + int64_t{qb.end - qb.begin} * nk);
    y->covered_rows += qb.end - qb.begin;
  }
  y->disjoint_keys = std::all_of(reads.begin(), reads.end(), [](int n) { return n <= 1; });
  y->has_rule = y->band_lo > -(length - 1) || y->band_hi < length - 1;
}

int64_t BlockSparseSavedFloats(const BlockSparseShape& s, const BlockSparsePattern& pat) {
  int64_t n = 0;
  for (const Slice& sl : Slices(s, pat)) n += sl.y->saved_begin.back();
  return n;
}

void BlockSparseAttentionForward(const BlockSparseShape& s, const BlockSparsePattern& pat,
                                 const float* q, const float* k, const float* v,
                                 const int* lengths, const uint8_t* mask, float dropout_rate,
                                 uint64_t dropout_seed, float* out, float* saved) {
  CheckShape(s, pat, dropout_rate);
  CheckLengths(s, lengths);
  const WindowDropout drop(dropout_rate, dropout_seed);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const std::vector<Slice> slices = Slices(s, pat);
  const std::vector<Task> tasks = Tasks(slices);
  ZeroUncovered(s, slices, out);
#pragma omp parallel for schedule(dynamic)
  for (int64_t t = 0; t < static_cast<int64_t>(tasks.size()); ++t) {
    const BlockWork w(s, tasks[t]);
    const int b = tasks[t].b, nq = w.nq(), nk = w.nk();
    const int len = lengths ? lengths[b] : s.length;
    const uint8_t* m = mask ? mask + static_cast<int64_t>(b) * s.length : nullptr;
    auto valid = [&](int x) { return x < len && (!m || m[x]); };
    std::vector<float> kbuf, vbuf;
    float* p = saved + w.saved_offset();
    View(p, nq, nk, nk).noalias() = scale * w.Rows(q) * w.Keys(k, kbuf).transpose();
    for (int r = 0; r < nq; ++r) {
      float* row = p + static_cast<int64_t>(r) * nk;
      float mx = -INFINITY;
      bool any = false;
      if (valid(w.Query(r)))
        for (int c = 0; c < nk; ++c)
          if (w.Keep(r, c) && valid(w.KeyPos(c))) {
            mx = std::max(mx, row[c]);
            any = true;
          }
      if (!any) {  // masked query, or no valid kept key: flax's uniform row, or 0 (kZero)
        int kept = 0;
        for (int c = 0; c < nk; ++c) kept += w.Keep(r, c);
        const float u = w.masked() == MaskedQuery::kUniform ? 1.0f / kept : 0.0f;
        for (int c = 0; c < nk; ++c) row[c] = w.Keep(r, c) ? u : 0.0f;
        continue;
      }
      float z = 0;
      for (int c = 0; c < nk; ++c)
        z += row[c] = w.Keep(r, c) && valid(w.KeyPos(c)) ? std::exp(row[c] - mx) : 0.0f;
      const float inv = 1.0f / z;
      for (int c = 0; c < nk; ++c) row[c] *= inv;
    }
    const ConstMatView vv = w.Keys(v, vbuf);
    if (drop.on) {
      std::vector<float> pd(static_cast<size_t>(nq) * nk);
      w.Dropped(drop, p, pd.data());
      w.Rows(out).noalias() = View(static_cast<const float*>(pd.data()), nq, nk, nk) * vv;
    } else {
      w.Rows(out).noalias() = View(static_cast<const float*>(p), nq, nk, nk) * vv;
    }
  }
}

void BlockSparseAttentionBackward(const BlockSparseShape& s, const BlockSparsePattern& pat,
                                  const float* q, const float* k, const float* v,
                                  const int* lengths, const uint8_t* mask, float dropout_rate,
                                  uint64_t dropout_seed, const float* saved, const float* dout,
                                  float* dq, float* dk, float* dv) {
  CheckShape(s, pat, dropout_rate);
  CheckLengths(s, lengths);
  (void)mask;  // the saved probabilities carry the mask and the pattern
  const WindowDropout drop(dropout_rate, dropout_seed);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const int d = s.head_dim;
  const std::vector<Slice> slices = Slices(s, pat);
  const std::vector<Task> tasks = Tasks(slices);
  const int64_t size = static_cast<int64_t>(s.batch) * s.length * s.heads * d;
  std::fill_n(dk, size, 0.0f);
  std::fill_n(dv, size, 0.0f);
  ZeroUncovered(s, slices, dq);
  auto run = [&](const Task& task) {
    const BlockWork w(s, task);
    const int nq = w.nq(), nk = w.nk();
    const float* p_ptr = saved + w.saved_offset();
    const ConstMatView p = View(p_ptr, nq, nk, nk);
    std::vector<float> pd_buf, kbuf, vbuf;
    const float* pd_ptr = p_ptr;
    if (drop.on) {
      pd_buf.resize(static_cast<size_t>(nq) * nk);
      w.Dropped(drop, p_ptr, pd_buf.data());
      pd_ptr = pd_buf.data();
    }
    const ConstMatView pd = View(pd_ptr, nq, nk, nk);  // P~ = P o M / (1 - p)
    const ConstMatView go = w.Rows(dout);
    RowMat g = pd.transpose() * go;
    w.AddToKeys(g, dv);
    // dP~ = dO V^T; D_i = sum_j P~_ij dP~_ij; dS = P~ o dP~ - P o D.
    RowMat ds = go * w.Keys(v, vbuf).transpose();
    for (int r = 0; r < nq; ++r) {
      float di = 0;
      for (int c = 0; c < nk; ++c) di += pd(r, c) * ds(r, c);
      for (int c = 0; c < nk; ++c) ds(r, c) = pd(r, c) * ds(r, c) - p(r, c) * di;
    }
    w.Rows(dq).noalias() = scale * ds * w.Keys(k, kbuf);
    g.noalias() = scale * ds.transpose() * w.Rows(q);
    w.AddToKeys(g, dk);
  };
  bool disjoint = true;
  for (const Slice& sl : slices) disjoint = disjoint && sl.y->disjoint_keys;
  if (disjoint) {
#pragma omp parallel for schedule(dynamic)
    for (int64_t t = 0; t < static_cast<int64_t>(tasks.size()); ++t) run(tasks[t]);
    return;
  }
  // Blocks of one slice share keys: one slice per thread, its blocks in order.
  std::vector<int64_t> first(slices.size() + 1, 0);
  for (size_t x = 0, t = 0; x < slices.size(); ++x) {
    first[x] = static_cast<int64_t>(t);
    t += slices[x].y->blocks.size();
    first[x + 1] = static_cast<int64_t>(t);
  }
#pragma omp parallel for schedule(dynamic)
  for (int64_t x = 0; x < static_cast<int64_t>(slices.size()); ++x)
    for (int64_t t = first[x]; t < first[x + 1]; ++t) run(tasks[t]);
}

BlockSparseLayout LocalLayout(int length, int block) {
  ABSL_RAW_CHECK(length >= 1 && block >= 1, "LocalLayout: length and block must be >= 1");
  BlockSparseLayout y;
  for (int i = 0; i < length; i += block) {
    const int e = std::min(i + block, length);
    AddBlock(y, i, e, {{i, e}});
  }
  Finalize(length, &y);
  return y;
}

BlockSparseLayout SparseFixedLayout(int length, int block, int c, bool cls_global) {
  ABSL_RAW_CHECK(length >= 1 && block >= 1 && c >= 0,
                 "SparseFixedLayout: length and block must be >= 1, c >= 0");
  BlockSparseLayout y;
  const int off = cls_global ? 1 : 0;
  if (cls_global) AddBlock(y, 0, 1, {{0, length}});
  const int n = length - off;             // positions of the released mask
  const int summary = std::max(1, block - c);  // remainders >= block - c are summary columns
  for (int m = 0; m * block < n; ++m) {
    std::vector<KeyRange> r;
    if (cls_global) r.push_back({0, 1});
    for (int e = 0; e < m; ++e) {  // Fixed2: remainder 0 and remainders >= block - c
      r.push_back({off + e * block, off + e * block + 1});
      r.push_back({off + e * block + summary, off + (e + 1) * block});
    }
    const int end = off + std::min((m + 1) * block, n);
    r.push_back({off + m * block, end});  // Fixed1, trimmed by the causal rule
    AddBlock(y, off + m * block, end, r);
  }
  y.global = off;
  y.band_hi = 0;  // causal: j <= i
  Finalize(length, &y);
  return y;
}

BlockSparseLayout LongformerLayout(int length, int window, int global, int query_block) {
  ABSL_RAW_CHECK(length >= 1 && window >= 1 && global >= 0 && query_block >= 1,
                 "LongformerLayout: length, window, query_block must be >= 1, global >= 0");
  BlockSparseLayout y;
  const int right = window / 2, left = window - right;  // left counts the query itself
  const int g = std::min(global, length);
  if (g > 0) AddBlock(y, 0, g, {{0, length}});
  for (int i = g; i < length; i += query_block) {
    const int e = std::min(i + query_block, length);
    AddBlock(y, i, e, {{0, g}, {std::max(g, i - (left - 1)), std::min(length, e + right)}});
  }
  y.global = g;
  y.band_lo = -(left - 1);
  y.band_hi = right;
  Finalize(length, &y);
  return y;
}

BlockSparseLayout BigBirdLayout(int length, int n, int block,
                                const std::vector<std::vector<int>>& random) {
  ABSL_RAW_CHECK(length >= 1 && n >= 0 && n <= length && block >= 1,
                 "BigBirdLayout: need length, block >= 1 and 0 <= n <= length");
  BlockSparseLayout y;
  y.masked = MaskedQuery::kZero;
  const int nb = (n + block - 1) / block;
  for (int i = 0; i < nb; ++i) {
    const int e = std::min((i + 1) * block, n);
    if (i == 0 || i == nb - 1) {
      AddBlock(y, i * block, e, {{0, n}});
      continue;
    }
    std::vector<int> blocks = {0, i - 1, i, i + 1, nb - 1};
    if (i < static_cast<int>(random.size()))
      for (int x : random[i]) {
        ABSL_RAW_CHECK(x >= 0 && x < nb, "BigBirdLayout: a random block is out of range");
        blocks.push_back(x);
      }
    std::sort(blocks.begin(), blocks.end());
    blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
    std::vector<KeyRange> r;
    for (int x : blocks) r.push_back({x * block, std::min((x + 1) * block, n)});
    AddBlock(y, i * block, e, r);
  }
  Finalize(length, &y);
  return y;
}

std::vector<std::vector<int>> BigBirdRandomBlocks(int nb, int block, int num_rand, uint64_t seed,
                                                  int head) {
  ABSL_RAW_CHECK(nb >= 0 && block >= 1 && num_rand >= 0 && head >= 0,
                 "BigBirdRandomBlocks: need nb, num_rand, head >= 0 and block >= 1");
  std::vector<std::vector<int>> out(std::max(nb, 0));
  const int last_idx = std::min(nb * block, 1024);
  const int last = last_idx > 2 * block ? last_idx / block - 1 : nb - 1;
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int i = 1; i + 1 < nb; ++i) {
    std::vector<int> cand;
    if (i >= 3 && i == nb - 3) {
      for (int x = 1; x <= last - 4; ++x) cand.push_back(x);
    } else if (i >= 3 && i == nb - 2) {
      for (int x = 1; x <= last - 3; ++x) cand.push_back(x);
    } else {
      for (int x = 1; x <= std::min(last, nb - 2); ++x)
        if (x < i - 1 || x > i + 1) cand.push_back(x);
    }
    const int take = std::min<int>(num_rand, static_cast<int>(cand.size()));
    for (int t = 0; t < take; ++t) {  // Fisher-Yates, the first `take` steps
      uint32_t w[4];
      Philox4x32(static_cast<uint32_t>(t), static_cast<uint32_t>(i), static_cast<uint32_t>(head),
                 static_cast<uint32_t>(nb), k0, k1, w[0], w[1], w[2], w[3]);
      const uint64_t u = (uint64_t{w[0]} << 32) | w[1];
      const int pick = t + static_cast<int>(u % static_cast<uint64_t>(cand.size() - t));
      std::swap(cand[t], cand[pick]);
    }
    out[i].assign(cand.begin(), cand.begin() + take);
  }
  return out;
}

}  // namespace kernels
}  // namespace lra

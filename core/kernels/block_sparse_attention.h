// Block-sparse multi-head attention, forward and backward: each (batch, head) slice has a
// layout that cuts the query positions into blocks and gives every block the key ranges it may
// read; only those (query block x key ranges) tiles are ever formed, so time and memory are
// O(sum over blocks of rows x keys) per (batch, head): linear in L when every block reads a
// fixed number of keys. One kernel serves the patterns of LRA's efficient Transformers
// (google-research/long-range-arena cd31e5c, lra_benchmarks/models/), built below:
//   LocalLayout      models/local:   each window of `block` positions reads itself;
//   SparseFixedLayout models/sparse_transformer: the causal "fixed" pattern (own block + the
//                    summary columns of every earlier block) of sparse_attention.py;
//   LongformerLayout models/longformer: a sliding window of `window` keys around each query
//                    plus leading global tokens that read and are read by every position;
//   BigBirdLayout    models/bigbird: blocks reading their neighbours, the first and last
//                    blocks (global) and `num_rand` random blocks, as bigbird_attention.py.
// Each builder's comment cites the released pattern; *_test.cc checks every layout's kept
// (query, key) set against that pattern written as a dense predicate.
//
// Semantics, per (b, head) with layout Y, scale = 1/sqrt(d). Key j is *kept* for query i when
// i lies in a block of Y, j lies in one of that block's ranges, and Y's element rule holds:
//   i < Y.global or j < Y.global or Y.band_lo <= j - i <= Y.band_hi.
// Position t of batch b is valid when t < lengths[b] and (mask null or mask[b * L + t] != 0).
//   A valid query i with at least one valid kept key: out_i = sum_{kept valid j} softmax_j(s_i)
//     v_j, s_ij = scale <q_i, k_j> (flax's -1e10 bias on every other key, which rounds its
//     probability to 0).
//   Any other query i in a block (masked, or no valid kept key), by Y.masked:
//     kUniform: out_i = the mean of v_j over its kept keys, valid or not (flax's uniform row of
//       a fully masked query, restricted to the pattern: what local attention computes within
//       its window); backward as flax's autodiff, dS_ij = P_ij (dP_ij - D_i), P_ij = 1/|kept|.
//     kZero: out_i = 0 and no gradient (bigbird_attention.py multiplies masked query rows by 0:
//       `context_layer * seq_m_pad`, band_start_block_rand_multi_attention_pad).
//   A query in no block: out_i = 0, no gradient.
// With LocalLayout this is core/kernels/local_attention.h exactly (same operations in the same
// order); with one block reading [0, L) it is core/kernels/attention.h's dense attention.
// Dropout (rate p in [0, 1)): core/kernels/attention.h's mask, a pure function of (seed, b,
// head, i, j) for global positions i, j (Philox4x32-10, counter (j / 4, i, head, b), key (seed
// low, seed high), word j % 4; kept iff word >= round(p 2^32)), regenerated in backward; so
// every layout drops the same (i, j) as dense attention would.
//
// Layouts: q, k, v, out and their gradients [B, L, heads, d] row-major (a [B*L, heads*d]
// projection). Saved state: the undropped probabilities of every block, rows x (keys in its
// ranges) floats, concatenated over blocks and (b, head): BlockSparseSavedFloats.
//
// Threads: OpenMP over (batch, head, block) in forward, and in backward when no key is read by
// two blocks of a layout (local); otherwise backward runs over (batch, head) with the blocks of
// one slice in order (their dk/dv contributions overlap). Inside a task the products are Eigen
// GEMMs on in-place strided views (one contiguous range) or on gathered copies of the kept
// key and value rows (several ranges), single-threaded inside the parallel region.
#ifndef LRA_CORE_KERNELS_BLOCK_SPARSE_ATTENTION_H_
#define LRA_CORE_KERNELS_BLOCK_SPARSE_ATTENTION_H_

#include <cstdint>
#include <limits>
#include <vector>

namespace lra {
namespace kernels {

struct KeyRange {
  int begin = 0, end = 0;  // key positions [begin, end)
};

// Query rows [begin, end) reading ranges[range_begin, range_end) of the layout.
struct QueryBlock {
  int begin = 0, end = 0;
  int range_begin = 0, range_end = 0;
};

enum class MaskedQuery { kUniform, kZero };

// The pattern of one (batch, head) slice. Build with the builders below or fill `blocks` and
// `ranges` and call Finalize.
struct BlockSparseLayout {
  std::vector<QueryBlock> blocks;  // disjoint query rows, each inside [0, L)
  std::vector<KeyRange> ranges;    // per block: sorted, disjoint, non-empty, inside [0, L)
  // Element rule (see the file comment); the defaults keep every key of the ranges.
  int global = 0;
  int band_lo = std::numeric_limits<int>::min() / 2;
  int band_hi = std::numeric_limits<int>::max() / 2;
  MaskedQuery masked = MaskedQuery::kUniform;

  // Derived by Finalize.
  int length = 0;                   // L it was Finalized for
  std::vector<int> key_pos;         // the keys of block k: key_pos[key_begin[k] ...]
  std::vector<int64_t> key_begin;   // [blocks + 1]
  std::vector<int64_t> saved_begin; // [blocks + 1]: floats of saved probabilities
  int64_t covered_rows = 0;         // sum of block rows
  bool disjoint_keys = true;        // no key position read by two blocks
  bool has_rule = false;            // the element rule can drop a key of some range
};

// Checks the layout against length L (aborts with a message on a malformed one) and fills the
// derived fields.
void Finalize(int length, BlockSparseLayout* layout);

struct BlockSparseShape {
  int batch = 0;     // B >= 1
  int length = 0;    // L >= 1
  int heads = 0;     // >= 1
  int head_dim = 0;  // d >= 1
};

// Which layout each (b, head) slice uses: layouts[layout_of[b * heads + h]] (layout_of empty:
// layouts[0] for every slice). Every layout must be Finalized for shape.length.
struct BlockSparsePattern {
  std::vector<BlockSparseLayout> layouts;
  std::vector<int> layout_of;
};

// Floats of `saved` that BlockSparseAttentionForward writes.
int64_t BlockSparseSavedFloats(const BlockSparseShape& shape, const BlockSparsePattern& pattern);

// out = block-sparse attention(q, k, v); out and saved are overwritten. lengths [B] (each in
// [0, L]) and mask [B, L] may be null. dropout_rate in [0, 1); dropout_seed is the Philox key.
void BlockSparseAttentionForward(const BlockSparseShape& shape, const BlockSparsePattern& pattern,
                                 const float* q, const float* k, const float* v,
                                 const int* lengths, const uint8_t* mask, float dropout_rate,
                                 uint64_t dropout_seed, float* out, float* saved);

// OVERWRITES dq, dk, dv with the gradients of <out, dout>; `saved` is Forward's, for the same
// inputs, pattern, lengths, mask and dropout.
void BlockSparseAttentionBackward(const BlockSparseShape& shape, const BlockSparsePattern& pattern,
                                  const float* q, const float* k, const float* v,
                                  const int* lengths, const uint8_t* mask, float dropout_rate,
                                  uint64_t dropout_seed, const float* saved, const float* dout,
                                  float* dq, float* dk, float* dv);

// ---- The layouts of LRA's models (all Finalized for `length`).

// Windows [0, w), [w, 2w), ... (the last one shorter), each reading itself:
// core/kernels/local_attention.h (which says where it departs from LRA's strided reshape).
BlockSparseLayout LocalLayout(int length, int block);

// LRA's Sparse Transformer pattern (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/sparse_transformer/sparse_attention.py): build_mask ORs
// Fixed1Pattern(block) (query and key in the same block, lines 85-87) and Fixed2Pattern(block,
// c) (key position mod block is 0 or >= block - c, lines 88-91), both ANDed with the causal
// mask k <= q (line 94); train_utils.py lines 74-78 use block 50, c 10. With `cls_global`
// (SparseAttention's use_cls_token, lines 185-191: the mask is built over positions 1..L-1 and
// padded with ones in front) position 0 reads every key and every query reads it. Here: one
// query block per Fixed1 block, reading the summary columns of every earlier block and its own
// block, causal as the element rule (band_hi = 0). The kept set equals the released mask; the
// keys per query grow as L c / block (the pattern's own cost, quadratic in L with factor
// (c + 1) / (2 block)).
BlockSparseLayout SparseFixedLayout(int length, int block, int c, bool cls_global);

// LRA's Longformer pattern (lra_benchmarks/models/longformer/longformer_attention.py
// _build_sliding_window_mask, lines 42-66): query i reads keys i - (w - w/2) + 1 ... i + w/2
// (the left side, itself included, gets the extra key when w is even), OR-ed with the global
// mask (_build_global_mask, lines 28-39: a global position reads and is read by every
// position). Global positions here are the leading `global` ones (LRA passes a [B, L] mask,
// None by default: no global position). Query blocks of `query_block` rows read the union of
// their rows' windows, the band is the element rule; the kept set equals the released mask.
BlockSparseLayout LongformerLayout(int length, int window, int global, int query_block);

// LRA's BigBird pattern (lra_benchmarks/models/bigbird/bigbird_attention.py
// band_start_block_rand_multi_attention_pad, lines 130-314) over the nb = ceil(n / block)
// blocks of an example of n valid positions (n <= length; rows at or past n belong to no block,
// so their output is 0 as the released code's masked rows): blocks 0 and nb - 1 read every
// key [0, n) (first_product / last_product) and every block reads them; block i in between
// reads blocks i - 1, i, i + 1 (the band) and random[i] (rand_attn). masked = kZero.
// random: one list per block (empty for the first and last), block indices.
BlockSparseLayout BigBirdLayout(int length, int n, int block,
                                const std::vector<std::vector<int>>& random);

// The random blocks of bigbird_attention.py get_block_rand_mask (lines 24-66) for nb blocks:
// block i (1 <= i <= nb - 2) draws min(r, |C_i|) distinct blocks uniformly from its candidates
// C_i = {1 .. min(last, nb - 2)} minus {i - 1, i, i + 1} (the non-global blocks outside its
// band), except C_{nb-3} = {1 .. last - 4} and C_{nb-2} = {1 .. last - 3} (the code's special
// rows, taken only for i >= 3 as the code tests i == 1 and i == 2 first), where last =
// min(nb block, 1024) / block - 1 when min(nb block, 1024) > 2 block and nb - 1 otherwise
// (lines 43-45; sparse_dot_product_attention passes last_idx = min(seq_length, 1024), line
// 375, so beyond 1024 positions random blocks come from the first 1024 only). The
// draws: LRA seeds numpy with the layer's connectivity_seed, which BigBirdEncoder sets to the
// layer index (bigbird.py line 207; sparse_dot_product_attention line 366), and draws every
// head's rows in turn (lines 367-376): fixed per layer and head, never redrawn, the same in
// every run. Here a pure function of (seed, head, nb, i): a Fisher-Yates shuffle driven by
// Philox4x32-10 with key `seed` and counter (step, i, head, nb); models/bigbird passes the
// layer index as `seed`.
std::vector<std::vector<int>> BigBirdRandomBlocks(int nb, int block, int num_rand, uint64_t seed,
                                                  int head);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_BLOCK_SPARSE_ATTENTION_H_

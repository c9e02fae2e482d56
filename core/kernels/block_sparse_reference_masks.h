// Test-only: the attention patterns of LRA's Sparse Transformer, Longformer and BigBird as dense
// predicates over (query i, key j), written from the released masks
// (google-research/long-range-arena cd31e5c), independently of the layout builders of
// core/kernels/block_sparse_attention.h: the kernel test checks every layout's kept set against
// them, and the models' golden references (models/transformer/reference_model.h) attend with
// them.
#ifndef LRA_CORE_KERNELS_BLOCK_SPARSE_REFERENCE_MASKS_H_
#define LRA_CORE_KERNELS_BLOCK_SPARSE_REFERENCE_MASKS_H_

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace lra {
namespace kernels {
namespace reference {

// sparse_attention.py build_mask(Fixed1Pattern(block), Fixed2Pattern(block, c)), each ANDed
// with k <= q (lines 63-95), over positions 1.. padded with ones in front when use_cls_token
// (lines 185-191).
inline bool SparseMask(int i, int j, int block, int c, bool cls) {
  if (cls) {
    if (i == 0 || j == 0) return true;
    --i;
    --j;
  }
  const bool fixed1 = i / block == j / block;
  const int rem = j % block;
  const bool fixed2 = rem == 0 || rem >= block - c;
  return j <= i && (fixed1 || fixed2);
}

// longformer_attention.py _build_sliding_window_mask OR _build_global_mask (lines 28-66), the
// global positions being the first `global`.
inline bool LongformerMask(int i, int j, int window, int global) {
  const int right = window / 2, left = window - right;
  const bool band = (i - j >= 0 && i - j < left) || (j - i >= 1 && j - i <= right);
  return band || i < global || j < global;
}

// bigbird_attention.py band_start_block_rand_multi_attention_pad over an example of n positions:
// the first and last block rows read all n keys, the others read blocks 0, i-1, i, i+1, nb-1
// and their random blocks rnd[block of i]; nothing at or past n.
inline bool BigBirdMask(int i, int j, int n, int block, const std::vector<std::vector<int>>& rnd) {
  if (i >= n || j >= n) return false;
  const int nb = (n + block - 1) / block, bi = i / block, bj = j / block;
  if (bi == 0 || bi == nb - 1) return true;
  if (bj == 0 || bj == nb - 1 || std::abs(bj - bi) <= 1) return true;
  return std::count(rnd[bi].begin(), rnd[bi].end(), bj) > 0;
}

}  // namespace reference
}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_BLOCK_SPARSE_REFERENCE_MASKS_H_

// LSH attention (Kitaev et al. 2020, "Reformer: The Efficient Transformer", arXiv 2001.04451)
// as LRA's `reformer` model uses it (google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/reformer/reformer_attention.py lsh_attention_single_head): shared
// query/key vectors x, angular LSH buckets, a sort by bucket, attention inside chunks of the
// sorted sequence and the chunk before, and the hash rounds combined by their logsumexp.
//
// Per (b, head), with len = lengths[b] (positions past it take no part) and N = n_hashes * len:
//   hashing, round r < n_hashes: bucket_r(t) = argmax over [x_t R_r, -x_t R_r] (n_buckets
//     entries, the first on ties; R [d, n_hashes, n_buckets / 2] fixed rotations, the caller's),
//     for t < len;
//   sort: the N items (r, t) by (r n_buckets + bucket_r(t), t) (LRA's key
//     seqlen * (bucket + r n_buckets) + t);
//   chunks: the sorted items cut into chunks of `chunk` items (the last one shorter); the items
//     of chunk m attend to the items of chunk m and of chunk m - 1 (chunk 0: the last chunk,
//     LRA's circular look_one_back; no look-back when there is one chunk only);
//   scores s = <x_t, x_t'> / sqrt(d) for candidate items (r', t');
//   position t valid: t < len and (mask null or mask[b * L + t] != 0);
//   valid query item (r, t): p = softmax of s over the valid candidates (t itself always is
//     one), o_r(t) = sum p v_t', lse_r(t) = logsumexp of those s;
//   masked query item: uniform over its candidates, lse_r(t) = log(#candidates), no gradient
//     through its scores (LRA masks nothing; a masked query here only reads values);
//   out_t = sum_r softmax_r(lse_r(t)) o_r(t) for t < len; 0 past the length.
// The bucket assignment and the sort are not differentiated (LRA's stop_gradient); the
// gradients are those of the formulas above with the buckets fixed.
// Time per (b, head): O(N d n_buckets) hashing, O(N log N) sorting, O(N 2 chunk d) attention:
// linear in L for a fixed chunk. Saved: the sort order (int32 [B, heads, n_hashes L]) and the
// probabilities (float [B, heads, n_hashes L, 2 chunk]), o and lse (float [B, heads, n_hashes,
// L, d] and [B, heads, n_hashes, L]).
// Layouts: x, v, out and their gradients [B, L, heads, d] row-major. Threads: OpenMP over
// (batch, head); each chunk's scores, outputs and gradients are Eigen GEMMs on its rows, gathered
// contiguous (single-threaded inside the parallel region).
#ifndef LRA_CORE_KERNELS_LSH_ATTENTION_H_
#define LRA_CORE_KERNELS_LSH_ATTENTION_H_

#include <cstdint>
#include <vector>

namespace lra {
namespace kernels {

struct LshShape {
  int batch = 0;      // B >= 1
  int length = 0;     // L >= 1
  int heads = 0;      // >= 1
  int head_dim = 0;   // d >= 1
  int n_hashes = 1;   // >= 1
  int n_buckets = 2;  // even, >= 2
  int chunk = 1;      // >= 1
};

struct LshSaved {
  int32_t* order;  // B * heads * n_hashes * L
  float* p;        // B * heads * n_hashes * L * 2 chunk
  float* o;        // B * heads * n_hashes * L * d
  float* lse;      // B * heads * n_hashes * L
};

// Sizes of LshSaved's arrays.
int64_t LshOrderInts(const LshShape& s);
int64_t LshProbFloats(const LshShape& s);
int64_t LshOutFloats(const LshShape& s);
int64_t LshLseFloats(const LshShape& s);

// The buckets [B, heads, n_hashes, L] (-1 past the length): the hashing step alone, for tests.
std::vector<int32_t> LshBuckets(const LshShape& s, const float* x, const float* rotations,
                                const int* lengths);

// out = LSH attention(x, v); lengths [B] and mask [B, L] may be null. rotations
// [d, n_hashes, n_buckets / 2].
void LshAttentionForward(const LshShape& s, const float* x, const float* v, const float* rotations,
                         const int* lengths, const uint8_t* mask, float* out,
                         const LshSaved& saved);

// OVERWRITES dx, dv with the gradients of <out, dout> (buckets fixed); `saved` is Forward's.
void LshAttentionBackward(const LshShape& s, const float* x, const float* v, const int* lengths,
                          const uint8_t* mask, const LshSaved& saved, const float* dout, float* dx,
                          float* dv);

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_LSH_ATTENTION_H_

// Multi-head scaled dot-product attention, forward and backward, two exact implementations:
//
//   kDense   materialises the L x L probabilities per (batch, head), as the LRA Transformer
//            does, and keeps them for backward: B*heads*L*L floats of saved state.
//   kBlocked streams over key blocks with an online softmax (flash-attention style): saves only
//            the per-row logsumexp (B*heads*L floats) and recomputes scores blockwise in
//            backward. Memory is O(L) per (batch, head) beyond the inputs and outputs.
//
// Raw-pointer kernel: float arrays and int shapes, no tensor library.
//
// Layouts (row-major, contiguous): q, k, v, out and their gradients are [B, L, heads, d], which
// is what a [B*L, heads*d] projection produces, so no transpose is needed. The matrices of one
// (batch, head) are read in place with row stride heads*d.
//
// Semantics, per (b, head), with scale = 1/sqrt(d): those of flax's attention as the LRA
// Transformer calls it (google/flax v0.3.6 = 136f41a, the one release whose
// flax.deprecated.nn runs LRA's code; flax/deprecated/nn/attention.py, as flax/nn/attention.py
// in v0.2.2, MultiHeadDotProductAttention and dot_product_attention: the padding mask is
// `make_padding_mask(query mask, key mask)`, an outer product, turned into a bias of 0 or -1e10
// that is ADDED to the scores before the softmax; LRA passes the same `inputs > 0` mask for
// queries and keys, google-research/long-range-arena cd31e5c,
// lra_benchmarks/models/transformer/transformer.py TransformerEncoder).
//   Position t of batch b is valid when t < lengths[b] and (mask null or mask[b * L + t] != 0).
//   A valid query i attends to the valid keys j (j <= i if causal), which always include j = i:
//     out_i = sum_j softmax_j(s_i) v_j,  s_ij = scale * <q_i, k_j>.
//   An invalid (masked) query i has every score at -1e10 in fp32 (s_ij - 1e10 rounds to -1e10
//   for |s_ij| < 512, an ulp of 1e10 being 1024), so its softmax is uniform over ALL L keys,
//   padded, masked and (causal) future ones included:  out_i = (1/L) sum_{j < L} v_j.
//   Its backward is flax's autodiff, which differentiates through the added bias as if it
//   were not there: dS_ij = P_ij (dP_ij - D_i) with P_ij = 1/L, passed on to dq_i and every
//   dk_j (this is not the derivative of the rounded forward, which is constant in q and k).
//   Valid rows give 0 gradient to the keys they do not see. Only keys no row reads (j >=
//   lengths[b] when every query is valid) get dk = dv = 0.
// lengths may be null (no padding); otherwise lengths[b] must lie in [0, L]. mask ([B, L]
// bytes, null = none) marks further invalid positions, inside the length too: LRA's `inputs >
// 0` mask, which masks black pixels inside an image.
//
// Dropout (optional, rate p in [0, 1); p = 0 is off): the probabilities are dropped after the
// softmax, as flax's dot_product_attention does; every b draws its own mask, as LRA's
// TransformerBlock asks with broadcast_dropout=False (flax's default would share one),
//   out_i = sum_j M_ij P_ij / (1 - p) v_j,   M_ij in {0, 1}, P(M_ij = 1) = 1 - p,
// so E[out] is the undropped output. M is not stored: it is a pure function of (seed, b, head,
// i, j) (Philox4x32-10 of core/kernels/philox.h, counter (j / 4, i, head, b), key (seed low
// 32 bits, seed high 32 bits), output word j % 4; M_ij = 1 iff that word >= round(p 2^32)), so
// Backward regenerates the same M, and dense, blocked and every thread count draw the same
// mask. Backward uses D_i = <dO_i, O_i> = sum_j (M P / (1 - p))_ij dP~_ij, which holds for the
// dropped output, so the softmax backward keeps its one-pass form: dS = P~ o dP~ - P o D with
// P~ the dropped probabilities and dP~ = dO V^T. Cost when on: one Philox block per 4 probabilities,
// in forward and again in backward (vectorized), plus (dense) one R x L scratch block per
// thread for P~; measured 1.43x (dense) and 1.25x (blocked) the fwd+bwd time at L = 1K,
// B = 8, 4 heads, d = 32, p = 0.1 (seq_benchmark, 2 threads). A keys-only mask cost 1-9%
// (measured before masked queries took the uniform row; not re-measured).
//
// Threads: the loops over (batch, head) run under OpenMP; the GEMMs inside run single-threaded
// within the parallel region (no nested OpenMP teams): oneDNN's sgemm for kDense (which
// also works through each pair in blocks of query rows so P stays in L2) and for kBlocked's
// tiles; Eigen only for small element-wise steps.
//
// Register-tiled kBlocked (Tiled() below): on an AVX-512 CPU, with key_block 64 (the default)
// and head_dim a multiple of 16 up to 64, kBlocked computes each 64-key tile's products with
// AVX-512 micro-kernels (scores from a d-major copy of the keys, pre-multiplied by 1/sqrt(d), 6
// rows x 64 keys of accumulators; P V, dS K, P^T dO and dS^T Q as up to 13 rows x d
// accumulators with the probability tile read in place) and a vectorized masked softmax,
// instead of sgemm calls whose fixed cost dominated at 64 x 64 x d. Where every row of a query
// block sees every key of a tile unmasked (no key mask, inside the lengths, not past the
// causal diagonal), the row work is done in the score product's epilogue while the scores are
// still in registers: the forward's online softmax, the backward's P = exp(s - lse) and
// dS = P (dP - D). The forward raises a row's running max only when a tile passes it by more
// than 12 in log2 units (every term stays <= 2^12, so nothing overflows and the softmax is the
// same) and keeps the row sum as 16 lane-wise partial sums, so most rows skip the horizontal
// reductions and the rescaling. Same algorithm, same masking and dropout; results differ from the sgemm tiles
// by rounding only. The scores are formed in log2 units (the packed keys carry 1/sqrt(d) log2 e)
// so every exponential is a 2^x of 8 vector operations (round, subtract, vmath::Exp2Poly's
// degree-5 polynomial, vscalefps) instead of 13; the backward's P and dS epilogues start their
// accumulators at -lse and -D/sqrt(d) (the values packed times 1/sqrt(d)), so P = 2^acc and
// dS = P acc; `saved` stays the natural-log logsumexp. The operands the products read row by
// row (V in forward; Q, dO, K and the dQ accumulators in backward) are contiguous per-pair
// copies: read in place with the row stride heads d (512 bytes at 4 heads of 32), a 64-row tile
// fell into a sixteenth of L1's sets. Extra workspace, O(L): a d-major copy of K and a row copy
// of V (forward, all pairs: twice the size of k), and per thread one pair's d-major K and V and
// row copies of Q, dO, K and dQ (backward). Measured fwd+bwd (seq_benchmark CPU time, 1 thread,
// B = 8, 4 heads, d = 32, interleaved with the kernel before the log2 exponentials and the
// copies, load average 2.2-2.8 on 2 vCPUs): 159-166 ms against 170-184 at L = 1K (1.02-1.12x),
// 615-616 against 684-703 at 2K (1.11-1.14x, 3 runs each), 2527-2544 against 2876-3063 at 4K
// (1.13-1.21x, 2 runs each); bf16 1.11-1.15x, dropout 0.1 1.06x, key mask 1.06-1.08x at 1K;
// model_benchmark BM_TransformerTrain (2 threads, CPU time a step, interleaved): 1.10 s against
// 1.16-1.18 at 1K (1.05-1.07x, 2 runs each), 3.41-3.68 s against 3.58-3.89 at 2K (1.05x on
// the means of 4 runs each; single pairs ranged 0.97-1.14x on the loaded VM). Earlier, fwd+bwd at B = 8, 4 heads,
// d = 32, 1 thread (seq_benchmark CPU time, 4 interleaved runs each, load average 3-5), against the
// kernel before the epilogues, lazy rescaling and 13-row products: 179-190 ms against 203-216
// at L = 1K (1.12x), 765-786 against 809-882 at 2K (1.06-1.12x), 1.08x with dropout 0.1 and
// 1.07x with the key mask at 1K. The products then take about 77% of the time (perf), which
// is near the FMA peak inside them; the exp about 10%. The earlier sgemm tiles took 1.34x
// dense's time at 1K.
//
// bf16 products (opt-in; Bf16() below): with onednn::SetMatmulPrecision(kBf16) (`lra
// --matmul_precision=bf16`, model_benchmark's flag of the same name) on a CPU with
// AVX512-BF16, the tiled kernel runs all seven of its products with vdpbf16ps (32 bf16
// products into 16 fp32 sums per instruction, twice an FMA's 16): the forward's scores Q K^T
// (keys packed as bf16 pairs along d, pre-scaled by 1/sqrt(d); each query row's pairs
// broadcast) and O += P V (the probability tile rounded to bf16 pairs along the keys; values
// packed as pairs of key rows), and the backward's recomputed scores, dP = dO V^T, dQ += dS K
// (dS rounded as P is, keys packed as V is) and the two transposed products dV += P~^T dO and
// dK += dS^T Q (P~ and dS rounded to pairs along the query rows, dO and Q packed as pairs of
// rows). The softmax, its running max and sums, the accumulators and dS itself stay fp32.
// Forward and backward round the same operands the same way, so the backward's scores equal
// the forward's bit for bit and P = exp(s - lse) is the forward's softmax. Each rounded operand
// carries a relative error of up to u = 2^-8, so a product of two is off by up to 2u + u^2
// relative, and a d-term dot product gains (2u + u^2) sum_c |x_c||y_c| over its fp32 bound
// (d 2^-23 sum_c |x_c||y_c|); the softmax-weighted sum P V gains (2u + u^2) sum_j P_ij |v_jc|
// (dS K, P~^T dO and dS^T Q likewise).
// attention_test.cc checks forward and gradients against a double reference with these bounds
// (causal, padding, masks, dropout). Measured fwd+bwd at L = 1K, B = 8, 4 heads, d = 32, 1
// thread (seq_benchmark CPU time, 3 interleaved runs each, load average 5-7 on 2 vCPUs):
// 145-155 ms against 182-193 fp32 (1.2-1.3x; 147-160 ms with dQ still fp32); with dV and dK
// in bf16 too, 109-115 ms against 124-130 with them fp32 (2 interleaved runs each, load 0.5).
// Packing (attention.cc): the keys and values are packed d-major 16 keys at a time, their pairs
// transposed in registers so each store is a 64-byte line (one word per key at a stride of L
// words had put all of a key's stores in one L1 set), and the backward converts each (batch,
// head)'s Q and dO once, both layouts in one pass, not once per group of 4 key tiles. Same bits
// (the same vcvtne2ps2bf16 of the same floats). At L = 1K the packing's share of the bf16
// kernel's samples (perf, 1 thread) fell from 10% to 5%. Against the packing before: fwd+bwd
// (seq_benchmark CPU time, 1 thread, B = 8, 4 heads, d = 32, 3 interleaved pairs, load average
// 3-3.4 on 2 vCPUs shared with other jobs) 0.95-1.07x at 1K, 0.97-1.01x at 2K, 0.99-1.06x at
// 4K; by the samples, with the unchanged products' as the yardstick, 1.02-1.08x, 1.03x and
// 1.07x. The bf16 Transformer step (model_benchmark cpu_ms/step at 1K, 6 interleaved
// pairs): 1.04x on the means at 1 thread (0.96-1.14x a pair, load 1.9-2.8); at 2 threads
// 1.05x (0.99-1.14x) and 0.96x (0.89-1.05x) in two batches at load 2.3-3.5.
// Off (the default), results are bit for bit those of the fp32 kernel.
#ifndef LRA_CORE_KERNELS_ATTENTION_H_
#define LRA_CORE_KERNELS_ATTENTION_H_

#include <cstdint>
#include <memory>

namespace lra {
namespace kernels {

enum class AttentionAlgorithm { kDense, kBlocked };

struct AttentionShape {
  int batch = 0;     // B >= 1
  int length = 0;    // L >= 1 (queries and keys)
  int heads = 0;     // >= 1
  int head_dim = 0;  // d >= 1
  bool causal = false;
};

struct AttentionOptions {
  AttentionAlgorithm algorithm = AttentionAlgorithm::kDense;
  // Blocked only: query rows and key rows per block. 64 x 64 keeps a block's scores (16 KiB)
  // and the q/k/v/o tiles of d <= 64 in L1/L2.
  int query_block = 64;
  int key_block = 64;
};

// Probability dropout for one call; the default is off.
struct AttentionDropout {
  float rate = 0.0f;  // p in [0, 1)
  uint64_t seed = 0;  // Philox key: a fresh value per call (per layer and step) from the caller
};

class Attention {
 public:
  explicit Attention(AttentionOptions options = {});
  ~Attention();
  Attention(const Attention&) = delete;
  Attention& operator=(const Attention&) = delete;

  // Floats of state that Forward writes into `saved` and Backward reads back: the probabilities
  // [B, heads, L, L] (dense) or the row logsumexp [B, heads, L] (blocked). The caller owns it,
  // one per op instance, so a single Attention object can serve every layer.
  int64_t SavedFloats(const AttentionShape& shape) const;

  // out = attention(q, k, v); out and saved are overwritten. lengths [B] and mask [B, L]
  // may be null.
  void Forward(const AttentionShape& shape, const float* q, const float* k, const float* v,
               const int* lengths, const uint8_t* mask, const AttentionDropout& dropout,
               float* out, float* saved);

  // OVERWRITES dq, dk, dv with the gradients of <out, dout>. `out` and `saved` are Forward's
  // results for the same inputs, lengths, mask and dropout (same seed).
  void Backward(const AttentionShape& shape, const float* q, const float* k, const float* v,
                const int* lengths, const uint8_t* mask, const AttentionDropout& dropout,
                const float* out, const float* saved, const float* dout, float* dq, float* dk,
                float* dv);

  // Bytes of per-thread scratch held by this object (excludes `saved`). Grows to the largest
  // shape seen; no allocation in a call whose shape fits.
  int64_t WorkspaceBytes() const;

  const AttentionOptions& options() const { return options_; }

  // Whether Forward and Backward run the blocked algorithm's register-tiled AVX-512 kernels for
  // this shape: kBlocked with key_block = 64, head_dim a multiple of 16 up to 64, on a CPU with
  // AVX-512 (F, BW, VL, DQ). Otherwise kBlocked tiles with sgemm calls. Same results up to
  // rounding.
  bool Tiled(const AttentionShape& s) const;

  // Whether Forward and Backward run the bf16 products (see the top of this file): Tiled(s),
  // onednn::GetMatmulPrecision() == kBf16 (`--matmul_precision=bf16`) and a CPU with
  // AVX512-BF16. Read on every call: keep the precision unchanged between a Forward and its
  // Backward.
  bool Bf16(const AttentionShape& s) const;

 private:
  float* Scratch(int64_t per_thread, int threads);
  void DenseForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                    const int* lengths, const uint8_t* mask, const AttentionDropout& drop,
                    float* out, float* saved);
  void DenseBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                     const int* lengths, const uint8_t* mask, const AttentionDropout& drop,
                     const float* out, const float* saved, const float* dout, float* dq,
                     float* dk, float* dv);
  void BlockedForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                      const int* lengths, const uint8_t* mask, const AttentionDropout& drop,
                      float* out, float* saved);
  void BlockedBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       const int* lengths, const uint8_t* mask, const AttentionDropout& drop,
                       const float* out, const float* saved, const float* dout, float* dq,
                       float* dk, float* dv);
  void TiledForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                    const int* lengths, const uint8_t* mask, const AttentionDropout& drop,
                    float* out, float* saved);
  void TiledBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                     const int* lengths, const uint8_t* mask, const AttentionDropout& drop,
                     const float* out, const float* saved, const float* dout, float* dq,
                     float* dk, float* dv);

  AttentionOptions options_;
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> scratch_;
  int64_t scratch_floats_ = 0;
};

}  // namespace kernels
}  // namespace lra

#endif  // LRA_CORE_KERNELS_ATTENTION_H_

#include "core/kernels/onednn/gemm.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "dnnl.hpp"
#include "core/check.h"

// oneDNN's bf16 GEMM (bf16 A and B, fp32 C; row-major, arguments as dnnl_sgemm's): exported by
// libdnnl but declared only in oneDNN's own tests (oneapi-src/oneDNN v2.6, tests/gtests/
// test_gemm_common.hpp, "Declare bfloat16 GEMM interfaces for testing").
extern "C" dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t m,
                                               dnnl_dim_t n, dnnl_dim_t k, float alpha,
                                               const uint16_t* a, dnnl_dim_t lda,
                                               const uint16_t* b, dnnl_dim_t ldb, float beta,
                                               float* c, dnnl_dim_t ldc);

namespace lra {
namespace onednn {
namespace {

struct Key {
  int64_t batch, m, n, k;
  bool ta, tb, bias, acc, bf16;
  int threads;
  bool operator==(const Key& o) const {
    return std::tie(batch, m, n, k, ta, tb, bias, acc, bf16, threads) ==
           std::tie(o.batch, o.m, o.n, o.k, o.ta, o.tb, o.bias, o.acc, o.bf16, o.threads);
  }
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = std::hash<int64_t>()(k.batch);
    for (int64_t v : {k.m, k.n, k.k, int64_t(k.ta), int64_t(k.tb), int64_t(k.bias),
                      int64_t(k.acc), int64_t(k.bf16), int64_t(k.threads)})
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};

struct Entry {
  dnnl::matmul prim;
  dnnl::memory::desc a_md, b_md, bias_md, c_md;
};

struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::mutex mu;
  std::unordered_map<Key, Entry, KeyHash> cache;
  std::atomic<MatmulPrecision> precision{MatmulPrecision::kF32};
};

Context& Ctx() {
  static Context* ctx = new Context;
  return *ctx;
}

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

Entry MakeEntry(const Key& key, Context& ctx) {
  Entry e;
  const dnnl::memory::dims a_dims = {key.batch, key.m, key.k};
  const dnnl::memory::dims b_dims = {key.batch, key.k, key.n};
  const dnnl::memory::dims c_dims = {key.batch, key.m, key.n};
  const dt in = key.bf16 ? dt::bf16 : dt::f32;
  e.a_md = dnnl::memory::desc(a_dims, in, key.ta ? tag::acb : tag::abc);
  e.b_md = dnnl::memory::desc(b_dims, in, key.tb ? tag::acb : tag::abc);
  e.c_md = dnnl::memory::desc(c_dims, dt::f32, tag::abc);
  dnnl::primitive_attr attr;
  if (key.acc) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  if (key.bias) {
    e.bias_md = dnnl::memory::desc({1, 1, key.n}, dt::f32, tag::abc);
    dnnl::matmul::desc d(e.a_md, e.b_md, e.bias_md, e.c_md);
    e.prim = dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, ctx.engine));
  } else {
    dnnl::matmul::desc d(e.a_md, e.b_md, e.c_md);
    e.prim = dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, ctx.engine));
  }
  return e;
}

// The cached primitive for `key`, created on first use (with the calling thread's
// omp_get_max_threads(), which the key records).
const Entry& Lookup(const Key& key, Context& ctx) {
  std::lock_guard<std::mutex> lock(ctx.mu);
  auto it = ctx.cache.find(key);
  if (it == ctx.cache.end()) it = ctx.cache.emplace(key, MakeEntry(key, ctx)).first;
  return it->second;  // unordered_map never moves its nodes
}

void Execute(const Entry& e, dnnl::stream& stream, const void* a, const void* b,
             const float* bias, float* c) {
  const dnnl::engine& engine = Ctx().engine;
  dnnl::memory am(e.a_md, engine, const_cast<void*>(a));  // f32 or bf16 per a_md
  dnnl::memory bm(e.b_md, engine, const_cast<void*>(b));
  dnnl::memory cm(e.c_md, engine, c);
  if (bias) {
    dnnl::memory biasm(e.bias_md, engine, const_cast<float*>(bias));
    e.prim.execute(stream, {{DNNL_ARG_SRC, am},
                            {DNNL_ARG_WEIGHTS, bm},
                            {DNNL_ARG_BIAS, biasm},
                            {DNNL_ARG_DST, cm}});
  } else {
    e.prim.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  }
  stream.wait();
}

// One thread's share of ConvertToBf16: VCVTNE2PS2BF16 on 32 floats at a time, masked for the tail.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void ToBf16Avx512(
    const float* x, int64_t n, uint16_t* y) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // cvtne2ps(a, b) puts b's 16 results in the low half and a's in the high half.
    const __m512bh r = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(y + i, reinterpret_cast<const __m512i&>(r));
  }
  for (; i < n; i += 16) {
    const __mmask16 mask = static_cast<__mmask16>((n - i >= 16) ? 0xffff : (1u << (n - i)) - 1);
    const __m256bh r = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, x + i));
    _mm256_mask_storeu_epi16(y + i, mask, reinterpret_cast<const __m256i&>(r));
  }
}

// Per calling thread, grown to the largest product seen, so a training step allocates nothing
// after the first one.
struct Scratch {
  std::vector<uint16_t> a16, b16;
  std::vector<uint16_t> caller16;  // ConvertToBf16Scratch's
  std::vector<float> partial;
};
void Reserve(std::vector<uint16_t>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(n);
}
Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

// C (= or +=) A^T op(B) for one product with a long reduction: the weight gradient x^T dy of
// every Linear, K = tokens in the batch. On (8192x128)^T x (8192x512), oneDNN's matmul primitive
// reaches ~48% of the FMA peak (it does not split K) and a single sgemm call ~74%; splitting K
// over the threads, one single-threaded sgemm each into its own partial product, then summing,
// reaches 84-85% (core_benchmark BM_Gemm/2/0; README "Measured performance"). The split is
// fixed by the thread count, so results are deterministic for a given count.
void GemmTransA(int64_t m, int64_t n, int64_t k, bool trans_b, const float* a, const float* b,
                float* c, bool accumulate, int threads) {
  const char tb = trans_b ? 'T' : 'N';
  const int64_t ldb = trans_b ? k : n;
  // Each thread's slice of K should be long enough to amortise packing, and the partial
  // products (threads - 1 extra M x N sums) cheap next to the 2MNK flops.
  const int parts = static_cast<int>(std::min<int64_t>(threads, k / 256));
  if (parts <= 1) {
    const dnnl_status_t st = dnnl_sgemm('T', tb, m, n, k, 1.0f, a, m, b, ldb,
                                        accumulate ? 1.0f : 0.0f, c, n);
    LRA_CHECK(st == dnnl_success) << "dnnl_sgemm failed: " << st;
    return;
  }
  std::vector<float>& partial = ThreadScratch().partial;
  if (partial.size() < static_cast<size_t>((parts - 1) * m * n)) partial.resize((parts - 1) * m * n);
  float* part = partial.data();
  dnnl_status_t status = dnnl_success;
#pragma omp parallel num_threads(parts)
  {
    // Inside the region omp_get_max_threads() is 1, so each sgemm runs on its own thread.
    const int t = omp_get_thread_num();
    const int64_t r0 = k * t / parts, r1 = k * (t + 1) / parts;
    float* dst = t == 0 ? c : part + (t - 1) * m * n;
    const dnnl_status_t st =
        dnnl_sgemm('T', tb, m, n, r1 - r0, 1.0f, a + r0 * m, m, b + (trans_b ? r0 : r0 * n), ldb,
                   (t == 0 && accumulate) ? 1.0f : 0.0f, dst, n);
    if (st != dnnl_success) {
#pragma omp critical
      status = st;
    }
  }
  LRA_CHECK(status == dnnl_success) << "dnnl_sgemm failed: " << status;
  const int64_t mn = m * n;
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int64_t i = 0; i < mn; ++i) {
    float sum = c[i];
    for (int p = 0; p < parts - 1; ++p) sum += part[p * mn + i];
    c[i] = sum;
  }
}

// Per thread, for products run inside a parallel region (a stream is not meant to be shared
// by threads executing at once).
dnnl::stream& ThreadStream() {
  thread_local dnnl::stream stream(Ctx().engine);
  return stream;
}

void ConvertToBf16(const float* x, int64_t n, uint16_t* y, int threads) {
  // Memory-bound: split over the threads above 64k elements, in 32-element aligned pieces.
  const int parts = n >= (1 << 16) ? threads : 1;
  if (parts <= 1) return ToBf16Avx512(x, n, y);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int t = 0; t < parts; ++t) {
    const int64_t r0 = n * t / parts / 32 * 32, r1 = t + 1 == parts ? n : n * (t + 1) / parts / 32 * 32;
    ToBf16Avx512(x + r0, r1 - r0, y + r0);
  }
}

// GemmTransA in bf16: the same split of K over the threads; each thread converts its own slice
// of A and B (its rows of the reduction) to bf16 and runs oneDNN's single-threaded bf16 GEMM on
// it into its partial result, summed in fp32 as in GemmTransA. oneDNN's bf16 matmul primitive
// (brgemm) was slower here than fp32 sgemm (it re-lays out both operands on every call), and so
// was converting and multiplying 1,024 rows at a time; 4,096 or more rows per GEMM call ran at
// 1.2-1.3x fp32 (core_benchmark BM_Gemm/2/1). A slice longer than kTransAChunkElements / (M + N)
// rows (and 4,096) is done in equal chunks accumulated in fp32, which bounds the scratch
// (a recurrent layer's weight gradient reduces over every step of every sequence). The split
// and the chunks depend only on K, M, N and the thread count. Where the caller passes A's or B's
// bf16 copy (a16, b16: all K rows, made by ConvertToBf16), a chunk reads its rows from there
// instead of converting them: the same bf16 values through the same calls (only B's leading
// dimension differs when it is stored transposed), so the same bits.
constexpr int64_t kTransAChunkElements = int64_t{1} << 22;

void GemmTransABf16(int64_t m, int64_t n, int64_t k, bool trans_b, const float* a,
                    const uint16_t* a16, const float* b, const uint16_t* b16, float* c,
                    bool accumulate, int threads) {
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, k / 256)));
  std::vector<float>& partial = ThreadScratch().partial;
  if (partial.size() < static_cast<size_t>((parts - 1) * m * n)) partial.resize((parts - 1) * m * n);
  float* part = partial.data();
  const int64_t max_rows = std::max<int64_t>(4096, kTransAChunkElements / (m + n));
  dnnl_status_t status = dnnl_success;
  // With parts == 1 the GEMM must still run on one thread (omp_get_max_threads() is 1 inside an
  // active region only).
  const int saved_threads = omp_get_max_threads();
  if (parts == 1) omp_set_num_threads(1);
#pragma omp parallel num_threads(parts)
  {
    const int t = omp_get_thread_num();
    const int64_t r0 = k * t / parts, r1 = k * (t + 1) / parts;
    const int64_t chunks = (r1 - r0 + max_rows - 1) / max_rows;
    float* dst = t == 0 ? c : part + (t - 1) * m * n;
    Scratch& s = ThreadScratch();
    for (int64_t q = 0; q < chunks; ++q) {
      const int64_t c0 = r0 + (r1 - r0) * q / chunks, len = r0 + (r1 - r0) * (q + 1) / chunks - c0;
      const uint16_t* ac = a16 != nullptr ? a16 + c0 * m : nullptr;  // rows c0.. of A, [K, M]
      if (ac == nullptr) {
        Reserve(s.a16, len * m);
        ToBf16Avx512(a + c0 * m, len * m, s.a16.data());
        ac = s.a16.data();
      }
      // B stored [N, K] (trans_b): columns c0.. of each row; else rows c0.. of [K, N].
      const uint16_t* bc = b16 == nullptr ? nullptr : trans_b ? b16 + c0 : b16 + c0 * n;
      int64_t ldb = trans_b ? k : n;
      if (bc == nullptr) {
        Reserve(s.b16, len * n);
        if (trans_b) {  // into [N, len]
          for (int64_t j = 0; j < n; ++j)
            ToBf16Avx512(b + j * k + c0, len, s.b16.data() + j * len);
          ldb = len;
        } else {
          ToBf16Avx512(b + c0 * n, len * n, s.b16.data());
        }
        bc = s.b16.data();
      }
      const float beta = (q > 0 || (t == 0 && accumulate)) ? 1.0f : 0.0f;
      const dnnl_status_t st = dnnl_gemm_bf16bf16f32('T', trans_b ? 'T' : 'N', m, n, len, 1.0f,
                                                     ac, m, bc, ldb, beta, dst, n);
      if (st != dnnl_success) {
#pragma omp critical
        status = st;
      }
    }
  }
  if (parts == 1) omp_set_num_threads(saved_threads);
  LRA_CHECK(status == dnnl_success) << "dnnl_gemm_bf16bf16f32 failed: " << status;
  const int64_t mn = m * n;
  if (parts == 1) return;
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int64_t i = 0; i < mn; ++i) {
    float sum = c[i];
    for (int p = 0; p < parts - 1; ++p) sum += part[p * mn + i];
    c[i] = sum;
  }
}

// bf16 pays where a product has enough flops per element it must convert. Measured on 2
// threads (core_benchmark BM_ConvertToBf16, BM_Gemm; README "Measured performance"): the
// conversion costs 0.04-0.08 ns per element (1M-4M elements, in L2/L3), and a bf16 product saves
// 1/200 - 1/350 ns per flop over fp32 (fp32 ~200, bf16 ~350 GFLOP/s on a machine with a 224
// GFLOP/s FMA peak; 1/360 - 1/630 on one with 440), so the break-even is 20-70 flops per
// converted element. At x[8192,128] w[128,32] bf16 already won at 51 (weight gradient) and
// 64 (forward) flops per element; the model's Linear layers (H = 128) have 128 or more.
// (oneDNN 2.6.3's fpmath_mode=bf16, which would let the matmul round f32 inputs itself, does not
// help: on this AVX512-BF16 CPU without AMX a matmul with f32 inputs and that attribute picks the
// fp32 kernel brg:avx512_core and returns unrounded fp32 results.)
constexpr double kBf16MinFlopsPerElement = 64;

// The decision ignores the dimension that grows with the batch, so that in bf16 mode a row's
// result never depends on how many rows are multiplied with it (batch invariance): for
// C = op(A) op(B) that is M, and per row of A the product has 2N flops per converted element
// (B's conversion is shared by all rows); for a weight gradient A^T B it is the reduction K,
// and per row of the reduction it has 2MN / (M + N).
bool Bf16Pays(int64_t m, int64_t n, bool weight_gradient) {
  const double per_element = weight_gradient ? 2.0 * m * n / (m + n) : 2.0 * n;
  return per_element >= kBf16MinFlopsPerElement;
}

// Products with batch 1, transposed A and no bias are weight gradients (GemmTransA).
bool IsWeightGradient(int64_t batch, bool trans_a, bool has_bias) {
  return batch == 1 && trans_a && !has_bias;
}

}  // namespace

bool Bf16Supported() {
  static const bool ok = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core_bf16;
  return ok;
}

void ConvertToBf16(const float* x, int64_t n, uint16_t* y) {
  LRA_CHECK(Bf16Supported()) << "ConvertToBf16 needs AVX512-BF16";
  ConvertToBf16(x, n, y, omp_get_max_threads());
}

const uint16_t* ConvertToBf16Scratch(const float* x, int64_t n) {
  std::vector<uint16_t>& y = ThreadScratch().caller16;
  Reserve(y, n);
  ConvertToBf16(x, n, y.data());
  return y.data();
}

absl::Status SetMatmulPrecision(MatmulPrecision precision) {
  if (precision == MatmulPrecision::kBf16 && !Bf16Supported())
    return absl::FailedPreconditionError(
        "bf16 matmul needs a CPU with AVX512-BF16 or AMX (oneDNN reports neither here); run with "
        "the default fp32 matmul precision");
  Ctx().precision.store(precision);
  return absl::OkStatus();
}

MatmulPrecision GetMatmulPrecision() { return Ctx().precision.load(); }

bool GemmRunsInBf16(int64_t batch, int64_t m, int64_t n, bool trans_a, bool has_bias) {
  return Ctx().precision.load(std::memory_order_relaxed) == MatmulPrecision::kBf16 &&
         Bf16Pays(m, n, IsWeightGradient(batch, trans_a, has_bias));
}

void Gemm(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
          Operand a_op, Operand b_op, const float* bias, float* c, bool accumulate) {
  const float* a = a_op.f32;
  const float* b = b_op.f32;
  LRA_CHECK(!(bias && accumulate)) << "Gemm: bias with accumulate is not supported";
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) {
      for (int64_t i = 0; i < batch * m; ++i)
        for (int64_t j = 0; j < n; ++j) c[i * n + j] = bias ? bias[j] : 0.0f;
    }
    return;
  }
  Context& ctx = Ctx();
  // Below ~1 MFLOP (a few microseconds on one core) waking the other threads costs more than it
  // saves, so small products get a single-threaded primitive. omp_set_num_threads is a per-thread
  // setting, restored below; the primitive records the count it was created with.
  const int max_threads = omp_get_max_threads();
  const double flops = 2.0 * batch * m * n * k;
  const bool small = flops < double(1 << 20);
  const int threads = small ? 1 : max_threads;
  if (threads != max_threads) omp_set_num_threads(threads);
  const bool bf16 = GemmRunsInBf16(batch, m, n, trans_a, bias != nullptr);
  if (IsWeightGradient(batch, trans_a, bias != nullptr)) {
    if (bf16) {
      GemmTransABf16(m, n, k, trans_b, a, a_op.bf16, b, b_op.bf16, c, accumulate, threads);
    } else {
      GemmTransA(m, n, k, trans_b, a, b, c, accumulate, threads);
    }
    if (threads != max_threads) omp_set_num_threads(max_threads);
    return;
  }
  const void* a_data = a;
  const void* b_data = b;
  if (bf16) {
    // The caller's bf16 copy, else `count` elements converted into the thread's `buf`.
    auto in_bf16 = [threads](const Operand& op, int64_t count, std::vector<uint16_t>& buf) {
      if (op.bf16 != nullptr) return op.bf16;
      Reserve(buf, count);
      ConvertToBf16(op.f32, count, buf.data(), threads);
      return static_cast<const uint16_t*>(buf.data());
    };
    Scratch& s = ThreadScratch();
    a_data = in_bf16(a_op, batch * m * k, s.a16);
    b_data = in_bf16(b_op, batch * k * n, s.b16);
  }
  const Entry& e =
      Lookup({batch, m, n, k, trans_a, trans_b, bias != nullptr, accumulate, bf16, threads}, ctx);
  Execute(e, ThreadStream(), a_data, b_data, bias, c);
  if (threads != max_threads) omp_set_num_threads(max_threads);
}

int64_t GemmCacheSize() {
  Context& ctx = Ctx();
  std::lock_guard<std::mutex> lock(ctx.mu);
  return static_cast<int64_t>(ctx.cache.size());
}

}  // namespace onednn
}  // namespace lra

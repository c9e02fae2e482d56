#include "core/kernels/onednn/gemm.h"

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
  dnnl::stream stream{engine};
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

constexpr double kBf16MinFlopsPerElement = 512;

// Rounds to the nearest bfloat16, ties to even (the rounding of VCVTNEPS2BF16 and of oneDNN's
// reorder); NaN stays NaN. A plain loop the compiler vectorizes; memory-bound, so large arrays
// are split over the threads.
void ToBf16(const float* x, int64_t n, uint16_t* y, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    const bool nan = (bits & 0x7fffffffu) > 0x7f800000u;
    const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    y[i] = static_cast<uint16_t>(nan ? (bits >> 16) | 0x40u : rounded);
  }
}

// Per calling thread, grown to the largest product seen, so a training step allocates nothing
// after the first one.
struct Scratch {
  std::vector<uint16_t> a16, b16;
  std::vector<float> partial;
};
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

}  // namespace

bool Bf16Supported() {
  static const bool ok = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core_bf16;
  return ok;
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

void Gemm(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
          const float* a, const float* b, const float* bias, float* c, bool accumulate) {
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
  const bool small = 2.0 * batch * m * n * k < double(1 << 20);
  const int threads = small ? 1 : max_threads;
  if (threads != max_threads) omp_set_num_threads(threads);
  // Weight gradients stay fp32 in bf16 mode too: both of their operands are activation-sized, and
  // converting them costs more than the bf16 product saves (core_benchmark BM_Gemm/2/1).
  if (batch == 1 && trans_a && !bias) {
    GemmTransA(m, n, k, trans_b, a, b, c, accumulate, threads);
    if (threads != max_threads) omp_set_num_threads(max_threads);
    return;
  }
  // bf16 pays only where the product is large next to the operands it must convert: converting
  // costs ~0.6 ns per element on 2 threads, the product saves 1/360 - 1/630 ns per flop
  // (fp32 vs bf16 GFLOP/s measured with core_benchmark BM_Gemm), so the break-even is ~500
  // flops per converted element: the forward (8192x128)x(128x512) has 1,000 and wins 1.45x, the
  // data gradient with the same shapes has 256 and lost 1.5x before this rule.
  const double converted = static_cast<double>(batch) * (m * k + k * n);
  const bool bf16 = ctx.precision.load(std::memory_order_relaxed) == MatmulPrecision::kBf16 &&
                    2.0 * batch * m * n * k >= kBf16MinFlopsPerElement * converted;
  if (bf16) {
    Scratch& s = ThreadScratch();
    const int64_t na = batch * m * k, nb = batch * k * n;
    if (s.a16.size() < static_cast<size_t>(na)) s.a16.resize(na);
    if (s.b16.size() < static_cast<size_t>(nb)) s.b16.resize(nb);
    ToBf16(a, na, s.a16.data(), threads);
    ToBf16(b, nb, s.b16.data(), threads);
    a = reinterpret_cast<const float*>(s.a16.data());  // bf16 data from here on
    b = reinterpret_cast<const float*>(s.b16.data());
  }
  const Key key{batch, m, n, k, trans_a, trans_b, bias != nullptr, accumulate, bf16, threads};
  const Entry* e;
  {
    std::lock_guard<std::mutex> lock(ctx.mu);
    auto it = ctx.cache.find(key);
    if (it == ctx.cache.end()) it = ctx.cache.emplace(key, MakeEntry(key, ctx)).first;
    e = &it->second;  // unordered_map never moves its nodes
  }
  dnnl::memory am(e->a_md, ctx.engine, const_cast<float*>(a));  // f32 or bf16 per a_md
  dnnl::memory bm(e->b_md, ctx.engine, const_cast<float*>(b));
  dnnl::memory cm(e->c_md, ctx.engine, c);
  if (bias) {
    dnnl::memory biasm(e->bias_md, ctx.engine, const_cast<float*>(bias));
    e->prim.execute(ctx.stream, {{DNNL_ARG_SRC, am},
                                 {DNNL_ARG_WEIGHTS, bm},
                                 {DNNL_ARG_BIAS, biasm},
                                 {DNNL_ARG_DST, cm}});
  } else {
    e->prim.execute(ctx.stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  }
  ctx.stream.wait();
  if (threads != max_threads) omp_set_num_threads(max_threads);
}

int64_t GemmCacheSize() {
  Context& ctx = Ctx();
  std::lock_guard<std::mutex> lock(ctx.mu);
  return static_cast<int64_t>(ctx.cache.size());
}

}  // namespace onednn
}  // namespace lra

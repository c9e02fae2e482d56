#include "core/kernels/onednn/gemm.h"

#include <omp.h>

#include <mutex>
#include <tuple>
#include <unordered_map>

#include "dnnl.hpp"
#include "core/check.h"

namespace lra {
namespace onednn {
namespace {

struct Key {
  int64_t batch, m, n, k;
  bool ta, tb, bias, acc;
  int threads;
  bool operator==(const Key& o) const {
    return std::tie(batch, m, n, k, ta, tb, bias, acc, threads) ==
           std::tie(o.batch, o.m, o.n, o.k, o.ta, o.tb, o.bias, o.acc, o.threads);
  }
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = std::hash<int64_t>()(k.batch);
    for (int64_t v : {k.m, k.n, k.k, int64_t(k.ta), int64_t(k.tb), int64_t(k.bias),
                      int64_t(k.acc), int64_t(k.threads)})
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
  e.a_md = dnnl::memory::desc(a_dims, dt::f32, key.ta ? tag::acb : tag::abc);
  e.b_md = dnnl::memory::desc(b_dims, dt::f32, key.tb ? tag::acb : tag::abc);
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

}  // namespace

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
  const Key key{batch, m, n, k, trans_a, trans_b, bias != nullptr, accumulate, threads};
  const Entry* e;
  {
    std::lock_guard<std::mutex> lock(ctx.mu);
    auto it = ctx.cache.find(key);
    if (it == ctx.cache.end()) it = ctx.cache.emplace(key, MakeEntry(key, ctx)).first;
    e = &it->second;  // unordered_map never moves its nodes
  }
  dnnl::memory am(e->a_md, ctx.engine, const_cast<float*>(a));
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

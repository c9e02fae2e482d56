// End-to-end: a 2-layer MLP learns a synthetic 3-class problem to 100% training accuracy, and
// two runs from the same seed produce bitwise identical loss curves.
#include <cstring>

#include "gtest/gtest.h"
#include "core/ops/ops.h"
#include "core/optim/adam.h"
#include "core/optim/schedule.h"
#include "core/random.h"

namespace lra {
namespace {

struct RunResult {
  std::vector<float> losses;
  double accuracy;
  int64_t system_allocs_after_first_step = 0;  // BufferPool system allocations in steps 2..N
};

RunResult Train(uint64_t seed) {
  Rng root(seed);
  Rng init = root.Stream(RngStream::kInit), drop = root.Stream(RngStream::kDropout);
  Rng data = Rng(1234);  // same data for every seed
  // 96 points in 2-D, label = which of three angular sectors (not linearly separable by one
  // hyperplane per class through the origin after the shift below).
  const int64_t n = 96, d = 2, h = 32, c = 3;
  Tensor x = Tensor::Empty({n, d});
  std::vector<int32_t> y(n);
  for (int64_t i = 0; i < n; ++i) {
    const float a = data.Uniform() * 6.2831853f, r = 0.5f + data.Uniform();
    x.data<float>()[2 * i] = r * std::cos(a);
    x.data<float>()[2 * i + 1] = r * std::sin(a);
    y[i] = static_cast<int32_t>(a / 6.2831853f * c) % c;
  }
  Var w1 = Parameter(RandomNormal({d, h}, 1.0f, init), "w1");
  Var b1 = Parameter(Tensor::Zeros({h}), "b1");
  Var w2 = Parameter(RandomNormal({h, c}, 0.2f, init), "w2");
  Var b2 = Parameter(Tensor::Zeros({c}), "b2");
  Adam opt({{{w1, w2}, 0.02f, 0.01f}, {{b1, b2}, 0.02f, 0.0f}}, AdamOptions{.decoupled_weight_decay = true});
  const LrSchedule sched = LrSchedule::S4Cosine(20, 400);
  RunResult out;
  Var xin = Constant(x);
  int64_t allocs_after_first = 0;
  for (int step = 0; step < 400; ++step) {
    if (step == 1) allocs_after_first = BufferPool::Get().stats().system_allocs;
    Var hdn = Dropout(Gelu(Linear(xin, w1, b1)), 0.05f, true, drop);
    Var loss = CrossEntropy(Linear(hdn, w2, b2), y);
    out.losses.push_back(loss.value().item());
    Backward(loss);
    ClipGradNorm(opt.Parameters(), 5.0f);
    opt.Step(static_cast<float>(sched.Factor(opt.step() + 1)));
    opt.ZeroGrad();
  }
  out.system_allocs_after_first_step = BufferPool::Get().stats().system_allocs - allocs_after_first;
  NoGrad ng;
  Var logits = Linear(Gelu(Linear(xin, w1, b1)), w2, b2);
  out.accuracy = double(CountCorrect(logits.value(), y)) / n;
  return out;
}

TEST(TrainingTest, MlpFitsAndIsBitwiseReproducible) {
  const RunResult a = Train(5), b = Train(5);
  EXPECT_EQ(a.accuracy, 1.0) << "final loss " << a.losses.back();
  ASSERT_EQ(a.losses.size(), b.losses.size());
  EXPECT_EQ(0, std::memcmp(a.losses.data(), b.losses.data(), a.losses.size() * sizeof(float)));
  EXPECT_LT(a.losses.back(), 0.1f * a.losses.front());
  // Every step after the first is served from the pool's free lists.
  EXPECT_EQ(a.system_allocs_after_first_step, 0);
  const RunResult c = Train(6);
  EXPECT_NE(0, std::memcmp(a.losses.data(), c.losses.data(), a.losses.size() * sizeof(float)));
}

// A one-layer attention classifier: label = the first token of a length-8 sequence over a
// 4-token vocabulary. Solving it needs position information routed by attention (the mean of
// token embeddings alone cannot tell which token came first).
RunResult TrainAttention(uint64_t seed, AttentionAlgorithm algo) {
  Rng root(seed);
  Rng init = root.Stream(RngStream::kInit);
  Rng data(99);
  const int64_t n = 48, l = 8, v = 4, h = 16;
  std::vector<int32_t> tokens(n * l), labels(n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t t = 0; t < l; ++t) tokens[i * l + t] = static_cast<int32_t>(data.UniformInt(v));
    labels[i] = tokens[i * l];
  }
  Var emb = Parameter(RandomNormal({v, h}, 1.0f, init), "emb");
  Var pos = Parameter(RandomNormal({l, h}, 1.0f, init), "pos");
  Var wq = Parameter(RandomNormal({h, h}, 0.25f, init), "wq");
  Var wk = Parameter(RandomNormal({h, h}, 0.25f, init), "wk");
  Var wv = Parameter(RandomNormal({h, h}, 0.25f, init), "wv");
  Var g = Parameter(Tensor::Full({h}, 1.0f), "ln.g");
  Var b = Parameter(Tensor::Zeros({h}), "ln.b");
  Var wo = Parameter(RandomNormal({h, v}, 0.25f, init), "wo");
  Adam opt({{{emb, pos, wq, wk, wv, g, b, wo}, 0.01f, 0.0f}});
  auto forward = [&] {
    Var x = Add(Embedding(emb, tokens, Shape{n, l}), pos);  // [n, l, h]
    Var a = Attention(Linear(x, wq), Linear(x, wk), Linear(x, wv), {}, {2, false, algo});
    Var y = LayerNorm(Add(x, a), g, b);
    return Linear(MeanPool(y), wo);
  };
  RunResult out;
  for (int step = 0; step < 300; ++step) {
    Var loss = CrossEntropy(forward(), labels);
    out.losses.push_back(loss.value().item());
    Backward(loss);
    opt.Step();
    opt.ZeroGrad();
  }
  NoGrad ng;
  out.accuracy = double(CountCorrect(forward().value(), labels)) / n;
  return out;
}

TEST(TrainingTest, AttentionModelFitsAndIsBitwiseReproducible) {
  for (auto algo : {AttentionAlgorithm::kDense, AttentionAlgorithm::kBlocked}) {
    const RunResult a = TrainAttention(3, algo), b = TrainAttention(3, algo);
    EXPECT_EQ(a.accuracy, 1.0) << "final loss " << a.losses.back();
    ASSERT_EQ(a.losses.size(), b.losses.size());
    EXPECT_EQ(0, std::memcmp(a.losses.data(), b.losses.data(), a.losses.size() * sizeof(float)));
  }
}

}  // namespace
}  // namespace lra

// Every nn op against a double-precision reference written here from its definition, forward and
// (via central differences of the reference) backward. See models/testing/grad_check.h for the
// tolerance derivation: single ops on <= 64-term sums are accurate to ~1e-6 relative; 2e-5 leaves
// a margin of ~10x.
#include "models/common/nn.h"

#include <cmath>
#include <random>

#include "core/random.h"
#include "gtest/gtest.h"
#include "models/testing/grad_check.h"

namespace lra::models::nn {
namespace {

using testing::CheckOp;
using testing::GradCheckResult;
using testing::Vec;

Tensor Rand(const Shape& s, uint64_t seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(s.numel());
  for (float& x : v) x = nd(g);
  return Tensor::FromVector(s, v);
}

void ExpectOk(const GradCheckResult& r, double tol = 2e-5) {
  EXPECT_LE(r.forward_err, tol * (1 + r.forward_scale)) << "forward";
  EXPECT_LE(r.grad_err, tol * (1 + r.grad_scale)) << "gradient";
}

TEST(NnTest, Linear) {
  const int m = 6, in = 5, out = 4;
  ExpectOk(CheckOp({Rand({2, 3, in}, 1), Rand({in, out}, 2), Rand({out}, 3)},
                   [](const std::vector<Var>& v) { return Linear(v[0], v[1], v[2]); },
                   [&](const std::vector<Vec>& x) {
                     Vec y(m * out);
                     for (int r = 0; r < m; ++r)
                       for (int j = 0; j < out; ++j) {
                         double s = x[2][j];
                         for (int k = 0; k < in; ++k) s += x[0][r * in + k] * x[1][k * out + j];
                         y[r * out + j] = s;
                       }
                     return y;
                   }));
}

// Elementwise unary ops share one driver.
void CheckUnary(const std::function<Var(const Var&)>& op, const std::function<double(double)>& f,
                double tol = 2e-5) {
  ExpectOk(CheckOp({Rand({3, 7}, 4)}, [&](const std::vector<Var>& v) { return op(v[0]); },
                   [&](const std::vector<Vec>& x) {
                     Vec y(x[0].size());
                     for (size_t i = 0; i < y.size(); ++i) y[i] = f(x[0][i]);
                     return y;
                   }),
           tol);
}

TEST(NnTest, Activations) {
  CheckUnary([](const Var& x) { return Gelu(x, false); },
             [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); });
  CheckUnary([](const Var& x) { return Gelu(x, true); }, [](double x) {
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  });
  CheckUnary([](const Var& x) { return Scale(x, -2.5f); }, [](double x) { return -2.5 * x; });
}

TEST(NnTest, ReluAwayFromKink) {
  // Inputs at least 0.1 from 0, so central differences never straddle the kink.
  Tensor x = Rand({4, 5}, 9);
  for (int i = 0; i < 20; ++i) {
    float& v = x.data<float>()[i];
    v = v >= 0 ? v + 0.1f : v - 0.1f;
  }
  ExpectOk(CheckOp({x}, [](const std::vector<Var>& v) { return Relu(v[0]); },
                   [](const std::vector<Vec>& x) {
                     Vec y(x[0]);
                     for (double& v : y) v = v > 0 ? v : 0;
                     return y;
                   }));
}

TEST(NnTest, BinaryAndGlu) {
  for (int op = 0; op < 3; ++op) {
    ExpectOk(CheckOp({Rand({3, 4}, 5), Rand({3, 4}, 6)},
                     [op](const std::vector<Var>& v) {
                       return op == 0 ? Add(v[0], v[1]) : op == 1 ? Sub(v[0], v[1]) : Mul(v[0], v[1]);
                     },
                     [op](const std::vector<Vec>& x) {
                       Vec y(x[0].size());
                       for (size_t i = 0; i < y.size(); ++i)
                         y[i] = op == 0 ? x[0][i] + x[1][i] : op == 1 ? x[0][i] - x[1][i] : x[0][i] * x[1][i];
                       return y;
                     }));
  }
  ExpectOk(CheckOp({Rand({2, 3, 8}, 7)}, [](const std::vector<Var>& v) { return Glu(v[0]); },
                   [](const std::vector<Vec>& x) {
                     Vec y(6 * 4);
                     for (int r = 0; r < 6; ++r)
                       for (int j = 0; j < 4; ++j)
                         y[r * 4 + j] = x[0][r * 8 + j] / (1 + std::exp(-x[0][r * 8 + 4 + j]));
                     return y;
                   }));
}

Vec RefNorm(const Vec& x, const Vec& g, const Vec& b, int rows, int h, bool over_rows) {
  // over_rows false: LayerNorm (normalize each row over h); true: BatchNorm (each column over rows).
  Vec y(x.size());
  const int groups = over_rows ? h : rows, count = over_rows ? rows : h;
  for (int a = 0; a < groups; ++a) {
    auto at = [&](int i) { return over_rows ? i * h + a : a * h + i; };
    double mu = 0, var = 0;
    for (int i = 0; i < count; ++i) mu += x[at(i)];
    mu /= count;
    for (int i = 0; i < count; ++i) var += (x[at(i)] - mu) * (x[at(i)] - mu);
    var /= count;
    for (int i = 0; i < count; ++i) {
      const int ch = over_rows ? a : i;
      y[at(i)] = (x[at(i)] - mu) / std::sqrt(var + 1e-5) * g[ch] + b[ch];
    }
  }
  return y;
}

TEST(NnTest, LayerNorm) {
  ExpectOk(CheckOp({Rand({2, 3, 6}, 8), Rand({6}, 9), Rand({6}, 10)},
                   [](const std::vector<Var>& v) { return LayerNorm(v[0], v[1], v[2]); },
                   [](const std::vector<Vec>& x) { return RefNorm(x[0], x[1], x[2], 6, 6, false); }),
           5e-5);
}

TEST(NnTest, BatchNormTrainAndRunningStats) {
  Tensor rm = Tensor::Zeros({5}), rv = Tensor::Full({5}, 1.0f);
  Tensor x = Rand({2, 4, 5}, 11);
  ExpectOk(CheckOp({x, Rand({5}, 12), Rand({5}, 13)},
                   [&](const std::vector<Var>& v) {
                     Tensor m2 = Tensor::Zeros({5}), v2 = Tensor::Full({5}, 1.0f);
                     return BatchNorm(v[0], v[1], v[2], m2, v2, true);
                   },
                   [](const std::vector<Vec>& x) { return RefNorm(x[0], x[1], x[2], 8, 5, true); }),
           5e-5);
  Var xv(x);
  BatchNorm(xv, Var(Tensor::Full({5}, 1.0f)), Var(Tensor::Zeros({5})), rm, rv, true, 0.1f);
  Vec xd = testing::ToDouble(x);
  for (int j = 0; j < 5; ++j) {
    double mu = 0, ss = 0;
    for (int r = 0; r < 8; ++r) mu += xd[r * 5 + j];
    mu /= 8;
    for (int r = 0; r < 8; ++r) ss += (xd[r * 5 + j] - mu) * (xd[r * 5 + j] - mu);
    EXPECT_NEAR(rm.data<float>()[j], 0.1 * mu, 1e-6);
    EXPECT_NEAR(rv.data<float>()[j], 0.9 + 0.1 * ss / 7, 1e-6);  // unbiased, as PyTorch
  }
  // Eval mode is the fixed affine map of the running statistics.
  Tensor rm2 = rm.Clone(), rv2 = rv.Clone();
  ExpectOk(CheckOp({x, Rand({5}, 12), Rand({5}, 13)},
                   [&](const std::vector<Var>& v) { return BatchNorm(v[0], v[1], v[2], rm2, rv2, false); },
                   [&](const std::vector<Vec>& x) {
                     Vec y(x[0].size());
                     for (int r = 0; r < 8; ++r)
                       for (int j = 0; j < 5; ++j)
                         y[r * 5 + j] = (x[0][r * 5 + j] - rm.data<float>()[j]) /
                                            std::sqrt(rv.data<float>()[j] + 1e-5) * x[1][j] + x[2][j];
                     return y;
                   }));
}

TEST(NnTest, EmbeddingPositionsCls) {
  const std::vector<int32_t> tok = {3, 0, 3, 1, 2, 2};
  ExpectOk(CheckOp({Rand({4, 3}, 14), Rand({5, 3}, 15), Rand({3}, 16)},
                   [&](const std::vector<Var>& v) {
                     return PrependRow(AddPositions(Embedding(tok.data(), 2, 3, v[0]), v[1]), v[2]);
                   },
                   [&](const std::vector<Vec>& x) {
                     Vec y(2 * 4 * 3);
                     for (int b = 0; b < 2; ++b)
                       for (int j = 0; j < 3; ++j) {
                         y[(b * 4) * 3 + j] = x[2][j];
                         for (int t = 0; t < 3; ++t)
                           y[(b * 4 + 1 + t) * 3 + j] = x[0][tok[b * 3 + t] * 3 + j] + x[1][t * 3 + j];
                       }
                     return y;
                   }));
}

TEST(NnTest, PoolingConcatSlice) {
  const int32_t lens[2] = {2, 3};
  // MulChannel with a proper [H] scale, and ConcatFirst/SliceFirst round trip.
  ExpectOk(CheckOp({Rand({2, 3, 4}, 18), Rand({4}, 19)},
                   [&](const std::vector<Var>& v) {
                     Var p = MeanPool(v[0], lens);
                     Var s = SelectRow(MulChannel(v[0], v[1]), 2);
                     Var both = ConcatFirst(p, s);
                     return ConcatLast({SliceFirst(both, 1, 4), SliceFirst(both, 0, 3)});
                   },
                   [&](const std::vector<Vec>& x) {
                     Vec both(4 * 4);
                     for (int b = 0; b < 2; ++b)
                       for (int j = 0; j < 4; ++j) {
                         double s = 0;
                         for (int t = 0; t < lens[b]; ++t) s += x[0][(b * 3 + t) * 4 + j];
                         both[b * 4 + j] = s / lens[b];
                         both[(2 + b) * 4 + j] = x[0][(b * 3 + 2) * 4 + j] * x[1][j];
                       }
                     Vec y(3 * 8);
                     for (int r = 0; r < 3; ++r)
                       for (int j = 0; j < 4; ++j) {
                         y[r * 8 + j] = both[(r + 1) * 4 + j];
                         y[r * 8 + 4 + j] = both[r * 4 + j];
                       }
                     return y;
                   }));
}

TEST(NnTest, CrossEntropy) {
  const int32_t labels[3] = {1, 0, 3};
  ExpectOk(CheckOp({Rand({3, 4}, 20, 2.0f)},
                   [&](const std::vector<Var>& v) { return CrossEntropy(v[0], labels); },
                   [&](const std::vector<Vec>& x) {
                     double loss = 0;
                     for (int b = 0; b < 3; ++b) {
                       double s = 0;
                       for (int j = 0; j < 4; ++j) s += std::exp(x[0][b * 4 + j]);
                       loss += std::log(s) - x[0][b * 4 + labels[b]];
                     }
                     return Vec{loss / 3};
                   }));
}

TEST(NnTest, DropoutTiedMaskSharedOverLength) {
  Tensor x = Tensor::Full({2, 50, 8}, 1.0f);
  Var y = Dropout(Var(x), 0.5f, 123, /*tied=*/true);
  const float* p = y.value().data<float>();
  int zeros = 0;
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < 8; ++h) {
      const float first = p[(b * 50) * 8 + h];
      EXPECT_TRUE(first == 0.0f || first == 2.0f);
      zeros += first == 0.0f;
      for (int t = 1; t < 50; ++t) EXPECT_EQ(p[(b * 50 + t) * 8 + h], first);
    }
  EXPECT_GT(zeros, 0);
  EXPECT_LT(zeros, 16);
  // Untied: about half of 800 elements dropped (binomial sd ~14; 6 sd margins).
  Var z = Dropout(Var(x), 0.5f, 123, false);
  int dropped = 0;
  for (int i = 0; i < 800; ++i) dropped += z.value().data<float>()[i] == 0.0f;
  EXPECT_NEAR(dropped, 400, 85);
}

TEST(NnTest, FftConvCausalAndBidirectional) {
  for (bool bidir : {false, true}) {
    const int B = 2, L = 5, H = 3;
    ExpectOk(CheckOp({Rand({B, L, H}, 21), Rand({bidir ? 2 : 1, H, L}, 22)},
                     [&](const std::vector<Var>& v) { return FftConv(v[0], v[1], bidir); },
                     [&](const std::vector<Vec>& x) {
                       Vec y(B * L * H, 0.0);
                       for (int b = 0; b < B; ++b)
                         for (int t = 0; t < L; ++t)
                           for (int h = 0; h < H; ++h)
                             for (int s = 0; s < L; ++s) {
                               const double u = x[0][(b * L + s) * H + h];
                               if (s <= t) y[(b * L + t) * H + h] += x[1][h * L + t - s] * u;
                               else if (bidir) y[(b * L + t) * H + h] += x[1][(H + h) * L + s - t - 1] * u;
                             }
                       return y;
                     }),
             5e-5);
  }
}

TEST(NnTest, AttentionDenseAndBlockedWithPadding) {
  const int B = 2, L = 5, heads = 2, d = 3, W = heads * d;
  const int32_t lens[2] = {5, 3};
  for (bool blocked : {false, true}) {
    ExpectOk(CheckOp({Rand({B, L, W}, 23), Rand({B, L, W}, 24), Rand({B, L, W}, 25)},
                     [&](const std::vector<Var>& v) {
                       return Attention(v[0], v[1], v[2], heads, lens, false, blocked);
                     },
                     [&](const std::vector<Vec>& x) {
                       Vec y(B * L * W, 0.0);
                       for (int b = 0; b < B; ++b)
                         for (int hh = 0; hh < heads; ++hh)
                           for (int i = 0; i < L; ++i) {
                             std::vector<double> s(lens[b]);
                             double mx = -1e300, z = 0;
                             for (int j = 0; j < lens[b]; ++j) {
                               double dot = 0;
                               for (int e = 0; e < d; ++e)
                                 dot += x[0][(b * L + i) * W + hh * d + e] * x[1][(b * L + j) * W + hh * d + e];
                               s[j] = dot / std::sqrt(double(d));
                               mx = std::max(mx, s[j]);
                             }
                             for (double& v : s) z += (v = std::exp(v - mx));
                             for (int j = 0; j < lens[b]; ++j)
                               for (int e = 0; e < d; ++e)
                                 y[(b * L + i) * W + hh * d + e] += s[j] / z * x[2][(b * L + j) * W + hh * d + e];
                           }
                       return y;
                     }),
             5e-5);
  }
}

}  // namespace
}  // namespace lra::models::nn

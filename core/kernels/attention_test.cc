#include "core/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace lra {
namespace kernels {
namespace {

constexpr double kEpsF32 = 1.1920928955078125e-07;  // 2^-23

// Double-precision reference: values and a first-order rounding-error bound for every output
// of the float kernels, from a running-error analysis (each quantity's bound is propagated
// through the same formula the kernels evaluate):
//   scores:  |ds_ij| <= e_ij = d eps scale sum_c |q_ic||k_jc|          (length-d dot, gamma_d)
//   probs:   relative error of P_ij <= rho_i = 2 max_j e_ij + (2L + 2d + 16) eps
//            (score error, the row max's error, the exp approximation ~2 ulp, the length-L
//             normaliser sum and the blocked kernel's <= L rescalings by alpha)
//   out_ic:  rho_i sum_j P_ij |v_jc|
//   dv_jc:   sum_i rho_i P_ij |dO_ic|
//   dP_ij:   d eps a_ij, a_ij = sum_c |dO_ic||v_jc|  (covered by rho_i a_ij)
//   D_i:     dD_i = d eps sum_c |dO_ic||O_ic| + sum_c |dO_ic| tol(out_ic)
//   dS_ij:   t_ij = P_ij (rho_i (a_ij + |D|_i) + dD_i)
//   dq_ic:   scale sum_j (t_ij + (L + 2) eps P_ij (a_ij + |D|_i)) |k_jc|, dk symmetric in q.
// Tolerances are kSafety times these first-order bounds.
constexpr double kSafety = 2.0;

struct Grads {
  std::vector<double> out, dq, dk, dv;          // values
  std::vector<double> tout, tdq, tdk, tdv;      // error bounds for the float kernels
};

struct Inputs {
  AttentionShape s;
  std::vector<float> q, k, v, dout;
  std::vector<int> lengths;  // empty: no padding
  const int* lens() const { return lengths.empty() ? nullptr : lengths.data(); }
};

Grads Reference(const Inputs& in) {
  const AttentionShape& s = in.s;
  const int L = s.length, d = s.head_dim, H = s.heads;
  const size_t n = static_cast<size_t>(s.batch) * L * H * d;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const double eps = kEpsF32;
  Grads g;
  for (auto* x : {&g.out, &g.dq, &g.dk, &g.dv, &g.tout, &g.tdq, &g.tdk, &g.tdv}) x->assign(n, 0);
  auto at = [&](int b, int i, int h, int c) {
    return ((static_cast<size_t>(b) * L + i) * H + h) * d + c;
  };
  for (int b = 0; b < s.batch; ++b) {
    const int len = in.lengths.empty() ? L : in.lengths[b];
    for (int h = 0; h < H; ++h) {
      std::vector<double> p(static_cast<size_t>(L) * L, 0), rho(L, 0), dvec(L, 0), dabs(L, 0),
          dd(L, 0), a(static_cast<size_t>(L) * L, 0), ds(static_cast<size_t>(L) * L, 0),
          t(static_cast<size_t>(L) * L, 0), dsabs(static_cast<size_t>(L) * L, 0);
      for (int i = 0; i < L; ++i) {
        const int vis = s.causal ? std::min(i + 1, len) : len;
        if (vis == 0) continue;
        double mx = -INFINITY, emax = 0;
        for (int j = 0; j < vis; ++j) {
          double dot = 0, adot = 0;
          for (int c = 0; c < d; ++c) {
            dot += static_cast<double>(in.q[at(b, i, h, c)]) * in.k[at(b, j, h, c)];
            adot += std::fabs(static_cast<double>(in.q[at(b, i, h, c)]) * in.k[at(b, j, h, c)]);
          }
          p[static_cast<size_t>(i) * L + j] = scale * dot;
          mx = std::max(mx, scale * dot);
          emax = std::max(emax, d * eps * scale * adot);
        }
        double sum = 0;
        for (int j = 0; j < vis; ++j) {
          double& pij = p[static_cast<size_t>(i) * L + j];
          pij = std::exp(pij - mx);
          sum += pij;
        }
        for (int j = 0; j < vis; ++j) p[static_cast<size_t>(i) * L + j] /= sum;
        rho[i] = 2 * emax + (2.0 * L + 2.0 * d + 16) * eps;
      }
      for (int i = 0; i < L; ++i)
        for (int c = 0; c < d; ++c) {
          double o = 0, to = 0;
          for (int j = 0; j < L; ++j) {
            double pij = p[static_cast<size_t>(i) * L + j];
            o += pij * in.v[at(b, j, h, c)];
            to += pij * std::fabs(in.v[at(b, j, h, c)]);
          }
          g.out[at(b, i, h, c)] = o;
          g.tout[at(b, i, h, c)] = kSafety * rho[i] * to;
        }
      for (int i = 0; i < L; ++i) {
        for (int c = 0; c < d; ++c) {
          double dO = in.dout[at(b, i, h, c)];
          dvec[i] += dO * g.out[at(b, i, h, c)];
          dabs[i] += std::fabs(dO * g.out[at(b, i, h, c)]);
          dd[i] += std::fabs(dO) * g.tout[at(b, i, h, c)];
        }
        dd[i] += d * eps * dabs[i];
        for (int j = 0; j < L; ++j) {
          size_t ij = static_cast<size_t>(i) * L + j;
          double dp = 0, adp = 0;
          for (int c = 0; c < d; ++c) {
            dp += static_cast<double>(in.dout[at(b, i, h, c)]) * in.v[at(b, j, h, c)];
            adp += std::fabs(static_cast<double>(in.dout[at(b, i, h, c)]) * in.v[at(b, j, h, c)]);
          }
          a[ij] = adp;
          ds[ij] = p[ij] * (dp - dvec[i]);
          dsabs[ij] = p[ij] * (adp + dabs[i]);
          t[ij] = p[ij] * (rho[i] * (adp + dabs[i]) + dd[i]) + (L + 2.0) * eps * dsabs[ij];
        }
      }
      for (int c = 0; c < d; ++c) {
        for (int i = 0; i < L; ++i) {
          double acc = 0, tol = 0;
          for (int j = 0; j < L; ++j) {
            size_t ij = static_cast<size_t>(i) * L + j;
            acc += ds[ij] * in.k[at(b, j, h, c)];
            tol += t[ij] * std::fabs(in.k[at(b, j, h, c)]);
          }
          g.dq[at(b, i, h, c)] = scale * acc;
          g.tdq[at(b, i, h, c)] = kSafety * scale * tol;
        }
        for (int j = 0; j < L; ++j) {
          double acck = 0, tolk = 0, accv = 0, tolv = 0;
          for (int i = 0; i < L; ++i) {
            size_t ij = static_cast<size_t>(i) * L + j;
            acck += ds[ij] * in.q[at(b, i, h, c)];
            tolk += t[ij] * std::fabs(in.q[at(b, i, h, c)]);
            accv += p[ij] * in.dout[at(b, i, h, c)];
            tolv += rho[i] * p[ij] * std::fabs(in.dout[at(b, i, h, c)]);
          }
          g.dk[at(b, j, h, c)] = scale * acck;
          g.tdk[at(b, j, h, c)] = kSafety * scale * tolk;
          g.dv[at(b, j, h, c)] = accv;
          g.tdv[at(b, j, h, c)] = kSafety * tolv;
        }
      }
    }
  }
  return g;
}

Inputs MakeInputs(AttentionShape s, std::vector<int> lengths, uint32_t seed) {
  Inputs in;
  in.s = s;
  in.lengths = std::move(lengths);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const size_t n = static_cast<size_t>(s.batch) * s.length * s.heads * s.head_dim;
  for (auto* x : {&in.q, &in.k, &in.v, &in.dout}) {
    x->resize(n);
    for (float& f : *x) f = dist(rng);
  }
  // Larger q makes the softmax peaked (scores of several units), which exercises the max
  // subtraction and the online rescaling.
  for (float& f : in.q) f *= 2.0f;
  return in;
}

struct Result {
  std::vector<float> out, dq, dk, dv;
};

Result RunBoth(Attention* att, const Inputs& in) {
  const size_t n = in.q.size();
  Result r;
  for (auto* x : {&r.out, &r.dq, &r.dk, &r.dv}) x->assign(n, 12345.0f);  // poison
  std::vector<float> saved(att->SavedFloats(in.s), 12345.0f);
  att->Forward(in.s, in.q.data(), in.k.data(), in.v.data(), in.lens(), r.out.data(),
               saved.data());
  att->Backward(in.s, in.q.data(), in.k.data(), in.v.data(), in.lens(), r.out.data(),
                saved.data(), in.dout.data(), r.dq.data(), r.dk.data(), r.dv.data());
  return r;
}

void ExpectClose(const std::vector<float>& got, const std::vector<double>& want,
                 const std::vector<double>& tol, double scale_tol, const char* what) {
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], scale_tol * tol[i]) << what << " at flat index " << i;
  }
}

struct Case {
  int batch, length, heads, dim;
  bool causal;
  std::vector<int> lengths;
  int qblock, kblock;
};

class AttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionTest, DenseAndBlockedMatchReference) {
  const Case& c = GetParam();
  Inputs in = MakeInputs(AttentionShape{c.batch, c.length, c.heads, c.dim, c.causal}, c.lengths,
                         17 + c.length);
  Grads ref = Reference(in);
  Attention dense(AttentionOptions{AttentionAlgorithm::kDense, 64, 64});
  Attention blocked(AttentionOptions{AttentionAlgorithm::kBlocked, c.qblock, c.kblock});
  Result rd = RunBoth(&dense, in), rb = RunBoth(&blocked, in);
  for (const Result* r : {&rd, &rb}) {
    const char* name = r == &rd ? "dense" : "blocked";
    SCOPED_TRACE(name);
    ExpectClose(r->out, ref.out, ref.tout, 1.0, "out");
    ExpectClose(r->dq, ref.dq, ref.tdq, 1.0, "dq");
    ExpectClose(r->dk, ref.dk, ref.tdk, 1.0, "dk");
    ExpectClose(r->dv, ref.dv, ref.tdv, 1.0, "dv");
  }
  // Dense and blocked each lie within tol of the exact value, hence within 2 tol of each other.
  std::vector<double> outd(rd.out.begin(), rd.out.end()), dqd(rd.dq.begin(), rd.dq.end()),
      dkd(rd.dk.begin(), rd.dk.end()), dvd(rd.dv.begin(), rd.dv.end());
  ExpectClose(rb.out, outd, ref.tout, 2.0, "blocked vs dense out");
  ExpectClose(rb.dq, dqd, ref.tdq, 2.0, "blocked vs dense dq");
  ExpectClose(rb.dk, dkd, ref.tdk, 2.0, "blocked vs dense dk");
  ExpectClose(rb.dv, dvd, ref.tdv, 2.0, "blocked vs dense dv");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionTest,
    ::testing::Values(
        Case{1, 1, 1, 4, false, {}, 64, 64},           // L = 1
        Case{2, 1, 2, 3, true, {1, 0}, 4, 4},          // L = 1, fully masked batch
        Case{2, 7, 3, 5, false, {}, 64, 64},           // odd L, one block
        Case{2, 7, 3, 5, true, {}, 2, 3},              // odd L, blocks not dividing L
        Case{3, 37, 2, 8, false, {37, 11, 0}, 8, 16},  // padding, fully masked batch
        Case{3, 37, 2, 8, true, {20, 37, 1}, 16, 8},   // causal + padding
        Case{2, 130, 4, 16, false, {}, 64, 64},        // L not a multiple of the block
        Case{2, 130, 4, 16, true, {100, 130}, 64, 32},
        Case{1, 200, 2, 32, false, {}, 64, 64}));

// Central finite differences of the double forward (loss = <out, dout>) against both float
// kernels' gradients, on a tiny case with padding and causality. With step h = 2^-13 the
// truncation error h^2/6 |f'''| (f''' of order 10 here) is about 2e-8 and the rounding
// eps_f64 |f| / h about 1e-11; 1e-6 is allowed for them on top of the float tolerance.
TEST(AttentionGradTest, BackwardMatchesFiniteDifferences) {
  for (bool causal : {false, true}) {
    Inputs in = MakeInputs(AttentionShape{2, 5, 2, 3, causal}, {3, 5}, causal ? 3 : 4);
    Grads ref = Reference(in);
    auto loss = [&](const Inputs& x) {
      Grads g = Reference(x);
      double l = 0;
      for (size_t i = 0; i < g.out.size(); ++i) l += g.out[i] * x.dout[i];
      return l;
    };
    // The reference reads float inputs, so the perturbed points must be exact floats: the step
    // is a power of two, and keep +- 2^-13 is exact for |keep| < 2^10 (inputs are N(0, 4)).
    const double step = 1.0 / 8192;  // 1.2e-4
    for (AttentionAlgorithm alg : {AttentionAlgorithm::kDense, AttentionAlgorithm::kBlocked}) {
      Attention att(AttentionOptions{alg, 2, 2});
      Result r = RunBoth(&att, in);
      struct Target {
        std::vector<float> Inputs::*field;
        const std::vector<float>* grad;
        const std::vector<double>* tol;
        const char* name;
      };
      for (const Target& tg : {Target{&Inputs::q, &r.dq, &ref.tdq, "dq"},
                               Target{&Inputs::k, &r.dk, &ref.tdk, "dk"},
                               Target{&Inputs::v, &r.dv, &ref.tdv, "dv"}}) {
        for (size_t i = 0; i < in.q.size(); ++i) {
          Inputs x = in;
          const float keep = (x.*tg.field)[i];
          (x.*tg.field)[i] = keep + static_cast<float>(step);
          const double fp = loss(x);
          (x.*tg.field)[i] = keep - static_cast<float>(step);
          const double fm = loss(x);
          const double fd = (fp - fm) / (2 * step);
          EXPECT_NEAR((*tg.grad)[i], fd, (*tg.tol)[i] + 1e-6)
              << tg.name << " index " << i << (causal ? " causal" : "")
              << (alg == AttentionAlgorithm::kDense ? " dense" : " blocked");
        }
      }
    }
  }
}

TEST(AttentionWorkspaceTest, WorkspaceIsReusedAndBlockedIsLinearInL) {
  Inputs in = MakeInputs(AttentionShape{2, 96, 2, 8, false}, {}, 3);
  Attention blocked(AttentionOptions{AttentionAlgorithm::kBlocked, 32, 32});
  RunBoth(&blocked, in);
  const int64_t bytes = blocked.WorkspaceBytes();
  RunBoth(&blocked, in);
  EXPECT_EQ(blocked.WorkspaceBytes(), bytes);
  EXPECT_EQ(blocked.SavedFloats(in.s), 2 * 2 * 96);
  Attention dense(AttentionOptions{AttentionAlgorithm::kDense, 32, 32});
  EXPECT_EQ(dense.SavedFloats(in.s), 2 * 2 * 96 * 96);
}

}  // namespace
}  // namespace kernels
}  // namespace lra

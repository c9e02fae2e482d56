#include "core/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

#include "core/kernels/onednn/gemm.h"
#include "core/kernels/philox.h"
#include "gtest/gtest.h"
#include "omp.h"

namespace lra {
namespace kernels {
namespace {

constexpr double kEpsF32 = 1.1920928955078125e-07;  // 2^-23

// Double-precision reference: values and a first-order rounding-error bound for every output
// of the float kernels, from a running-error analysis (each quantity's bound is propagated
// through the same formula the kernels evaluate):
//   scores:  |ds_ij| <= e_ij = d eps scale sum_c |q_ic||k_jc|          (length-d dot, gamma_d)
//   probs:   relative error of P_ij <= rho_i = 2 max_j e_ij + (2L + 2d + 18) eps
//                                              + (eps / 2) (max_j |s_ij| + (d + 4) |lse_i|)
//            (score error, the row max's error, the exp approximation ~2 ulp, the length-L
//             normaliser sum, the blocked kernel's <= L rescalings by alpha, and 2 eps for the
//             dropout scale 1/(1-p) and its product; the last term is the register-tiled
//             kernel's log2-unit exponent (attention.cc, Exp2Finite), an absolute error in the
//             exponent, so a relative one in P: the rounded factor 1/sqrt(d) log2 e in the packed
//             keys moves s_ij - lse_i by up to (eps / 2)(|s_ij| + |lse_i|); the backward's score
//             accumulators start at -lse_i (log2 units), so their d roundings act at magnitude
//             up to |lse_i| (d (eps / 2) |lse_i|); and lse_i is rounded three times between the
//             forward's log2 sum and the backward (3 (eps / 2) |lse_i|))
//   With dropout, P~_ij = M_ij P_ij / (1 - p) (M regenerated here from the documented Philox
//   counter) has the same relative error rho_i; below, P~ = P when dropout is off.
//   out_ic:  rho_i sum_j P~_ij |v_jc|
//   dv_jc:   sum_i rho_i P~_ij |dO_ic|
//   dP~_ij:  d eps a_ij, a_ij = sum_c |dO_ic||v_jc|  (covered by rho_i a_ij; the tiled kernel
//            packs scale v (one more rounding) and starts the sums at -scale D_i, whose d
//            roundings at magnitude scale |D_i| the P_ij rho_i |D|_i term of t_ij covers)
//   D_i:     dD_i = d eps sum_c |dO_ic||O_ic| + sum_c |dO_ic| tol(out_ic)
//   dS_ij = P~_ij dP~_ij - P_ij D_i:
//            t_ij = P~_ij rho_i a_ij + P_ij (rho_i |D|_i + dD_i) + (L + 2) eps (P~ a + P |D|)_ij
//   dq_ic:   scale sum_j t_ij |k_jc|, dk symmetric in q.
// Tolerances are kSafety times these first-order bounds.
//
// The bf16 products (Attention::Bf16: scores, P V, and backward's scores, dP = dO V^T, dQ += dS
// K, dV += P~^T dO and dK += dS^T Q)
// round each operand to bfloat16 first, relative error <= u = 2^-8 (8 significant bits, round
// to nearest even), and sum the exact products in fp32. A product of two rounded operands is
// off by a relative (1 + d1)(1 - d2) - 1 <= 2u + u^2 =: pu, so a d-term dot product gains
// pu sum_c |x_c||y_c| on top of its fp32 bound d eps sum_c |x_c||y_c|:
//   scores:  e_ij = (d eps + pu) scale sum_c |q_ic||k_jc|      (rho_i follows as above)
//   out_ic:  the P~ V product's rounded P~ and v add pu sum_j P~_ij |v_jc|: (rho_i + pu) ...
//   dP~_ij:  (d eps + pu) a_ij; the pu a_ij part is added to t_ij (times P~_ij)
//   dq_ic:   the dS K product's rounded dS and k add pu scale sum_j |dS_ij||k_jc|: pu times
//            the bound (P~ a + P |D|)_ij on |dS_ij| is added to t_ij
//   dk_jc:   the dS^T Q product's rounded dS and q add pu scale sum_i |dS_ij||q_ic|: the same
//            pu (P~ a + P |D|)_ij term of t_ij, which dk's bound already sums against |q_ic|
//   dv_jc:   the P~^T dO product's rounded P~ and dO add pu sum_i P~_ij |dO_ic|: rho_i + pu
//            in place of rho_i, as for out
// Reference(in, u) uses these bounds (u = 0: fp32 operands, the bounds above).
constexpr double kSafety = 2.0;

struct Grads {
  std::vector<double> out, dq, dk, dv;          // values
  std::vector<double> tout, tdq, tdk, tdv;      // error bounds for the float kernels
};

struct Inputs {
  AttentionShape s;
  std::vector<float> q, k, v, dout;
  std::vector<int> lengths;          // empty: no padding
  std::vector<uint8_t> key_mask;     // empty: none
  AttentionDropout drop;
  const int* lens() const { return lengths.empty() ? nullptr : lengths.data(); }
  const uint8_t* mask() const { return key_mask.empty() ? nullptr : key_mask.data(); }
};

// M_ij as attention.h documents it, computed one key at a time (the kernel generates whole
// chunks of blocks and tiles by key block; this does neither).
bool Keep(const AttentionDropout& drop, int b, int h, int i, int j) {
  if (drop.rate == 0.0f) return true;
  uint32_t w[4];
  Philox4x32(static_cast<uint32_t>(j / 4), static_cast<uint32_t>(i), static_cast<uint32_t>(h),
             static_cast<uint32_t>(b), static_cast<uint32_t>(drop.seed),
             static_cast<uint32_t>(drop.seed >> 32), w);
  const double threshold = std::round(static_cast<double>(drop.rate) * 4294967296.0);
  return w[j % 4] >= threshold;
}

Grads Reference(const Inputs& in, double operand_u = 0.0) {
  const AttentionShape& s = in.s;
  const int L = s.length, d = s.head_dim, H = s.heads;
  const size_t n = static_cast<size_t>(s.batch) * L * H * d;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const double eps = kEpsF32;
  const double pu = 2 * operand_u + operand_u * operand_u;  // a rounded-operand product
  Grads g;
  for (auto* x : {&g.out, &g.dq, &g.dk, &g.dv, &g.tout, &g.tdq, &g.tdk, &g.tdv}) x->assign(n, 0);
  auto at = [&](int b, int i, int h, int c) {
    return ((static_cast<size_t>(b) * L + i) * H + h) * d + c;
  };
  for (int b = 0; b < s.batch; ++b) {
    const int len = in.lengths.empty() ? L : in.lengths[b];
    // Position t is valid (an unmasked query and key) inside the length where the mask is set.
    auto valid = [&](int t) {
      return t < len && (in.key_mask.empty() || in.key_mask[static_cast<size_t>(b) * L + t] != 0);
    };
    const double drop_scale = 1.0 / (1.0 - static_cast<double>(in.drop.rate));
    for (int h = 0; h < H; ++h) {
      std::vector<double> p(static_cast<size_t>(L) * L, 0), pt(static_cast<size_t>(L) * L, 0),
          rho(L, 0), dvec(L, 0), dabs(L, 0), dd(L, 0), a(static_cast<size_t>(L) * L, 0),
          ds(static_cast<size_t>(L) * L, 0), t(static_cast<size_t>(L) * L, 0);
      for (int i = 0; i < L; ++i) {
        if (!valid(i)) {
          // flax: a masked query's scores are all -1e10, so P is 1/L over every key. The
          // float kernels round 1/L (eps/2) and sum L terms in the PV product (L eps), and
          // the dropout scale adds 2 eps.
          for (int j = 0; j < L; ++j) {
            const size_t ij = static_cast<size_t>(i) * L + j;
            p[ij] = 1.0 / L;
            pt[ij] = Keep(in.drop, b, h, i, j) ? p[ij] * drop_scale : 0.0;
          }
          rho[i] = (L + 4.0) * eps;
          continue;
        }
        const int vis = s.causal ? std::min(i + 1, len) : len;
        double mx = -INFINITY, emax = 0, smax = 0;
        for (int j = 0; j < vis; ++j) {
          if (!valid(j)) continue;
          double dot = 0, adot = 0;
          for (int c = 0; c < d; ++c) {
            dot += static_cast<double>(in.q[at(b, i, h, c)]) * in.k[at(b, j, h, c)];
            adot += std::fabs(static_cast<double>(in.q[at(b, i, h, c)]) * in.k[at(b, j, h, c)]);
          }
          p[static_cast<size_t>(i) * L + j] = scale * dot;
          mx = std::max(mx, scale * dot);
          smax = std::max(smax, std::fabs(scale * dot));
          emax = std::max(emax, (d * eps + pu) * scale * adot);
        }
        // A valid query sees its own key.
        double sum = 0;
        for (int j = 0; j < vis; ++j) {
          if (!valid(j)) continue;
          double& pij = p[static_cast<size_t>(i) * L + j];
          pij = std::exp(pij - mx);
          sum += pij;
        }
        for (int j = 0; j < vis; ++j) {
          if (!valid(j)) continue;
          const size_t ij = static_cast<size_t>(i) * L + j;
          p[ij] /= sum;
          pt[ij] = Keep(in.drop, b, h, i, j) ? p[ij] * drop_scale : 0.0;
        }
        const double lse = mx + std::log(sum);
        rho[i] = 2 * emax + (2.0 * L + 2.0 * d + 18) * eps +
                 eps / 2 * (smax + (d + 4.0) * std::fabs(lse));
      }
      for (int i = 0; i < L; ++i)
        for (int c = 0; c < d; ++c) {
          double o = 0, to = 0;
          for (int j = 0; j < L; ++j) {
            double pij = pt[static_cast<size_t>(i) * L + j];
            o += pij * in.v[at(b, j, h, c)];
            to += pij * std::fabs(in.v[at(b, j, h, c)]);
          }
          g.out[at(b, i, h, c)] = o;
          g.tout[at(b, i, h, c)] = kSafety * (rho[i] + pu) * to;
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
          ds[ij] = pt[ij] * dp - p[ij] * dvec[i];
          const double dsabs = pt[ij] * adp + p[ij] * dabs[i];
          t[ij] = pt[ij] * (rho[i] + pu) * adp + p[ij] * (rho[i] * dabs[i] + dd[i]) +
                  ((L + 2.0) * eps + pu) * dsabs;
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
            accv += pt[ij] * in.dout[at(b, i, h, c)];
            tolv += (rho[i] + pu) * pt[ij] * std::fabs(in.dout[at(b, i, h, c)]);
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

// Mask kinds for the tests (the mask marks queries and keys alike).
enum MaskKind {
  kNoMask = 0,
  kRandomMask = 1,      // each position masked with probability 1/3 (masked queries inside
                        // the length: rows uniform over all keys)
  kFirstAllMasked = 2,  // kRandomMask, and every position of batch 0 masked (every row of
                        // it uniform, with lengths[0] > 0)
};

Inputs MakeInputs(AttentionShape s, std::vector<int> lengths, uint32_t seed,
                  MaskKind mask = kNoMask, float drop = 0.0f) {
  Inputs in;
  in.s = s;
  in.lengths = std::move(lengths);
  in.drop = AttentionDropout{drop, 0x9E3779B97F4A7C15ull ^ seed};
  std::mt19937 rng(seed);
  if (mask != kNoMask) {
    in.key_mask.resize(static_cast<size_t>(s.batch) * s.length);
    for (uint8_t& m : in.key_mask) m = rng() % 3 != 0;
    if (mask == kFirstAllMasked) std::fill(in.key_mask.begin(), in.key_mask.begin() + s.length, 0);
  }
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
  att->Forward(in.s, in.q.data(), in.k.data(), in.v.data(), in.lens(), in.mask(), in.drop,
               r.out.data(), saved.data());
  att->Backward(in.s, in.q.data(), in.k.data(), in.v.data(), in.lens(), in.mask(), in.drop,
                r.out.data(), saved.data(), in.dout.data(), r.dq.data(), r.dk.data(),
                r.dv.data());
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
  MaskKind mask = kNoMask;
  float drop = 0.0f;
};

class AttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionTest, DenseAndBlockedMatchReference) {
  const Case& c = GetParam();
  Inputs in = MakeInputs(AttentionShape{c.batch, c.length, c.heads, c.dim, c.causal}, c.lengths,
                         17 + c.length, c.mask, c.drop);
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
        Case{1, 200, 2, 32, false, {}, 64, 64},
        // Key masks (on top of lengths), dropout, and both; key blocks of 3 and 5 start
        // dropout chunks at keys that are not multiples of 4.
        Case{1, 1, 1, 4, false, {}, 64, 64, kFirstAllMasked},         // L = 1, masked
        Case{1, 1, 1, 4, false, {}, 64, 64, kNoMask, 0.5f},          // L = 1, dropout
        Case{2, 7, 3, 5, true, {}, 2, 3, kRandomMask},
        Case{3, 37, 2, 8, false, {37, 11, 0}, 8, 16, kFirstAllMasked},
        Case{3, 37, 2, 8, true, {20, 37, 1}, 16, 5, kRandomMask, 0.1f},
        Case{2, 7, 3, 5, false, {}, 2, 3, kNoMask, 0.3f},
        Case{2, 130, 4, 16, false, {}, 64, 64, kNoMask, 0.1f},
        Case{2, 130, 4, 16, true, {100, 130}, 64, 32, kFirstAllMasked, 0.2f},
        Case{1, 300, 2, 32, false, {}, 64, 64, kRandomMask, 0.1f},
        // The register-tiled blocked kernels (key_block 64, head_dim 16, 32, 48, 64: see
        // TiledPathIsTaken; the d = 16 and 32 cases above with blocks 64, 64 run them too):
        // query blocks not a multiple of their 6-row micro-tile, L not a multiple of 64, causal,
        // padding, masks and dropout.
        Case{2, 1, 2, 16, false, {}, 64, 64},
        Case{2, 150, 2, 32, true, {150, 77}, 13, 64, kRandomMask},
        Case{3, 129, 2, 32, false, {129, 64, 0}, 64, 64, kFirstAllMasked, 0.1f},
        Case{2, 100, 1, 48, true, {}, 64, 64, kNoMask, 0.2f},
        Case{2, 70, 2, 64, false, {70, 65}, 32, 64, kRandomMask},
        // More than one group of 4 key tiles in backward, causal (whole tiles skipped).
        Case{1, 300, 2, 32, true, {290}, 48, 64},
        // Tiles every row sees unmasked (softmax and probabilities in the score epilogue)
        // with dropout.
        Case{2, 256, 2, 32, false, {}, 64, 64, kNoMask, 0.1f},
        // Padding without a key mask: full tiles past a length (keys the valid rows do not
        // see, read by the padded rows) must take the masked path.
        Case{2, 200, 2, 32, false, {200, 130}, 64, 64}));

// The cases above with key_block 64 and head_dim in {16, 32, 48, 64} run the tiled kernels on
// an AVX-512 CPU (and the sgemm-tiled blocked code elsewhere, where this test skips).
TEST(AttentionTiledTest, TiledPathIsTaken) {
  Attention tiled(AttentionOptions{AttentionAlgorithm::kBlocked, 13, 64});
  if (!tiled.Tiled(AttentionShape{1, 8, 1, 32, false})) GTEST_SKIP() << "no AVX-512";
  for (int d : {16, 32, 48, 64}) EXPECT_TRUE(tiled.Tiled(AttentionShape{2, 100, 2, d, true}));
  EXPECT_FALSE(tiled.Tiled(AttentionShape{2, 100, 2, 8, false}));   // d not a multiple of 16
  EXPECT_FALSE(tiled.Tiled(AttentionShape{2, 100, 2, 80, false}));  // d > 64
  Attention other_tile(AttentionOptions{AttentionAlgorithm::kBlocked, 64, 32});
  EXPECT_FALSE(other_tile.Tiled(AttentionShape{2, 100, 2, 32, false}));
  Attention dense(AttentionOptions{AttentionAlgorithm::kDense, 64, 64});
  EXPECT_FALSE(dense.Tiled(AttentionShape{2, 100, 2, 32, false}));
}

// Sets the matmul precision for one scope (it is process-wide) and restores fp32 after.
class ScopedBf16 {
 public:
  ScopedBf16() : ok_(onednn::SetMatmulPrecision(onednn::MatmulPrecision::kBf16).ok()) {}
  ~ScopedBf16() { (void)onednn::SetMatmulPrecision(onednn::MatmulPrecision::kF32); }
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

// The opt-in bf16 products (--matmul_precision=bf16) against the double reference with the
// bf16 bound (Reference(in, 2^-8), derived at the top of this file), on the tiled cases:
// causal, padding, masks (a fully masked batch), dropout, L not a multiple of 64 (odd too: a
// half-filled last key pair), query blocks not a multiple of 6 (odd too), head_dim 16 to 64
// with more than one key tile each (a wrong transpose or a misplaced operand pair is an O(1)
// error, far outside the bound); and the bf16 results differ from the fp32 ones (the path is
// taken) while fp32 stays the default.
TEST(AttentionBf16Test, MatchesReferenceWithinBf16Bound) {
  Attention tiled(AttentionOptions{AttentionAlgorithm::kBlocked, 64, 64});
  EXPECT_FALSE(tiled.Bf16(AttentionShape{1, 8, 1, 32, false}));  // fp32 unless asked
  ScopedBf16 bf16;
  if (!bf16.ok() || !tiled.Bf16(AttentionShape{1, 8, 1, 32, false}))
    GTEST_SKIP() << "CPU lacks AVX512-BF16 (or AVX-512): no bf16 attention products";
  EXPECT_FALSE(tiled.Bf16(AttentionShape{1, 8, 1, 8, false}));  // untiled: stays fp32
  const Case cases[] = {
      Case{2, 1, 2, 16, false, {}, 64, 64},
      Case{2, 150, 2, 32, true, {150, 77}, 13, 64, kRandomMask},
      Case{3, 129, 2, 32, false, {129, 64, 0}, 64, 64, kFirstAllMasked, 0.1f},
      Case{2, 101, 1, 48, true, {}, 64, 64, kNoMask, 0.2f},
      Case{2, 70, 2, 64, false, {70, 65}, 32, 64, kRandomMask},
      Case{1, 300, 2, 32, true, {290}, 48, 64},
      Case{2, 256, 2, 32, false, {}, 64, 64, kNoMask, 0.1f},
      Case{2, 256, 2, 32, true, {}, 64, 64},
      Case{2, 200, 2, 32, false, {200, 131}, 64, 64},
      // The packing (attention.cc): keys transposed 16 at a time (PackTransposedBf16: d = 16
      // and 48 through the half-filled transpose, a last group of 16 keys cut by L), and Q and
      // dO converted once per pair into per-block pairs of rows (odd query blocks start at odd
      // rows; more than one group of 4 key tiles).
      Case{2, 77, 2, 16, true, {77, 40}, 13, 64, kRandomMask},
      Case{1, 333, 2, 16, false, {}, 13, 64, kNoMask, 0.1f},
      Case{2, 195, 2, 64, true, {}, 48, 64},
      Case{1, 270, 1, 48, false, {270}, 7, 64, kFirstAllMasked},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "L=" << c.length << " d=" << c.dim
                                    << " causal=" << c.causal << " mask=" << c.mask
                                    << " drop=" << c.drop);
    Inputs in = MakeInputs(AttentionShape{c.batch, c.length, c.heads, c.dim, c.causal}, c.lengths,
                           17 + c.length, c.mask, c.drop);
    Attention att(AttentionOptions{AttentionAlgorithm::kBlocked, c.qblock, c.kblock});
    ASSERT_TRUE(att.Bf16(in.s));
    Grads ref = Reference(in, 1.0 / 256);  // u = 2^-8
    Result r = RunBoth(&att, in);
    ExpectClose(r.out, ref.out, ref.tout, 1.0, "out");
    ExpectClose(r.dq, ref.dq, ref.tdq, 1.0, "dq");
    ExpectClose(r.dk, ref.dk, ref.tdk, 1.0, "dk");
    ExpectClose(r.dv, ref.dv, ref.tdv, 1.0, "dv");
    if (c.length > 1) {
      (void)onednn::SetMatmulPrecision(onednn::MatmulPrecision::kF32);
      Result f = RunBoth(&att, in);
      (void)onednn::SetMatmulPrecision(onednn::MatmulPrecision::kBf16);
      EXPECT_NE(r.out, f.out);
      EXPECT_NE(r.dq, f.dq);
      EXPECT_NE(r.dk, f.dk);
      EXPECT_NE(r.dv, f.dv);
    }
  }
}

// The tiled forward raises a row's running max only when a tile's scores pass it by more than
// 8 (attention.cc, kLazyMax). Scores that climb along the keys, by about 3 per 64-key tile in
// batch 0 (the max is raised every few tiles: the terms in between reach e^8) and by 20 per
// tile in batch 1 (raised, and the row rescaled, on every tile), with and without padding,
// against the double reference and its derived tolerance.
TEST(AttentionTiledTest, RunningMaxThatRisesAcrossTiles) {
  const int L = 320, d = 32;
  for (const std::vector<int>& lengths : {std::vector<int>{}, std::vector<int>{300, 200}}) {
    Inputs in = MakeInputs(AttentionShape{2, L, 1, d, false}, lengths, 41);
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    for (int b = 0; b < 2; ++b) {
      const double per_tile = b == 0 ? 3.0 : 20.0;
      for (int t = 0; t < L; ++t)
        for (int c = 0; c < d; ++c) {
          // q_i = (1 + i / L) u and k_j = (per_tile j / 64) u / scale + noise, u = 1 / sqrt(d):
          // s_ij = (1 + i / L) per_tile j / 64 plus a perturbation of a few tenths.
          const size_t at = (static_cast<size_t>(b) * L + t) * d + c;
          in.q[at] = static_cast<float>((1.0 + t / double(L)) / std::sqrt(double(d)));
          in.k[at] = static_cast<float>(per_tile * t / 64.0 / std::sqrt(double(d)) / scale) +
                     0.1f * in.k[at];
        }
    }
    Grads ref = Reference(in);
    Attention tiled(AttentionOptions{AttentionAlgorithm::kBlocked, 64, 64});
    if (!tiled.Tiled(in.s)) GTEST_SKIP() << "no AVX-512";
    Result r = RunBoth(&tiled, in);
    // Scores 100 apart underflow: e^(s - m) below FLT_MIN = 1.2e-38 becomes 0 in the kernel
    // (ExpV) where the double reference keeps it. At most L such terms per row, each times
    // inputs of size < 10 (up to two of them: dS q, P dO), lose < 320 * 1.2e-38 * 100 < 1e-33,
    // allowed on top of the relative bound.
    const double underflow = 1e-33;
    for (auto [got, want, tol, what] :
         {std::tuple{&r.out, &ref.out, &ref.tout, "out"}, std::tuple{&r.dq, &ref.dq, &ref.tdq, "dq"},
          std::tuple{&r.dk, &ref.dk, &ref.tdk, "dk"}, std::tuple{&r.dv, &ref.dv, &ref.tdv, "dv"}})
      for (size_t i = 0; i < got->size(); ++i)
        ASSERT_NEAR((*got)[i], (*want)[i], (*tol)[i] + underflow)
            << what << " at flat index " << i << (lengths.empty() ? "" : " (padded)");
  }
}

// flax's masking, spelled out: a masked query (inside the length, or a pad position past it)
// attends uniformly to all L positions, whatever its scores; the old kernel masked keys only
// and gave a masked query inside the length a softmax over the valid keys, and a pad query 0.
TEST(AttentionMaskTest, MaskedQueryIsUniformOverAllPositions) {
  const int L = 6, d = 4;
  Inputs in = MakeInputs(AttentionShape{1, L, 1, d, false}, {4}, 29);
  in.key_mask = {1, 0, 1, 1, 1, 1};  // position 1 masked; 4 and 5 are padding
  for (AttentionAlgorithm alg : {AttentionAlgorithm::kDense, AttentionAlgorithm::kBlocked}) {
    Attention att(AttentionOptions{alg, 2, 4});
    Result r = RunBoth(&att, in);
    for (int i : {1, 4, 5})
      for (int c = 0; c < d; ++c) {
        double mean = 0, abs_sum = 0;
        for (int j = 0; j < L; ++j) {
          mean += in.v[j * d + c] / L;
          abs_sum += std::fabs(in.v[j * d + c]) / L;
        }
        // 1/L rounded (eps/2) and a sum of L terms (L eps): (L + 1) eps sum |v| / L.
        EXPECT_NEAR(r.out[i * d + c], mean, (L + 1) * kEpsF32 * abs_sum) << "row " << i;
      }
  }
}

// Central finite differences of the double forward (loss = <out, dout>) against both float
// kernels' gradients, on tiny cases with padding, causality, masks (with fully masked rows)
// and dropout. A masked query's row is uniform whatever q and k are, so its forward does not
// depend on them and its flax gradient to q and k (attention.h) is not a derivative of the
// forward: dq and dk are checked with dout = 0 on masked query rows (which removes exactly
// that term, checked against the reference in DenseAndBlockedMatchReference), dv with the full
// dout (a masked row's out = mean of all v is differentiable in v). The dropout mask M is a function of (seed, b, h, i, j) only, so it is the same
// fixed M at every perturbed point and the loss is smooth in q, k, v. With step h = 2^-13 the
// truncation error h^2/6 |f'''| (f''' of order 10 here, at most 1/(1-p) = 2 times that with
// dropout) is about 4e-8 and the rounding eps_f64 |f| / h about 1e-11; 1e-6 is allowed for them
// on top of the float tolerance.
TEST(AttentionGradTest, BackwardMatchesFiniteDifferences) {
  struct GradCase {
    AttentionShape s;
    std::vector<int> lengths;
    MaskKind mask;
    float drop;
  };
  std::vector<GradCase> cases;
  for (bool causal : {false, true}) {
    cases.push_back({AttentionShape{2, 5, 2, 3, causal}, {3, 5}, kNoMask, 0.0f});
    cases.push_back({AttentionShape{2, 5, 2, 3, causal}, {3, 5}, kRandomMask, 0.0f});
    cases.push_back({AttentionShape{2, 5, 2, 3, causal}, {3, 5}, kNoMask, 0.3f});
    cases.push_back({AttentionShape{2, 5, 2, 3, causal}, {4, 5}, kFirstAllMasked, 0.3f});
  }
  cases.push_back({AttentionShape{2, 1, 2, 3, false}, {1, 1}, kFirstAllMasked, 0.5f});  // L = 1
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const GradCase& gc = cases[ci];
    Inputs in = MakeInputs(gc.s, gc.lengths, 3 + ci, gc.mask, gc.drop);
    Inputs in_qk = in;  // dout = 0 on masked query rows
    const int L = gc.s.length, w = gc.s.heads * gc.s.head_dim;
    for (int b = 0; b < gc.s.batch; ++b)
      for (int i = 0; i < L; ++i) {
        const bool valid = i < gc.lengths[b] &&
                           (in.key_mask.empty() || in.key_mask[static_cast<size_t>(b) * L + i]);
        if (!valid)
          std::fill_n(in_qk.dout.begin() + (static_cast<size_t>(b) * L + i) * w, w, 0.0f);
      }
    Grads ref = Reference(in), ref_qk = Reference(in_qk);
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
      Result r = RunBoth(&att, in), r_qk = RunBoth(&att, in_qk);
      struct Target {
        const Inputs* base;
        std::vector<float> Inputs::*field;
        const std::vector<float>* grad;
        const std::vector<double>* tol;
        const char* name;
      };
      for (const Target& tg : {Target{&in_qk, &Inputs::q, &r_qk.dq, &ref_qk.tdq, "dq"},
                               Target{&in_qk, &Inputs::k, &r_qk.dk, &ref_qk.tdk, "dk"},
                               Target{&in, &Inputs::v, &r.dv, &ref.tdv, "dv"}}) {
        for (size_t i = 0; i < in.q.size(); ++i) {
          Inputs x = *tg.base;
          const float keep = (x.*tg.field)[i];
          (x.*tg.field)[i] = keep + static_cast<float>(step);
          const double fp = loss(x);
          (x.*tg.field)[i] = keep - static_cast<float>(step);
          const double fm = loss(x);
          const double fd = (fp - fm) / (2 * step);
          EXPECT_NEAR((*tg.grad)[i], fd, (*tg.tol)[i] + 1e-6)
              << tg.name << " index " << i << " case " << ci
              << (alg == AttentionAlgorithm::kDense ? " dense" : " blocked");
        }
      }
    }
  }
}

// Runs `att` on `in` at 1 and at 2 threads and expects the same bits in every output.
void ExpectSameBitsForOneAndTwoThreads(Attention* att, const Inputs& in) {
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  Result one = RunBoth(att, in);
  omp_set_num_threads(2);
  Result two = RunBoth(att, in);
  omp_set_num_threads(saved_threads);
  EXPECT_EQ(one.out, two.out);
  EXPECT_EQ(one.dq, two.dq);
  EXPECT_EQ(one.dk, two.dk);
  EXPECT_EQ(one.dv, two.dv);
}

// The dropout mask depends on (seed, b, h, i, j) only, and each (batch, head) pair's GEMMs run
// on one thread, so outputs and gradients are bitwise the same for any thread count.
TEST(AttentionDropoutTest, SameBitsForOneAndTwoThreads) {
  Inputs in = MakeInputs(AttentionShape{3, 70, 2, 8, false}, {70, 45, 9}, 11, kRandomMask, 0.2f);
  for (AttentionAlgorithm alg : {AttentionAlgorithm::kDense, AttentionAlgorithm::kBlocked}) {
    Attention att(AttentionOptions{alg, 16, 16});
    ExpectSameBitsForOneAndTwoThreads(&att, in);
  }
}

// The same for the register-tiled blocked kernels (d = 32, key_block 64), 3 key tiles.
TEST(AttentionDropoutTest, TiledSameBitsForOneAndTwoThreads) {
  Inputs in = MakeInputs(AttentionShape{3, 150, 2, 32, false}, {150, 100, 9}, 13, kRandomMask,
                         0.2f);
  Attention att(AttentionOptions{AttentionAlgorithm::kBlocked, 64, 64});
  ExpectSameBitsForOneAndTwoThreads(&att, in);
}

// Inverted dropout keeps the mean. With q = 0 every probability is 1/L, and with v = 1 every
// output is out_i = (1 / (L (1 - p))) sum_j M_ij, so the mean of all N = B heads L d outputs
// (d equal copies per row) is an average of n = B heads L^2 independent variables M / (1 - p)
// of mean 1 and variance p / (1 - p). Its standard deviation is sqrt(p / ((1 - p) n)); we
// allow 5 of them (a false failure has probability 6e-7, and the draw is fixed by the seed);
// the float rounding of the sums (about L eps relative) is far below that. Also: the rows
// differ (each out_i has variance p / ((1 - p) L)), and another seed gives another mask.
TEST(AttentionDropoutTest, MeanIsPreserved) {
  const float p = 0.2f;
  AttentionShape s{2, 256, 2, 4, false};
  Inputs in = MakeInputs(s, {}, 5, kNoMask, p);
  std::fill(in.q.begin(), in.q.end(), 0.0f);
  std::fill(in.v.begin(), in.v.end(), 1.0f);
  for (AttentionAlgorithm alg : {AttentionAlgorithm::kDense, AttentionAlgorithm::kBlocked}) {
    Attention att(AttentionOptions{alg, 64, 48});
    Result r = RunBoth(&att, in);
    double mean = 0, sq = 0;
    for (float o : r.out) mean += o;
    mean /= r.out.size();
    for (float o : r.out) sq += (o - mean) * (o - mean);
    const double n = static_cast<double>(s.batch) * s.heads * s.length * s.length;
    EXPECT_NEAR(mean, 1.0, 5.0 * std::sqrt(p / ((1.0 - p) * n)));
    // The sample variance of the rows, against half its expectation p / ((1 - p) L) (with
    // 1024 rows the sample variance is within 10% of it with overwhelming probability).
    EXPECT_GT(sq / r.out.size(), 0.5 * p / ((1.0 - p) * s.length));
    Inputs other = in;
    other.drop.seed += 1;
    Result r2 = RunBoth(&att, other);
    EXPECT_NE(r.out, r2.out);
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

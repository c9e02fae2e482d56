#include "core/kernels/fft_conv.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/kernels/fft.h"  // FftAllocFloats
#include "core/kernels/lane_fft_bounds.h"
#include "gtest/gtest.h"

namespace lra {
namespace kernels {
namespace {

constexpr double kEpsF32 = 1.1920928955078125e-07;  // 2^-23

// Direct O(B H L^2) convolution in double, the definition in fft_conv.h.
std::vector<double> RefForward(const ConvShape& s, const std::vector<float>& u,
                               const std::vector<float>& k) {
  const int B = s.batch, L = s.length, H = s.channels;
  std::vector<double> y(static_cast<size_t>(B) * L * H, 0.0);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int t = 0; t < L; ++t) {
        double acc = 0;
        for (int src = 0; src < L; ++src) {
          double x = u[(static_cast<size_t>(b) * L + src) * H + h];
          if (src <= t) {
            acc += static_cast<double>(k[static_cast<size_t>(h) * L + (t - src)]) * x;
          } else if (s.direction == ConvDirection::kBidirectional) {
            acc += static_cast<double>(k[(static_cast<size_t>(H) + h) * L + (src - t - 1)]) * x;
          }
        }
        y[(static_cast<size_t>(b) * L + t) * H + h] = acc;
      }
  return y;
}

// Exact gradients of <y, dy> in double, written out as correlations (independent of the FFT).
void RefBackward(const ConvShape& s, const std::vector<float>& u, const std::vector<float>& k,
                 const std::vector<float>& dy, std::vector<double>* du, std::vector<double>* dk) {
  const int B = s.batch, L = s.length, H = s.channels;
  du->assign(u.size(), 0.0);
  dk->assign(FftConv::KernelFloats(s), 0.0);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int t = 0; t < L; ++t) {
        double g = dy[(static_cast<size_t>(b) * L + t) * H + h];
        for (int src = 0; src < L; ++src) {
          size_t ui = (static_cast<size_t>(b) * L + src) * H + h;
          size_t ki;
          if (src <= t) {
            ki = static_cast<size_t>(h) * L + (t - src);
          } else if (s.direction == ConvDirection::kBidirectional) {
            ki = (static_cast<size_t>(H) + h) * L + (src - t - 1);
          } else {
            continue;
          }
          (*du)[ui] += k[ki] * g;
          (*dk)[ki] += u[ui] * g;
        }
      }
}

std::vector<float> Random(size_t n, std::mt19937* rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(*rng);
  return v;
}

// LaneFft's normwise relative error constants for size n (core/kernels/lane_fft_bounds.h): per
// lane, ||fl(F x) - F x||_2 <= ef sqrt(n/2) ||x||_2 over the bins 0..n/2, and the inverse
// within ei sqrt(n/2) ||X||_2.
double RelForward(int n) {
  return lane_fft_bounds::ForwardBound(LaneFft::Get(n), 1.0) / std::sqrt(n / 2.0);
}
double RelInverse(int n) {
  return lane_fft_bounds::InverseBound(LaneFft::Get(n), 1.0) / std::sqrt(n / 2.0);
}

// Error bound for one FFT convolution y = Inverse(fl(F a) fl(F c) / n) of a signal a with a
// kernel c (both zero-padded to n), derived from LaneFft's bounds. With A = F a (full spectrum,
// ||A||_2 = sqrt(n) ||a||_2, |A_k| <= ||a||_1) and C likewise, over the half spectrum:
//   the error of A times |C| / n:        ef sqrt(n/2) ||a||_2 ||c||_1 / n
//   |A| / n times the error of C (and the rounding of 1/n, 2u): (ef sqrt(n/2) + 2u sqrt(n))
//                                        ||a||_1 ||c||_2 / n
//   the product's rounding (2 sqrt2 u |A||C|): 2 sqrt2 u sqrt(n) ||a||_2 ||c||_1 / n;
// Inverse maps a half-spectrum error e to sqrt(2n) ||e||_2 and adds its own ei sqrt(n/2)
// ||P||_2 with ||P||_2 <= sqrt(n) ||a||_2 ||c||_1 / n. So
//   ||fl(y) - y||_inf <= ||fl(y) - y||_2 <= (ef + ei / sqrt2 + 4u) ||a||_2 ||c||_1
//                                           + (ef + 2 sqrt2 u) ||a||_1 ||c||_2,
// times 1.01 for the higher-order terms.
double ConvBound(int n, double a_norm2, double c_norm1, double a_norm1, double c_norm2) {
  const double ef = RelForward(n), ei = RelInverse(n), u = lane_fft_bounds::kU;
  return 1.01 * ((ef + ei / std::sqrt(2.0) + 4 * u) * a_norm2 * c_norm1 +
                 (ef + 2 * std::sqrt(2.0) * u) * a_norm1 * c_norm2);
}

// Norms of one (b, h) row of a [B, L, H] array and one kernel row (both halves when
// bidirectional: the two-sided kernel is their concatenation).
double RowNorm2(const std::vector<float>& x, const ConvShape& s, int b, int h) {
  double acc = 0;
  for (int t = 0; t < s.length; ++t) {
    double v = x[(static_cast<size_t>(b) * s.length + t) * s.channels + h];
    acc += v * v;
  }
  return std::sqrt(acc);
}
double RowNorm1(const std::vector<float>& x, const ConvShape& s, int b, int h) {
  double acc = 0;
  for (int t = 0; t < s.length; ++t)
    acc += std::fabs(x[(static_cast<size_t>(b) * s.length + t) * s.channels + h]);
  return acc;
}
double KernelNorm1(const std::vector<float>& k, const ConvShape& s, int h) {
  double acc = 0;
  int parts = s.direction == ConvDirection::kBidirectional ? 2 : 1;
  for (int p = 0; p < parts; ++p)
    for (int j = 0; j < s.length; ++j)
      acc += std::fabs(k[(static_cast<size_t>(p) * s.channels + h) * s.length + j]);
  return acc;
}
double KernelNorm2(const std::vector<float>& k, const ConvShape& s, int h) {
  double acc = 0;
  int parts = s.direction == ConvDirection::kBidirectional ? 2 : 1;
  for (int p = 0; p < parts; ++p)
    for (int j = 0; j < s.length; ++j) {
      double v = k[(static_cast<size_t>(p) * s.channels + h) * s.length + j];
      acc += v * v;
    }
  return std::sqrt(acc);
}

struct Case {
  int batch, length, channels;
  ConvDirection direction;
};

class FftConvTest : public ::testing::TestWithParam<Case> {};

TEST_P(FftConvTest, MatchesDirectConvolutionAndGradients) {
  const Case c = GetParam();
  ConvShape s{c.batch, c.length, c.channels, c.direction};
  std::mt19937 rng(1234 + c.length * 7 + c.channels);
  const size_t act = static_cast<size_t>(s.batch) * s.length * s.channels;
  std::vector<float> u = Random(act, &rng), dy = Random(act, &rng);
  std::vector<float> k = Random(FftConv::KernelFloats(s), &rng);
  const int n = FftConv::FftSize(s.length);

  FftConv conv;
  std::vector<float> y(act, -7.0f), du(act, -7.0f), dk(k.size(), -7.0f);
  conv.Forward(s, u.data(), k.data(), y.data());
  conv.Backward(s, u.data(), k.data(), dy.data(), du.data(), dk.data());

  std::vector<double> y_ref = RefForward(s, u, k), du_ref, dk_ref;
  RefBackward(s, u, k, dy, &du_ref, &dk_ref);

  // y and du: one convolution per (b, h) row, of u (resp. dy) with the kernel row.
  std::vector<double> dk_tol(s.channels, 0.0);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.channels; ++h) {
      const double k1 = KernelNorm1(k, s, h), k2 = KernelNorm2(k, s, h);
      const double u1 = RowNorm1(u, s, b, h), u2 = RowNorm2(u, s, b, h);
      const double dy1 = RowNorm1(dy, s, b, h), dy2 = RowNorm2(dy, s, b, h);
      double ytol = ConvBound(n, u2, k1, u1, k2);
      double dutol = ConvBound(n, dy2, k1, dy1, k2);
      // dk is a correlation of dy with u per batch (both transformed: the same bound with dy
      // as the kernel), accumulated over b in the frequency domain (B float adds of terms
      // within sqrt2 u2 dy1 after the inverse's norm map).
      dk_tol[h] += ConvBound(n, u2, dy1, u1, dy2) + 2 * s.batch * kEpsF32 * u2 * dy1;
      for (int t = 0; t < s.length; ++t) {
        size_t i = (static_cast<size_t>(b) * s.length + t) * s.channels + h;
        ASSERT_NEAR(y[i], y_ref[i], ytol) << "y b=" << b << " t=" << t << " h=" << h;
        ASSERT_NEAR(du[i], du_ref[i], dutol) << "du b=" << b << " t=" << t << " h=" << h;
      }
    }
  const int parts = s.direction == ConvDirection::kBidirectional ? 2 : 1;
  for (int p = 0; p < parts; ++p)
    for (int h = 0; h < s.channels; ++h)
      for (int j = 0; j < s.length; ++j) {
        size_t i = (static_cast<size_t>(p) * s.channels + h) * s.length + j;
        ASSERT_NEAR(dk[i], dk_ref[i], dk_tol[h]) << "dk p=" << p << " h=" << h << " j=" << j;
      }
  if (parts == 2) {
    // kb[L-1] is lag -L: never used, gradient exactly zero.
    for (int h = 0; h < s.channels; ++h)
      EXPECT_EQ(dk[(static_cast<size_t>(s.channels) + h) * s.length + s.length - 1], 0.0f);
  }

  // Adjoint identities on the float results: <y, dy> = <u, du> = <k, dk> (the map is bilinear,
  // so each equals the exact <y, dy>). Each side differs from the exact value by at most
  // sum over rows of (row error bound) * (2-norm of the other factor's row).
  double y_dy = 0, u_du = 0, k_dk = 0, bound_y = 0, bound_u = 0, bound_k = 0;
  for (size_t i = 0; i < act; ++i) {
    y_dy += static_cast<double>(y[i]) * dy[i];
    u_du += static_cast<double>(u[i]) * du[i];
  }
  for (size_t i = 0; i < k.size(); ++i) k_dk += static_cast<double>(k[i]) * dk[i];
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.channels; ++h) {
      const double k1 = KernelNorm1(k, s, h), k2 = KernelNorm2(k, s, h);
      const double u2 = RowNorm2(u, s, b, h), dy2 = RowNorm2(dy, s, b, h);
      bound_y += ConvBound(n, u2, k1, RowNorm1(u, s, b, h), k2) * std::sqrt(s.length) * dy2;
      bound_u += ConvBound(n, dy2, k1, RowNorm1(dy, s, b, h), k2) * std::sqrt(s.length) * u2;
    }
  for (int h = 0; h < s.channels; ++h)
    bound_k += dk_tol[h] * std::sqrt(parts * s.length) * KernelNorm2(k, s, h);
  EXPECT_NEAR(y_dy, u_du, bound_y + bound_u);
  EXPECT_NEAR(y_dy, k_dk, bound_y + bound_k);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FftConvTest,
    ::testing::Values(Case{1, 1, 1, ConvDirection::kCausal}, Case{3, 1, 5, ConvDirection::kCausal},
                      Case{2, 2, 3, ConvDirection::kCausal},
                      Case{2, 7, 17, ConvDirection::kCausal},
                      Case{3, 64, 33, ConvDirection::kCausal},
                      Case{2, 1000, 3, ConvDirection::kCausal},
                      Case{1, 1, 1, ConvDirection::kBidirectional},
                      Case{2, 2, 3, ConvDirection::kBidirectional},
                      Case{2, 7, 17, ConvDirection::kBidirectional},
                      Case{3, 64, 33, ConvDirection::kBidirectional},
                      Case{2, 1000, 3, ConvDirection::kBidirectional},
                      Case{1, 97, 2, ConvDirection::kBidirectional},  // 2L = 194 not smooth
                      // The 8x8 transposes of the gather/scatter: blocks of 16 and 8 channels
                      // with a scalar tail of 5 positions, and a block of 16 + 3 channels.
                      Case{2, 29, 24, ConvDirection::kCausal},
                      Case{2, 29, 24, ConvDirection::kBidirectional},
                      Case{1, 40, 19, ConvDirection::kCausal}));

// Central finite differences of the double reference (a check on the reference's gradient
// formulas, which the test above trusts), compared with the float kernel's backward. The map is
// bilinear, so the central difference has no truncation error; only rounding of order
// eps_f64 |f| / h remains, far below the float tolerance.
TEST(FftConvGradTest, BackwardMatchesFiniteDifferences) {
  for (ConvDirection dir : {ConvDirection::kCausal, ConvDirection::kBidirectional}) {
    ConvShape s{2, 5, 19, dir};  // a whole block of 16 channels and a partial one of 3
    std::mt19937 rng(99);
    const size_t act = static_cast<size_t>(s.batch) * s.length * s.channels;
    std::vector<float> u = Random(act, &rng), dy = Random(act, &rng);
    std::vector<float> k = Random(FftConv::KernelFloats(s), &rng);
    FftConv conv;
    std::vector<float> du(act), dk(k.size());
    conv.Backward(s, u.data(), k.data(), dy.data(), du.data(), dk.data());

    // The reference takes float inputs; evaluate f(x +- h) in double by perturbing a double copy.
    auto f = [&](const std::vector<double>& uu, const std::vector<double>& kk) {
      double l = 0;
      for (int b = 0; b < s.batch; ++b)
        for (int h = 0; h < s.channels; ++h)
          for (int t = 0; t < s.length; ++t)
            for (int src = 0; src < s.length; ++src) {
              double kv;
              if (src <= t) {
                kv = kk[static_cast<size_t>(h) * s.length + (t - src)];
              } else if (dir == ConvDirection::kBidirectional) {
                kv = kk[(static_cast<size_t>(s.channels) + h) * s.length + (src - t - 1)];
              } else {
                continue;
              }
              l += kv * uu[(static_cast<size_t>(b) * s.length + src) * s.channels + h] *
                   dy[(static_cast<size_t>(b) * s.length + t) * s.channels + h];
            }
      return l;
    };
    std::vector<double> ud(u.begin(), u.end()), kd(k.begin(), k.end());
    const double step = 1e-3;
    // Float kernel tolerance: ConvBound with whole-array norms, which bound every row's.
    auto norm = [](const std::vector<float>& x, bool two) {
      double acc = 0;
      for (float v : x) acc += two ? static_cast<double>(v) * v : std::fabs(v);
      return two ? std::sqrt(acc) : acc;
    };
    const int n = FftConv::FftSize(s.length);
    const double dy1 = norm(dy, false), dy2 = norm(dy, true);
    const double du_tol = ConvBound(n, dy2, norm(k, false), dy1, norm(k, true));
    const double dk_tol = ConvBound(n, dy2, norm(u, false), dy1, norm(u, true)) +
                          2 * s.batch * kEpsF32 * dy2 * norm(u, false);
    for (size_t i = 0; i < act; ++i) {
      double keep = ud[i];
      ud[i] = keep + step;
      double fp = f(ud, kd);
      ud[i] = keep - step;
      double fm = f(ud, kd);
      ud[i] = keep;
      EXPECT_NEAR(du[i], (fp - fm) / (2 * step), du_tol) << "du " << i;
    }
    for (size_t i = 0; i < k.size(); ++i) {
      double keep = kd[i];
      kd[i] = keep + step;
      double fp = f(ud, kd);
      kd[i] = keep - step;
      double fm = f(ud, kd);
      kd[i] = keep;
      EXPECT_NEAR(dk[i], (fp - fm) / (2 * step), dk_tol) << "dk " << i;
    }
  }
}

// A skipped gradient leaves its buffer untouched and the other one unchanged; a measured plan
// and a workspace that does not grow on a repeated call.
TEST(FftConvGradTest, NullGradientsAndWorkspaceReuse) {
  ConvShape s{2, 48, 20, ConvDirection::kCausal};
  std::mt19937 rng(5);
  const size_t act = static_cast<size_t>(s.batch) * s.length * s.channels;
  std::vector<float> u = Random(act, &rng), dy = Random(act, &rng);
  std::vector<float> k = Random(FftConv::KernelFloats(s), &rng);
  FftConv conv;
  std::vector<float> du(act), dk(k.size()), du2(act, 3.0f), dk2(k.size(), 3.0f), y(act);
  conv.Forward(s, u.data(), k.data(), y.data());
  conv.Backward(s, u.data(), k.data(), dy.data(), du.data(), dk.data());
  const int64_t bytes = conv.WorkspaceBytes();
  EXPECT_GT(bytes, 0);
  conv.Backward(s, u.data(), k.data(), dy.data(), du2.data(), nullptr);
  EXPECT_EQ(du, du2);
  conv.Backward(s, u.data(), k.data(), dy.data(), nullptr, dk2.data());
  EXPECT_EQ(dk, dk2);
  conv.Forward(s, u.data(), k.data(), y.data());
  EXPECT_EQ(conv.WorkspaceBytes(), bytes);
}

// The u spectra ForwardSkipGelu keeps give BackwardSkipGelu bitwise the du and dk it computes
// with its own transforms (the same plan on the same row), in both directions, with a masked
// dropout, H = 20 (tiled and scalar channels) and L = 100 (a scalar tail); the forward's outputs
// do not change either. dd then comes from the spectra (Parseval) and matches the direct sum
// within both methods' rounding bounds. Fails if a kept row is misplaced (another (b, h) row's
// spectrum).
TEST(FftConvSkipGeluTest, KeptSpectraGiveTheSameGradients) {
  for (ConvDirection dir : {ConvDirection::kCausal, ConvDirection::kBidirectional}) {
    ConvShape s{3, 100, 20, dir};
    std::mt19937 rng(11);
    // u and dy [B, L, H], the kernel, D [H] and the tied mask [B, H], in that order.
    std::vector<std::vector<float>> draws;
    for (int64_t count : {int64_t{3 * 100 * 20}, int64_t{3 * 100 * 20}, FftConv::KernelFloats(s),
                          int64_t{20}, int64_t{3 * 20}})
      draws.push_back(Random(count, &rng));
    const std::vector<float>& u = draws[0];
    const std::vector<float>& dy = draws[1];
    const std::vector<float>& k = draws[2];
    const std::vector<float>& d = draws[3];
    const std::vector<float>& mask = draws[4];
    const size_t act = u.size();
    FftConv::SkipGelu e;
    e.d = d.data();
    e.mask = mask.data();
    FftConv conv;
    float* spectra = FftAllocFloats(FftConv::SpectrumFloats(s));
    ASSERT_NE(spectra, nullptr);
    std::vector<float> g(act), y(act), g2(act), y2(act);
    conv.ForwardSkipGelu(s, u.data(), k.data(), e, g.data(), y.data());
    conv.ForwardSkipGelu(s, u.data(), k.data(), e, g2.data(), y2.data(), spectra);
    EXPECT_EQ(g, g2);
    EXPECT_EQ(y, y2);
    std::vector<float> du(act), dk(k.size()), dd(s.channels);
    std::vector<float> du2(act), dk2(k.size()), dd2(s.channels);
    conv.BackwardSkipGelu(s, u.data(), k.data(), e, g.data(), dy.data(), du.data(), dk.data(),
                          dd.data());
    conv.BackwardSkipGelu(s, u.data(), k.data(), e, g.data(), dy.data(), du2.data(), dk2.data(),
                          dd2.data(), spectra);
    EXPECT_EQ(du, du2);
    EXPECT_EQ(dk, dk2);
    // Tolerance, per channel, with S = sum_b ||dv_b|| ||u_b|| (l2 norms over l; dv = gelu'(v)
    // dy mask in double) bounding sum_b sum_l |dv u| (Cauchy-Schwarz): the direct sum's blocked
    // float adds err <= (256 + B L / 256 + 1) eps S; the spectral sum (1/n) sum_k conj(U_k) DV_k
    // over the full spectrum has, per transform, (1/n) ||dU||_2 ||DV||_2 <= ef ||u||_2 ||dv||_2
    // (LaneFft's forward bound, ConvBound's comment), two of them, plus the float accumulation
    // of conj(U) DV over the batch (B + 2) eps, the rest in double.
    const int n = FftConv::FftSize(s.length);
    for (int h = 0; h < s.channels; ++h) {
      double bound = 0;
      for (int b = 0; b < s.batch; ++b) {
        double dv2 = 0, u2 = 0;
        const double m = mask[b * s.channels + h];
        for (int l = 0; l < s.length; ++l) {
          const size_t ai = (static_cast<size_t>(b) * s.length + l) * s.channels + h;
          // g holds gelu'(v), as the forward kept it ([B, L, H] like dy).
          const double gp = g[ai];
          const double dvl = gp * dy[ai] * m;
          dv2 += dvl * dvl;
          u2 += static_cast<double>(u[ai]) * u[ai];
        }
        bound += std::sqrt(dv2 * u2);
      }
      const double rounds = 256 + s.batch * s.length / 256 + 1 +  // direct sum
                            2 * RelForward(n) / kEpsF32 + s.batch + 2;  // spectral sum
      EXPECT_NEAR(dd[h], dd2[h], rounds * kEpsF32 * bound) << "channel " << h;
    }
    // dk alone (no u rows gathered at all).
    std::vector<float> dk3(k.size(), 7.0f);
    conv.BackwardSkipGelu(s, u.data(), k.data(), e, g.data(), dy.data(), nullptr, dk3.data(),
                          nullptr, spectra);
    EXPECT_EQ(dk, dk3);
    // dd alone from the spectra: the same value as with dk (the same accumulation).
    std::vector<float> dd3(s.channels, 7.0f);
    conv.BackwardSkipGelu(s, u.data(), k.data(), e, g.data(), dy.data(), nullptr, nullptr,
                          dd3.data(), spectra);
    EXPECT_EQ(dd2, dd3);
    FftFree(spectra);
  }
}

// The channel block changes only how rows are grouped, never a row's arithmetic: blocks of 1,
// Channels run side by side, 16 to a block (lane layout): a channel's outputs and gradients
// must not depend on which other channels share its block, nor on whether the block is whole.
// Channels [8, 40) of a 40-channel call (blocks 0-15, 16-31 and a partial 32-39) against the same
// 32 channels alone (two whole blocks: each channel in another lane, with other neighbours), bit
// for bit; a mix-up of lanes, blocks or the partial block's unused lanes fails.
TEST(FftConvSkipGeluTest, ChannelsDoNotDependOnTheirBlock) {
  const int B = 2, L = 100, H = 40, lo = 8, W = H - lo;
  std::mt19937 rng(12);
  const size_t act = static_cast<size_t>(B) * L * H;
  const std::vector<float> u = Random(act, &rng), dy = Random(act, &rng);
  const ConvShape s{B, L, H, ConvDirection::kBidirectional};
  const std::vector<float> k = Random(FftConv::KernelFloats(s), &rng), d = Random(H, &rng);
  // The slice of channels [lo, H) as its own [B, L, W] problem.
  const ConvShape s2{B, L, W, ConvDirection::kBidirectional};
  auto act_slice = [&](const std::vector<float>& x) {
    std::vector<float> out(static_cast<size_t>(B) * L * W);
    for (int r = 0; r < B * L; ++r)
      for (int c = 0; c < W; ++c)
        out[static_cast<size_t>(r) * W + c] = x[static_cast<size_t>(r) * H + lo + c];
    return out;
  };
  auto kernel_slice = [&](const std::vector<float>& x) {  // [2, H, L] -> [2, W, L]
    std::vector<float> out;
    for (int dir = 0; dir < 2; ++dir)
      out.insert(out.end(), x.begin() + (static_cast<size_t>(dir) * H + lo) * L,
                 x.begin() + (static_cast<size_t>(dir) * H + H) * L);
    return out;
  };
  auto run = [&](const ConvShape& sh, const std::vector<float>& uu, const std::vector<float>& kk,
                 const std::vector<float>& dd_in, const std::vector<float>& dyy) {
    FftConv conv;
    FftConv::SkipGelu e;
    e.d = dd_in.data();
    const size_t n_act = uu.size();
    float* spectra = FftAllocFloats(FftConv::SpectrumFloats(sh));
    EXPECT_NE(spectra, nullptr);
    std::vector<float> g(n_act), y(n_act), du(n_act), dk(kk.size()), dd(sh.channels);
    conv.ForwardSkipGelu(sh, uu.data(), kk.data(), e, g.data(), y.data(), spectra);
    conv.BackwardSkipGelu(sh, uu.data(), kk.data(), e, g.data(), dyy.data(), du.data(),
                          dk.data(), dd.data(), spectra);
    FftFree(spectra);
    return std::vector<std::vector<float>>{g, y, du, dk, dd};
  };
  const std::vector<float> d2(d.begin() + lo, d.end());
  const auto whole = run(s, u, k, d, dy);
  const auto alone = run(s2, act_slice(u), kernel_slice(k), d2, act_slice(dy));
  EXPECT_EQ(act_slice(whole[0]), alone[0]) << "g";
  EXPECT_EQ(act_slice(whole[1]), alone[1]) << "y";
  EXPECT_EQ(act_slice(whole[2]), alone[2]) << "du";
  EXPECT_EQ(kernel_slice(whole[3]), alone[3]) << "dk";
  EXPECT_EQ(std::vector<float>(whole[4].begin() + lo, whole[4].end()), alone[4]) << "dd";
}

TEST(FftConvSizeTest, SevenSmoothSizes) {
  EXPECT_EQ(FftConv::FftSize(1), 4);  // LaneFft's smallest size
  EXPECT_EQ(FftConv::FftSize(7), 14);
  EXPECT_EQ(FftConv::FftSize(1000), 2000);
  EXPECT_EQ(FftConv::FftSize(1024), 2048);
  EXPECT_EQ(FftConv::FftSize(11), 24);   // 22 = 2*11 is not 7-smooth
  EXPECT_EQ(FftConv::FftSize(97), 196);  // 196 = 2^2 * 7^2
}

}  // namespace
}  // namespace kernels
}  // namespace lra

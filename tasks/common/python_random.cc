#include "tasks/common/python_random.h"

#include "absl/base/internal/raw_logging.h"

namespace lra {
namespace generators {
namespace {

// Number of bits needed to write n (Python's int.bit_length()).
int BitLength(uint64_t n) {
  int k = 0;
  while (n != 0) {
    ++k;
    n >>= 1;
  }
  return k;
}

}  // namespace

// The two seeding routines and the twist follow mt19937ar.c (2002/1/26) step for step.
void Mt19937::InitGenrand(uint32_t s) {
  mt_[0] = s;
  for (int i = 1; i < kN; ++i) {
    mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  }
  mti_ = kN;
}

void Mt19937::InitByArray(absl::Span<const uint32_t> key) {
  InitGenrand(19650218u);
  const int key_length = static_cast<int>(key.size());
  int i = 1;
  int j = 0;
  for (int k = (kN > key_length ? kN : key_length); k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] +
             static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
    if (j >= key_length) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) -
             static_cast<uint32_t>(i);
    ++i;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;  // The MSB is 1, assuring a non-zero initial array.
  mti_ = kN;
}

void Mt19937::Twist() {
  constexpr int kM = 397;
  constexpr uint32_t kMatrixA = 0x9908b0dfu;
  constexpr uint32_t kUpper = 0x80000000u;
  constexpr uint32_t kLower = 0x7fffffffu;
  int k = 0;
  for (; k < kN - kM; ++k) {
    const uint32_t y = (mt_[k] & kUpper) | (mt_[k + 1] & kLower);
    mt_[k] = mt_[k + kM] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
  }
  for (; k < kN - 1; ++k) {
    const uint32_t y = (mt_[k] & kUpper) | (mt_[k + 1] & kLower);
    mt_[k] = mt_[k + (kM - kN)] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
  }
  const uint32_t y = (mt_[kN - 1] & kUpper) | (mt_[0] & kLower);
  mt_[kN - 1] = mt_[kM - 1] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
  mti_ = 0;
}

uint32_t Mt19937::NextU32() {
  if (mti_ >= kN) Twist();
  uint32_t y = mt_[mti_++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

void PythonRandom::Seed(uint64_t seed) {
  // CPython random_seed(): the absolute value in 32-bit words, least significant first, with
  // leading zero words dropped but at least one word.
  const uint32_t lo = static_cast<uint32_t>(seed);
  const uint32_t hi = static_cast<uint32_t>(seed >> 32);
  if (hi != 0) {
    const uint32_t key[2] = {lo, hi};
    engine_.InitByArray(key);
  } else {
    const uint32_t key[1] = {lo};
    engine_.InitByArray(key);
  }
}

double PythonRandom::Random() {
  const uint32_t a = engine_.NextU32() >> 5;
  const uint32_t b = engine_.NextU32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

uint32_t PythonRandom::GetRandBits(int k) {
  ABSL_RAW_CHECK(k >= 1 && k <= 32, "GetRandBits: k must be in 1..32");
  return engine_.NextU32() >> (32 - k);
}

uint32_t PythonRandom::RandBelow(uint32_t n) {
  ABSL_RAW_CHECK(n >= 1, "RandBelow: n must be positive");
  const int k = BitLength(n);
  uint32_t r = GetRandBits(k);
  while (r >= n) r = GetRandBits(k);
  return r;
}

int64_t PythonRandom::RandInt(int64_t a, int64_t b) {
  ABSL_RAW_CHECK(b >= a && b - a < 0xffffffffLL, "RandInt: bad range");
  return a + RandBelow(static_cast<uint32_t>(b - a + 1));
}

}  // namespace generators
}  // namespace lra

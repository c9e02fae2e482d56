#include "core/optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace lra {

double LrSchedule::Factor(int64_t step) const {
  const double s = static_cast<double>(std::max<int64_t>(step, 0));
  const double warm = warmup_ > 0 ? std::min(1.0, s / warmup_) : 1.0;
  switch (kind_) {
    case Kind::kConstant:
      return warm;
    case Kind::kLraRsqrt:
    case Kind::kLraCosine: {
      // flax's optimizer step: updates made before this one.
      const double fs = std::max(s - 1.0, 0.0);
      const double lw = warmup_ > 0 ? std::min(1.0, fs / warmup_) : 1.0;
      if (kind_ == Kind::kLraRsqrt)
        return lw / std::sqrt(std::max(fs, std::max(1.0, double(warmup_))));
      const double progress = std::max(0.0, (fs - warmup_) / double(std::max<int64_t>(total_, 1)));
      return lw * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * std::fmod(progress, 1.0))));
    }
    case Kind::kS4Cosine: {
      if (step <= warmup_) return warm;
      if (step >= total_) return 0.0;
      const double t = (s - warmup_) / double(total_ - warmup_);
      return 0.5 * (1.0 + std::cos(M_PI * t));
    }
  }
  return 1.0;
}

}  // namespace lra

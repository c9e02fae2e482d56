// Learning-rate schedules as a factor applied to each parameter group's lr.
#ifndef LRA_CORE_OPTIM_SCHEDULE_H_
#define LRA_CORE_OPTIM_SCHEDULE_H_

#include <cstdint>

namespace lra {

class LrSchedule {
 public:
  enum class Kind { kConstant, kLraRsqrt, kS4Cosine };

  // factor = 1, or min(1, step / warmup) with warmup > 0.
  static LrSchedule Constant(int64_t warmup = 0) { return {Kind::kConstant, warmup, 0}; }
  // The original LRA harness ("constant * linear_warmup * rsqrt_decay"):
  //   factor = min(1, step / warmup) / sqrt(max(step, warmup)).
  // The base lr is therefore the LRA config's `learning_rate` (e.g. 0.05), not the peak lr.
  static LrSchedule LraRsqrt(int64_t warmup) { return {Kind::kLraRsqrt, warmup, 0}; }
  // The S4 repository's default: linear warmup to 1 over `warmup` steps, then cosine decay
  //   factor = 0.5 (1 + cos(pi (step - warmup) / (total - warmup))) down to 0 at `total`.
  static LrSchedule S4Cosine(int64_t warmup, int64_t total) {
    return {Kind::kS4Cosine, warmup, total};
  }

  // Factor for the `step`-th update (steps count from 1).
  double Factor(int64_t step) const;

  Kind kind() const { return kind_; }

 private:
  LrSchedule(Kind k, int64_t warmup, int64_t total) : kind_(k), warmup_(warmup), total_(total) {}
  Kind kind_;
  int64_t warmup_;
  int64_t total_;
};

}  // namespace lra

#endif  // LRA_CORE_OPTIM_SCHEDULE_H_

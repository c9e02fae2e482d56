// Learning-rate schedules as a factor applied to each parameter group's lr.
#ifndef LRA_CORE_OPTIM_SCHEDULE_H_
#define LRA_CORE_OPTIM_SCHEDULE_H_

#include <cstdint>

namespace lra {

class LrSchedule {
 public:
  enum class Kind { kConstant, kLraRsqrt, kLraCosine, kS4Cosine };

  // factor = 1, or min(1, step / warmup) with warmup > 0.
  static LrSchedule Constant(int64_t warmup = 0) { return {Kind::kConstant, warmup, 0}; }

  // The original LRA harness (google-research/long-range-arena cd31e5c,
  // lra_benchmarks/utils/train_utils.py create_learning_rate_scheduler). Its train steps call
  // the schedule with flax's optimizer.state.step, the number of updates made BEFORE this one
  // (0 for the first update, whose lr is therefore 0 under linear_warmup; image/train.py
  // train_step), so for our `step`-th update (from 1) both use s = step - 1.
  //
  // "constant * linear_warmup * rsqrt_decay" (ListOps, Text, Retrieval):
  //   factor = min(1, s / warmup) / sqrt(max(s, warmup)).
  // The base lr is therefore the LRA config's `learning_rate` (e.g. 0.05), not the peak lr.
  static LrSchedule LraRsqrt(int64_t warmup) { return {Kind::kLraRsqrt, warmup, 0}; }
  // "constant * linear_warmup * cosine_decay" (Image, Pathfinder, Path-X), with
  // steps_per_cycle = `cycle` (the configs set it to num_train_steps):
  //   progress = max(0, (s - warmup) / cycle)
  //   factor = min(1, s / warmup) * max(0, 0.5 (1 + cos(pi (progress mod 1))))
  // Progress divides by the whole cycle, not by (cycle - warmup): the lr has not reached 0 at
  // the last step (factor 0.5 (1 + cos(pi (1 - warmup / cycle)))), and past one cycle it
  // restarts at 1.
  static LrSchedule LraCosine(int64_t warmup, int64_t cycle) {
    return {Kind::kLraCosine, warmup, cycle};
  }
  // The S4 repository's default (HuggingFace get_cosine_schedule_with_warmup): linear warmup to
  // 1 over `warmup` steps, then cosine decay
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

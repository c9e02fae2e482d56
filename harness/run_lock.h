// An exclusive lock on a run folder, so that two `lra train` (or `lra suite`) processes never
// write one run's checkpoints and metrics at the same time.
//
//   LRA_ASSIGN_OR_RETURN(std::unique_ptr<RunLock> lock, RunLock::Acquire(run_dir, "train"));
//   ...   // the lock is held until `lock` is destroyed (or the process ends, however it ends)
//
// The lock is flock(LOCK_EX | LOCK_NB) on the file <run folder>/lock, which the kernel releases
// when the process exits, even on a crash or `kill -9`: a stale lock file never blocks a run.
// The holder writes who it is into the file, one `key: value` line each:
//   pid: 12345
//   host: build-vm
//   started: 2026-12-03T05:01:02Z
//   command: lra train
// The file stays after the run (unlocked); its content is only read when the lock is taken.
#ifndef LRA_HARNESS_RUN_LOCK_H_
#define LRA_HARNESS_RUN_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra::harness {

inline constexpr char kRunLockFileName[] = "lock";

class RunLock {
 public:
  // Locks `run_dir` (which must exist). FailedPreconditionError when another process holds the
  // lock, naming its pid, host, start time and command from the lock file; PermissionDenied
  // when the lock file cannot be created.
  static absl::StatusOr<std::unique_ptr<RunLock>> Acquire(const std::string& run_dir,
                                                          absl::string_view command);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace lra::harness

#endif  // LRA_HARNESS_RUN_LOCK_H_

#include "harness/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "harness/system_info.h"

namespace lra::harness {
namespace {

std::string HostName() {
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0) return "unknown";
  return host;
}

// What the holder wrote, on one line ("pid: 12345, host: ..."); bounded, in case the file is
// not ours.
std::string Holder(int fd) {
  char buf[1024];
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "a process that has not yet written its pid (it is starting)";
  std::string text(buf, static_cast<size_t>(n));
  text = std::string(absl::StripTrailingAsciiWhitespace(text));
  return absl::StrReplaceAll(text, {{"\n", ", "}});
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunLock>> RunLock::Acquire(const std::string& run_dir,
                                                          absl::string_view command) {
  const std::string path = (std::filesystem::path(run_dir) / kRunLockFileName).string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, ": cannot create the run folder's lock file (", std::strerror(errno), ")"));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    std::string holder = Holder(fd);
    ::close(fd);
    if (e != EWOULDBLOCK) {
      return absl::PermissionDeniedError(
          absl::StrCat(path, ": cannot lock (", std::strerror(e), ")"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "run folder '", run_dir, "' is in use by another lra process (", holder, "; lock file ",
        path, "). Wait for it to finish or stop it (Ctrl-C, or kill <pid>), then --resume; or "
        "pick another --run_name"));
  }
  const std::string text = absl::StrCat("pid: ", ::getpid(), "\nhost: ", HostName(),
                                        "\nstarted: ", NowRfc3339(), "\ncommand: lra ", command,
                                        "\n");
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    const int e = errno;
    ::close(fd);
    return absl::DataLossError(
        absl::StrCat(path, ": cannot write the lock file (", std::strerror(e), ")"));
  }
  return std::unique_ptr<RunLock>(new RunLock(fd));
}

RunLock::~RunLock() { ::close(fd_); }  // closing the last descriptor releases the flock

}  // namespace lra::harness

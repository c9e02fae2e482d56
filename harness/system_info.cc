#include "harness/system_info.h"

#include <fcntl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "harness/paths.h"

namespace lra::harness {
namespace {

namespace fs = std::filesystem;

// Value of "key:" in a /proc file, e.g. ProcField("/proc/self/status", "VmHWM") -> "1234 kB".
std::string ProcField(const char* file, const char* key) {
  std::ifstream in(file);
  std::string line;
  // Keys may be padded before the colon: "/proc/cpuinfo" has "model name\t: Intel ...".
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (absl::StripTrailingAsciiWhitespace(absl::string_view(line).substr(0, colon)) == key) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

int64_t KiloBytesField(const char* file, const char* key) {
  std::string v = ProcField(file, key);
  int64_t kb = 0;
  if (v.size() > 3 && absl::SimpleAtoi(v.substr(0, v.size() - 3), &kb)) return kb * 1024;
  return 0;
}

}  // namespace

std::string MachineDescription() {
  std::string cpu = ProcField("/proc/cpuinfo", "model name");
  if (cpu.empty()) cpu = "unknown CPU";
  double mem_gib = KiloBytesField("/proc/meminfo", "MemTotal") / double(1 << 30);
  utsname u{};
  std::string os = uname(&u) == 0 ? absl::StrFormat("%s %s", u.sysname, u.release) : "unknown OS";
  return absl::StrFormat("%s (%d threads), %.1f GiB, %s", cpu, sysconf(_SC_NPROCESSORS_ONLN),
                         mem_gib, os);
}

std::string SourceCommitIn(const std::string& dir) {
  // No shell: git gets `dir` as one argv entry, so quotes, `;` or `$(...)` in the path are
  // just characters of the path (a shell command line built from it could be injected).
  int fds[2];
  if (pipe(fds) != 0) return "unknown";
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return "unknown";
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    const int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) dup2(null_fd, STDERR_FILENO);
    const char* argv[] = {"git", "-C", dir.c_str(), "describe", "--always", "--dirty", nullptr};
    execvp("git", const_cast<char* const*>(argv));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  std::array<char, 128> buf{};
  while (true) {
    const ssize_t n = read(fds[0], buf.data(), buf.size());
    if (n > 0) {
      out.append(buf.data(), static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out = std::string(absl::StripAsciiWhitespace(out));
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return (ok && !out.empty()) ? out : "unknown";
}

namespace {

// What `bazel run //:install -- PREFIX` recorded beside PREFIX/bin/lra (tools/install.sh), or
// "unknown".
std::string InstalledSourceCommit() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "unknown";
  std::ifstream in(exe.parent_path().parent_path() / "share" / "lra" / "source_commit");
  std::string line;
  if (!std::getline(in, line)) return "unknown";
  line = std::string(absl::StripAsciiWhitespace(line));
  return line.empty() ? "unknown" : line;
}

}  // namespace

std::string SourceCommit() {
  const std::string tree = SourceTree();
  return tree.empty() ? InstalledSourceCommit() : SourceCommitIn(tree);
}

int64_t PeakRssBytes() { return KiloBytesField("/proc/self/status", "VmHWM"); }
int64_t CurrentRssBytes() { return KiloBytesField("/proc/self/status", "VmRSS"); }

bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

std::string NowRfc3339() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
}

}  // namespace lra::harness

// Facts about the machine and the source tree that every result records.
#ifndef LRA_HARNESS_SYSTEM_INFO_H_
#define LRA_HARNESS_SYSTEM_INFO_H_

#include <cstdint>
#include <string>

namespace lra::harness {

// "Intel(R) Xeon(R) ... (2 threads), 23.4 GiB, Linux 6.1.0"
std::string MachineDescription();

// The source this binary ran from: `git describe --always --dirty` of the source tree it runs in
// (paths.h SourceTree: `bazel run`, a test, or a directory holding lra's harness/tiers); outside
// one, the commit `bazel run //:install -- PREFIX` recorded in PREFIX/share/lra/source_commit
// beside PREFIX/bin/lra; else "unknown". A git repository that is not lra's is never described.
std::string SourceCommit();
// The same for the repository at `dir`. git runs without a shell (fork/execvp with an argv), so
// no character in `dir` can inject a command.
std::string SourceCommitIn(const std::string& dir);

// Peak resident set size of this process (VmHWM), in bytes; 0 if unavailable.
int64_t PeakRssBytes();
// Current resident set size (VmRSS), in bytes.
int64_t CurrentRssBytes();
// Resets the peak to the current RSS (Linux /proc/self/clear_refs "5"), so that a later
// PeakRssBytes() measures one phase. Returns false where the kernel does not allow it.
bool ResetPeakRss();

// RFC 3339 UTC time of now, e.g. "2026-11-29T02:41:07Z".
std::string NowRfc3339();

}  // namespace lra::harness

#endif  // LRA_HARNESS_SYSTEM_INFO_H_

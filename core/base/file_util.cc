#include "core/base/file_util.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace lra {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open for reading (", std::strerror(errno), ")"));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return buffer.str();
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat(
          path, ": cannot create folder '", target.parent_path().string(), "': ", ec.message()));
    }
  }
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid());
  FILE* f = std::fopen(temp.c_str(), "wb");
  if (f == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(temp, ": cannot open for writing (", std::strerror(errno), ")"));
  }
  const bool wrote = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
  // fflush + fsync so that the rename never publishes a file whose data is still in flight.
  const bool flushed = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!wrote || !flushed || !closed) {
    std::remove(temp.c_str());
    return absl::DataLossError(
        absl::StrCat(temp, ": write failed (", std::strerror(errno), "); is the disk full?"));
  }
  fs::rename(temp, target, ec);
  if (ec) {
    std::remove(temp.c_str());
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot rename the temporary file into place: ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveInsideRoot(const std::string& root, absl::string_view relative,
                                              absl::string_view what) {
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": path '", relative, "' ", why, "; a path in a data file must name a file inside ",
        root, " (refused, nothing read)"));
  };
  if (relative.empty()) return refuse("is empty");
  if (relative.find('\0') != absl::string_view::npos) return refuse("holds a NUL byte");
  if (relative.front() == '/') return refuse("is absolute");
  for (absl::string_view part : absl::StrSplit(relative, '/')) {
    if (part == "..") return refuse("climbs out with '..'");
  }
  std::string joined = root;
  if (!joined.empty() && joined.back() != '/') joined += '/';
  joined.append(relative.data(), relative.size());
  // Symlinks: compare real paths when the file exists (a missing file is the caller's error).
  char real_path[PATH_MAX];
  if (::realpath(joined.c_str(), real_path) == nullptr) return joined;
  char real_root[PATH_MAX];
  if (::realpath(root.c_str(), real_root) == nullptr) {
    return absl::NotFoundError(absl::StrCat(what, ": folder ", root, " cannot be resolved (",
                                            std::strerror(errno), ")"));
  }
  const std::string prefix = std::string(real_root) == "/" ? "/" : absl::StrCat(real_root, "/");
  if (std::string(real_path).rfind(prefix, 0) != 0) {
    return refuse(absl::StrCat("resolves to ", real_path, " through a symbolic link"));
  }
  return joined;
}

}  // namespace lra

#include "core/base/file_util.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

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

}  // namespace lra

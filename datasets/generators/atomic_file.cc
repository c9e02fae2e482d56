#include "datasets/generators/atomic_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace lra {
namespace generators {

absl::StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Open(const std::string& path) {
  std::string tmp_path = path + ".tmp";
  FILE* file = std::fopen(tmp_path.c_str(), "wb");
  if (file == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create ", tmp_path, ": ", std::strerror(errno),
        "; check that the output directory exists and is writable"));
  }
  return std::unique_ptr<AtomicFile>(new AtomicFile(path, std::move(tmp_path), file));
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

absl::Status AtomicFile::Write(absl::string_view bytes) {
  if (file_ == nullptr) return absl::FailedPreconditionError("write after Commit: " + path_);
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return absl::DataLossError(
        absl::StrCat("short write to ", tmp_path_, ": ", std::strerror(errno),
                     "; is the disk full?"));
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (file_ == nullptr) return absl::FailedPreconditionError("Commit twice: " + path_);
  const bool write_error = std::ferror(file_) != 0;
  const bool close_error = std::fclose(file_) != 0;
  file_ = nullptr;
  if (write_error || close_error) {
    std::remove(tmp_path_.c_str());
    return absl::DataLossError(absl::StrCat("error writing ", tmp_path_, ": ",
                                            std::strerror(errno), "; is the disk full?"));
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp_path_.c_str());
    return absl::DataLossError(
        absl::StrCat("cannot rename ", tmp_path_, " to ", path_, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status MakeDirs(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create directory ", dir, ": ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace generators
}  // namespace lra

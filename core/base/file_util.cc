#include "core/base/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace lra {
namespace {

// `what path: strerror`, with the code the errno calls for.
absl::Status ErrnoError(absl::string_view what, const std::string& path, int err,
                        absl::string_view fix = "") {
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err), fix);
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return ErrnoError("cannot open", path, errno);
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) {
    return absl::DataLossError(absl::StrCat("read error in ", path, ": ", std::strerror(err)));
  }
  return out;
}

// ------------------------------------------------------------------------------ AtomicFile

absl::StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Open(const std::string& path,
                                                             Durability durability) {
  // The pid keeps two processes that write the same path from sharing a temporary file.
  std::string temp_path = absl::StrCat(path, ".tmp.", ::getpid());
  std::FILE* file = std::fopen(temp_path.c_str(), "wbe");  // "e": O_CLOEXEC
  if (file == nullptr) {
    return ErrnoError("cannot create", temp_path, errno,
                      "; check that the folder exists and is writable");
  }
  return std::unique_ptr<AtomicFile>(
      new AtomicFile(path, std::move(temp_path), file, durability));
}

AtomicFile::AtomicFile(std::string path, std::string temp_path, std::FILE* file,
                       Durability durability)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), file_(file),
      durability_(durability) {}

AtomicFile::~AtomicFile() { Abandon(absl::OkStatus()).IgnoreError(); }

absl::Status AtomicFile::Abandon(absl::Status error) {
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
    std::remove(temp_path_.c_str());
  }
  return error;
}

absl::Status AtomicFile::Write(absl::string_view bytes) {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": write after Commit or after a failed write"));
  }
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return Abandon(absl::DataLossError(absl::StrCat("short write to ", temp_path_, ": ",
                                                    std::strerror(errno), "; is the disk full?")));
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": Commit twice or after a failed write"));
  }
  // fflush + fsync before the rename, so that the rename never publishes a file whose data is
  // still in flight (a power loss could otherwise leave `path` present but empty).
  bool ok = std::fflush(file_) == 0 && std::ferror(file_) == 0;
  if (ok && durability_ == Durability::kDurable) ok = ::fsync(::fileno(file_)) == 0;
  const int err = errno;
  if (!ok) {
    return Abandon(absl::DataLossError(absl::StrCat("error writing ", temp_path_, ": ",
                                                    std::strerror(err), "; is the disk full?")));
  }
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!closed) {
    const int close_err = errno;
    std::remove(temp_path_.c_str());
    return absl::DataLossError(absl::StrCat("error closing ", temp_path_, ": ",
                                            std::strerror(close_err), "; is the disk full?"));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int rename_err = errno;
    std::remove(temp_path_.c_str());
    return ErrnoError(absl::StrCat("cannot rename ", temp_path_, " onto"), path_, rename_err);
  }
  if (durability_ == Durability::kDurable) return SyncDir(Dirname(path_));
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 Durability durability) {
  const std::string parent = Dirname(path);
  if (absl::Status made = MakeDirs(parent); !made.ok()) {
    return absl::Status(made.code(), absl::StrCat(path, ": cannot create its folder '", parent,
                                                  "': ", made.message()));
  }
  absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Open(path, durability);
  if (!file.ok()) return file.status();
  if (absl::Status s = (*file)->Write(contents); !s.ok()) return s;
  return (*file)->Commit();
}

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open folder", dir, errno, " to fsync it");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync of folder", dir, err);
  return absl::OkStatus();
}

// ------------------------------------------------------------------------------ paths

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::StatusOr<int64_t> FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("cannot stat", path, errno);
  return static_cast<int64_t>(st.st_size);
}

absl::Status MakeDirs(const std::string& path) {
  if (path.empty() || IsDirectory(path)) return absl::OkStatus();
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    if (absl::Status parent = MakeDirs(path.substr(0, slash)); !parent.ok()) return parent;
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("cannot create folder", path, errno);
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : ErrnoError("cannot stat", path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    absl::StatusOr<std::vector<std::string>> names = ListDir(path);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      if (absl::Status s = RemoveTree(JoinPath(path, name)); !s.ok()) return s;
    }
    if (::rmdir(path.c_str()) != 0) return ErrnoError("cannot remove folder", path, errno);
    return absl::OkStatus();
  }
  if (::unlink(path.c_str()) != 0) return ErrnoError("cannot remove", path, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("cannot list folder", dir, errno);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string JoinPath(absl::string_view a, absl::string_view b) {
  if (a.empty()) return std::string(b);
  if (a.back() == '/') return absl::StrCat(a, b);
  return absl::StrCat(a, "/", b);
}

std::string Basename(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.find_last_of('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

std::string Dirname(absl::string_view path) {
  const size_t slash = path.find_last_of('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
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

// ------------------------------------------------------------------------------ LineReader

absl::StatusOr<LineReader> LineReader::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (f == nullptr) return ErrnoError("cannot open", path, errno);
  return LineReader(f, path);
}

LineReader::LineReader(LineReader&& other) noexcept
    : file_(other.file_),
      path_(std::move(other.path_)),
      buffer_(other.buffer_),
      capacity_(other.capacity_),
      line_number_(other.line_number_) {
  other.file_ = nullptr;
  other.buffer_ = nullptr;
  other.capacity_ = 0;
}

LineReader::~LineReader() {
  if (file_ != nullptr) std::fclose(file_);
  std::free(buffer_);
}

absl::StatusOr<bool> LineReader::Next(absl::string_view* line) {
  errno = 0;
  const ssize_t n = ::getline(&buffer_, &capacity_, file_);
  if (n < 0) {
    if (std::ferror(file_)) return ErrnoError("cannot read", path_, errno);
    return false;
  }
  ++line_number_;
  size_t len = static_cast<size_t>(n);
  if (len > 0 && buffer_[len - 1] == '\n') --len;
  *line = absl::string_view(buffer_, len);
  return true;
}

}  // namespace lra

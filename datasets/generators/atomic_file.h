// Writing a file so that readers see either nothing or the whole file: the bytes go to
// `<path>.tmp`, and Commit() flushes, closes and renames it onto `path`. A writer destroyed
// without Commit() removes its temporary file.
//
//   LRA_ASSIGN_OR_RETURN(auto file, AtomicFile::Open(path));
//   LRA_RETURN_IF_ERROR(file->Write("Source\tTarget\r\n"));
//   LRA_RETURN_IF_ERROR(file->Commit());
#ifndef LRA_DATASETS_GENERATORS_ATOMIC_FILE_H_
#define LRA_DATASETS_GENERATORS_ATOMIC_FILE_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra {
namespace generators {

class AtomicFile {
 public:
  static absl::StatusOr<std::unique_ptr<AtomicFile>> Open(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  absl::Status Write(absl::string_view bytes);
  // The open stream, for libraries that write through FILE* (libpng). Errors surface in Commit.
  FILE* stream() { return file_; }
  absl::Status Commit();

  const std::string& path() const { return path_; }

 private:
  AtomicFile(std::string path, std::string tmp_path, FILE* file)
      : path_(std::move(path)), tmp_path_(std::move(tmp_path)), file_(file) {}

  std::string path_;
  std::string tmp_path_;
  FILE* file_;
};

// Creates `dir` and its parents if missing; an error names the directory.
absl::Status MakeDirs(const std::string& dir);

}  // namespace generators
}  // namespace lra

#endif  // LRA_DATASETS_GENERATORS_ATOMIC_FILE_H_

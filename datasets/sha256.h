// SHA-256 (FIPS 180-4), for the per-shard checksums in a dataset manifest. Written here because
// the build has no crypto library; it runs at roughly 300-400 MB/s, which only VerifyDataset and
// DatasetWriter::Finish pay.
#ifndef LRA_DATASETS_SHA256_H_
#define LRA_DATASETS_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lra {
namespace datasets {

// Incremental hasher: Update() any number of times, then HexDigest() once.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t n);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // The 32-byte digest as 64 lowercase hex digits. Finishes the hash; call it once.
  std::string HexDigest();

 private:
  void Compress(const uint8_t* block);

  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// Lowercase hex SHA-256 of the whole file; NotFound / DataLoss errors name the file.
absl::StatusOr<std::string> Sha256FileHex(const std::string& path);

}  // namespace datasets
}  // namespace lra

#endif  // LRA_DATASETS_SHA256_H_

// Status propagation macros shared by every lra library.
//
// Abseil 20220623 ships no RETURN_IF_ERROR (abseil-cpp issue #976); these carry an LRA_ prefix
// so they never collide with protobuf's own copies.
//
//   absl::StatusOr<Manifest> ReadManifest(const std::string& path);
//   absl::Status Check(const std::string& dir) {
//     LRA_ASSIGN_OR_RETURN(Manifest m, ReadManifest(dir + "/manifest.pb"));
//     LRA_RETURN_IF_ERROR(VerifyShards(dir, m));
//     return absl::OkStatus();
//   }
#ifndef LRA_CORE_BASE_STATUS_MACROS_H_
#define LRA_CORE_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LRA_RETURN_IF_ERROR(expr)                  \
  do {                                             \
    ::absl::Status lra_status_ = (expr);           \
    if (!lra_status_.ok()) return lra_status_;     \
  } while (0)

#define LRA_STATUS_CONCAT_INNER_(a, b) a##b
#define LRA_STATUS_CONCAT_(a, b) LRA_STATUS_CONCAT_INNER_(a, b)

#define LRA_ASSIGN_OR_RETURN(lhs, expr) \
  LRA_ASSIGN_OR_RETURN_IMPL_(LRA_STATUS_CONCAT_(lra_statusor_, __LINE__), lhs, expr)

#define LRA_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // LRA_CORE_BASE_STATUS_MACROS_H_

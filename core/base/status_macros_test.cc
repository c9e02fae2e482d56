#include "core/base/status_macros.h"

#include <memory>

#include "gtest/gtest.h"

namespace lra {
namespace {

absl::StatusOr<std::unique_ptr<int>> MakeInt(bool ok) {
  if (!ok) return absl::InvalidArgumentError("no int");
  return std::make_unique<int>(7);
}

absl::Status Consume(bool ok, int* out) {
  LRA_ASSIGN_OR_RETURN(std::unique_ptr<int> v, MakeInt(ok));  // move-only value
  *out = *v;
  return absl::OkStatus();
}

absl::Status Chain(bool ok, int* out) {
  LRA_RETURN_IF_ERROR(Consume(ok, out));
  *out += 1;
  return absl::OkStatus();
}

TEST(StatusMacros, PropagatesValueAndError) {
  int v = 0;
  ASSERT_TRUE(Chain(true, &v).ok());
  EXPECT_EQ(v, 8);
  v = 0;
  absl::Status s = Chain(false, &v);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "no int");
  EXPECT_EQ(v, 0);
}

}  // namespace
}  // namespace lra

// LRA_CHECK: always-on invariant checks for programming errors (shape mismatches, wrong dtype).
// User-reachable errors (files, configs) return absl::Status instead; see core/checkpoint.h.
//
//   LRA_CHECK(a.shape() == b.shape()) << "Add: " << a.shape().ToString() << " vs "
//                                     << b.shape().ToString();
#ifndef LRA_CORE_CHECK_H_
#define LRA_CORE_CHECK_H_

#include <sstream>

namespace lra {
namespace internal {

// Collects the streamed message and aborts in its destructor (so `<<` works after the macro).
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return os_; }

 private:
  std::ostringstream os_;
};

// Lets the macro be an expression whose void type the `?:` arms agree on.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace internal
}  // namespace lra

#define LRA_CHECK(cond)                                          \
  (cond) ? (void)0                                               \
         : ::lra::internal::Voidify() &                          \
               ::lra::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()

#endif  // LRA_CORE_CHECK_H_

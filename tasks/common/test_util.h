// Shared by the converter tests: a TaskContext over an embedded spec, and reading a split.
#ifndef LRA_TASKS_COMMON_TEST_UTIL_H_
#define LRA_TASKS_COMMON_TEST_UTIL_H_

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tasks/common/spec.h"
#include "tasks/common/task.h"

namespace lra::tasks::testing {

// Owns the spec the context points into.
struct TestContext {
  std::unique_ptr<TaskSpec> spec;
  TaskContext context;
};

inline TestContext MakeContext(const char* spec_text, const std::string& source,
                               const std::string& encoding = "") {
  TestContext t;
  auto spec = ParseTaskSpec(spec_text, "spec.textproto");
  EXPECT_TRUE(spec.ok()) << spec.status();
  t.spec = std::make_unique<TaskSpec>(*spec);
  t.context.spec = t.spec.get();
  auto e = FindEncoding(*t.spec, encoding);
  EXPECT_TRUE(e.ok()) << e.status();
  t.context.encoding = *e;
  t.context.max_length = (*e)->max_length() > 0 ? (*e)->max_length() : t.spec->max_length();
  t.context.source = source;
  if (t.spec->split_conventions_size() > 0) {
    t.context.split_convention = t.spec->split_conventions(0);
  }
  if (t.spec->difficulties_size() > 0) t.context.difficulty = t.spec->difficulties(0).name();
  return t;
}

inline std::string TestDir(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

// The plan's error, or else the status of running it into `sink` (a scratch one when null).
inline absl::Status PlanAndRun(const absl::StatusOr<Plan>& plan, MemorySink* sink = nullptr) {
  if (!plan.ok()) return plan.status();
  MemorySink scratch;
  RunStats stats;
  return plan->run(sink != nullptr ? sink : &scratch, &stats);
}

inline std::vector<int> Tokens(const datasets::Example& e) {
  return std::vector<int>(e.tokens().begin(), e.tokens().end());
}

}  // namespace lra::tasks::testing

#endif  // LRA_TASKS_COMMON_TEST_UTIL_H_

#include "tasks/specs.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "tasks/common/spec.h"

namespace lra::tasks {
namespace {

struct Entry {
  const char* spec_text;
  TaskHooks hooks;
};

// Filled by static initializers (RegisterTask), before main.
std::vector<Entry>& Registered() {
  static auto* entries = new std::vector<Entry>;
  return *entries;
}

struct Parsed {
  std::unique_ptr<TaskSpec> spec;
  TaskHooks hooks;
};

// Parsed once, on first lookup, and sorted by (order, name).
const std::vector<Parsed>& Tasks() {
  static const auto* tasks = [] {
    auto* v = new std::vector<Parsed>;
    for (const Entry& e : Registered()) {
      absl::StatusOr<TaskSpec> spec = ParseTaskSpec(e.spec_text, "embedded spec.textproto");
      ABSL_RAW_CHECK(spec.ok(), std::string(spec.status().message()).c_str());
      for (const Parsed& p : *v) {
        ABSL_RAW_CHECK(p.spec->name() != spec->name(),
                       absl::StrCat("two tasks register the name '", spec->name(),
                                    "'; rename one in its spec.textproto")
                           .c_str());
      }
      v->push_back({std::make_unique<TaskSpec>(*std::move(spec)), e.hooks});
    }
    std::sort(v->begin(), v->end(), [](const Parsed& a, const Parsed& b) {
      return std::make_pair(a.spec->order(), a.spec->name()) <
             std::make_pair(b.spec->order(), b.spec->name());
    });
    return v;
  }();
  return *tasks;
}

absl::StatusOr<const Parsed*> Find(absl::string_view name) {
  for (const Parsed& p : Tasks()) {
    if (p.spec->name() == name) return &p;
  }
  return absl::NotFoundError(absl::StrCat("unknown task '", name, "'; known tasks: ",
                                          absl::StrJoin(ListTasks(), ", ")));
}

}  // namespace

namespace internal {
bool RegisterTask(const char* spec_text, TaskHooks hooks) {
  Registered().push_back({spec_text, hooks});
  return true;
}
}  // namespace internal

std::vector<std::string> ListTasks() {
  std::vector<std::string> names;
  for (const Parsed& p : Tasks()) names.push_back(p.spec->name());
  return names;
}

absl::StatusOr<const TaskSpec*> GetTaskSpec(absl::string_view name) {
  LRA_ASSIGN_OR_RETURN(const Parsed* p, Find(name));
  return p->spec.get();
}

absl::StatusOr<TaskHooks> GetTaskHooks(absl::string_view name) {
  LRA_ASSIGN_OR_RETURN(const Parsed* p, Find(name));
  return p->hooks;
}

}  // namespace lra::tasks

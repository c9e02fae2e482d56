#include "harness/suite.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"

namespace lra::harness {
namespace {

// The names one entry gives for `field`: the single value or the repeated list, not both.
absl::StatusOr<std::vector<std::string>> Names(
    const Suite& suite, int entry, const char* field, bool has_single, const std::string& single,
    const google::protobuf::RepeatedPtrField<std::string>& list) {
  const std::string where = absl::StrCat("suite '", suite.name(), "', run entry ", entry + 1);
  if (has_single && !list.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " gives both ", field, " and ", field,
                                                   "s; keep one (", field,
                                                   "s: [...] for a product)"));
  }
  if (has_single) return std::vector<std::string>{single};
  if (list.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " gives no ", field, "; add ", field, ": \"...\" or ", field,
                     "s: [...]"));
  }
  return std::vector<std::string>(list.begin(), list.end());
}

}  // namespace

absl::StatusOr<std::vector<Suite::Run>> ExpandSuiteRuns(const Suite& suite) {
  std::vector<Suite::Run> runs;
  for (int i = 0; i < suite.run_size(); ++i) {
    const Suite::Run& entry = suite.run(i);
    LRA_ASSIGN_OR_RETURN(std::vector<std::string> tasks,
                         Names(suite, i, "task", entry.has_task(), entry.task(), entry.tasks()));
    LRA_ASSIGN_OR_RETURN(
        std::vector<std::string> models,
        Names(suite, i, "model", entry.has_model(), entry.model(), entry.models()));
    for (const std::string& task : tasks) {
      for (const std::string& model : models) {
        Suite::Run run = entry;
        run.clear_tasks();
        run.clear_models();
        run.set_task(task);
        run.set_model(model);
        runs.push_back(std::move(run));
      }
    }
  }
  return runs;
}

}  // namespace lra::harness

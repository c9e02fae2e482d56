#include "tasks/specs.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "tasks/listops/generator.h"
#include "tasks/pathfinder/generator.h"
#include "tasks/common/spec.h"
#include "tasks/fashion_mnist/fashion_mnist.h"
#include "tasks/image/cifar.h"
#include "tasks/listops/listops.h"
#include "tasks/pathfinder/pathfinder.h"
#include "tasks/retrieval/retrieval.h"
#include "tasks/text/text.h"

namespace lra::tasks {

extern const char kListOpsSpec[];
extern const char kTextSpec[];
extern const char kRetrievalSpec[];
extern const char kImageSpec[];
extern const char kPathfinderSpec[];
extern const char kPathXSpec[];
extern const char kFashionMnistSpec[];

namespace {

// LRA's generator, writing listops-1000-style TSVs (tasks/listops/generator.h). Below the
// original's bound of 2000 tokens (a "small" ListOps, --max_length), trees are drawn with
// max_length / 4 < length < max_length, so no expression is cut and the EOS of the s4_eos
// encoding still fits.
absl::Status GenerateListOps(const TaskContext& context, int64_t size, const std::string& dir) {
  generators::ListOpsOptions options = generators::ListOpsOptionsForSize(size, context.seed);
  if (context.max_length < options.max_length) {
    options.max_length = context.max_length;
    options.min_length = std::min(options.min_length, context.max_length / 4);
  }
  return generators::WriteListOpsTsv(options, dir);
}

// The snakes generator, writing one difficulty folder (tasks/pathfinder/generator.h); the
// converter then reads `dir` as that folder.
absl::Status GeneratePathfinder(const TaskContext& context, int64_t size,
                                const std::string& dir) {
  generators::PathfinderOptions options;
  options.resolution = context.spec->image_height();
  LRA_ASSIGN_OR_RETURN(options.difficulty,
                       generators::ParsePathfinderDifficulty(context.difficulty));
  options.num_images = size;
  options.seed = context.seed;
  if (context.progress) {
    options.progress = [&](int64_t done) { context.progress("generating", done, size); };
  }
  options.cancelled = context.cancelled;
  return generators::WritePathfinderTree(options, dir);
}

struct Entry {
  const char* spec_text;
  TaskHooks hooks;
};

const std::vector<Entry>& Entries() {
  static const auto* entries = new std::vector<Entry>{
      {kListOpsSpec, {PlanListOps, GenerateListOps, "tasks/listops generator"}},
      {kTextSpec, {PlanText, GenerateSyntheticText, "tasks/text synthetic"}},
      {kRetrievalSpec, {PlanRetrieval, GenerateSyntheticRetrieval, "tasks/retrieval synthetic"}},
      {kImageSpec, {PlanImage, nullptr, ""}},
      {kPathfinderSpec, {PlanPathfinder, GeneratePathfinder, "tasks/pathfinder generator"}},
      {kPathXSpec, {PlanPathfinder, GeneratePathfinder, "tasks/pathfinder generator"}},
      {kFashionMnistSpec, {PlanFashionMnist, nullptr, ""}},
  };
  return *entries;
}

// Parsed once. A spec that does not parse is a build defect (the specs are compiled in and
// tested by specs_test), so it aborts with the parser's message.
const std::vector<std::unique_ptr<TaskSpec>>& Specs() {
  static const auto* specs = [] {
    auto* v = new std::vector<std::unique_ptr<TaskSpec>>;
    for (const Entry& e : Entries()) {
      absl::StatusOr<TaskSpec> spec = ParseTaskSpec(e.spec_text, "embedded spec.textproto");
      ABSL_RAW_CHECK(spec.ok(), std::string(spec.status().message()).c_str());
      v->push_back(std::make_unique<TaskSpec>(*std::move(spec)));
    }
    return v;
  }();
  return *specs;
}

absl::StatusOr<size_t> Find(absl::string_view name) {
  const auto& specs = Specs();
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i]->name() == name) return i;
  }
  return absl::NotFoundError(absl::StrCat("unknown task '", name, "'; known tasks: ",
                                          absl::StrJoin(ListTasks(), ", ")));
}

}  // namespace

std::vector<std::string> ListTasks() {
  std::vector<std::string> names;
  for (const auto& spec : Specs()) names.push_back(spec->name());
  return names;
}

absl::StatusOr<const TaskSpec*> GetTaskSpec(absl::string_view name) {
  LRA_ASSIGN_OR_RETURN(size_t i, Find(name));
  return Specs()[i].get();
}

absl::StatusOr<TaskHooks> GetTaskHooks(absl::string_view name) {
  LRA_ASSIGN_OR_RETURN(size_t i, Find(name));
  return Entries()[i].hooks;
}

}  // namespace lra::tasks

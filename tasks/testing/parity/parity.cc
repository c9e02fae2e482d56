// The test task "parity" (spec.textproto): a generator writing {train,val,test}.txt and the
// converter reading them, registered with LRA_REGISTER_TASK like every task.
#include <cstdint>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "tasks/common/task.h"
#include "tasks/specs.h"

namespace lra::tasks {
extern const char kParitySpec[];
namespace {

constexpr const char* kSplits[] = {"train", "val", "test"};

std::string SplitFile(const std::string& dir, const char* split) {
  return absl::StrCat(dir, "/", split, ".txt");
}

// `size` random bit strings of 1..32 bits, 80/10/10 over the three files.
absl::Status GenerateParity(const TaskContext& context, int64_t size, const std::string& dir) {
  std::mt19937_64 rng(context.seed);
  const int64_t ends[] = {size * 8 / 10, size * 9 / 10, size};
  int64_t i = 0;
  for (int s = 0; s < 3; ++s) {
    std::ofstream out(SplitFile(dir, kSplits[s]));
    for (; i < ends[s]; ++i) {
      const int length = 1 + static_cast<int>(rng() % context.max_length);
      for (int j = 0; j < length; ++j) out << static_cast<char>('0' + rng() % 2);
      out << '\n';
    }
    if (!out) {
      return absl::InternalError(absl::StrCat("cannot write ", SplitFile(dir, kSplits[s])));
    }
  }
  return absl::OkStatus();
}

absl::Status ConvertSplit(const TaskContext& context, const char* split, ExampleSink* sink,
                          RunStats* stats) {
  const std::string path = SplitFile(context.source, split);
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open; --source needs {train,val,test}.txt (or --generate)"));
  }
  std::string line;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
    datasets::Example example;
    example.set_id(absl::StrCat(split, "/", line_number));
    int ones = 0;
    for (char c : line) {
      if (c != '0' && c != '1') {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_number, ": '", std::string(1, c), "' is not 0 or 1"));
      }
      ones += c == '1';
      if (example.tokens_size() < context.max_length) example.add_tokens(c == '1' ? 2 : 1);
    }
    example.set_length(static_cast<int>(line.size()));
    example.set_label(ones % 2);
    LRA_RETURN_IF_ERROR(sink->Add(split, example));
    ++stats->examples;
  }
  return absl::OkStatus();
}

absl::StatusOr<Plan> PlanParity(const TaskContext& context) {
  Plan plan;
  plan.vocab = VocabularyFromEncoding(*context.encoding);
  plan.provenance.set_kind(datasets::Provenance::RELEASE);
  for (const char* split : kSplits) {
    plan.provenance.add_source_files(SplitFile(context.source, split));
  }
  plan.run = [context](ExampleSink* sink, RunStats* stats) -> absl::Status {
    for (const char* split : kSplits) {
      LRA_RETURN_IF_ERROR(ConvertSplit(context, split, sink, stats));
    }
    return absl::OkStatus();
  };
  return plan;
}

LRA_REGISTER_TASK(kParitySpec, (TaskHooks{PlanParity, GenerateParity, "tasks/testing/parity"}));

}  // namespace
}  // namespace lra::tasks

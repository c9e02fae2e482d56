// Where converters put their examples.
//
// Every converter in tasks/ streams `Example`s into an `ExampleSink` split by split, so the same
// code feeds a `datasets::DatasetWriter` (tasks/registry.cc) and, in tests, a `MemorySink`.
// Streaming matters: Pathfinder's 200,000 images at 1,024 int32 tokens would be 800 MB in memory.
#ifndef LRA_TASKS_COMMON_SINK_H_
#define LRA_TASKS_COMMON_SINK_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "datasets/example.pb.h"

namespace lra::tasks {

class ExampleSink {
 public:
  virtual ~ExampleSink() = default;
  virtual absl::Status Add(absl::string_view split, const datasets::Example& example) = 0;
};

// Keeps everything; for tests and small tools.
class MemorySink : public ExampleSink {
 public:
  absl::Status Add(absl::string_view split, const datasets::Example& example) override {
    splits_[std::string(split)].push_back(example);
    return absl::OkStatus();
  }
  // Empty vector when the split got no examples.
  const std::vector<datasets::Example>& split(const std::string& name) const {
    static const std::vector<datasets::Example> kEmpty;
    auto it = splits_.find(name);
    return it == splits_.end() ? kEmpty : it->second;
  }
  const std::map<std::string, std::vector<datasets::Example>>& splits() const { return splits_; }

 private:
  std::map<std::string, std::vector<datasets::Example>> splits_;
};

// Counts and discards; for benchmarks.
class CountingSink : public ExampleSink {
 public:
  absl::Status Add(absl::string_view, const datasets::Example& example) override {
    ++count_;
    tokens_ += example.tokens_size() + example.tokens2_size();
    return absl::OkStatus();
  }
  int64_t count() const { return count_; }
  int64_t tokens() const { return tokens_; }

 private:
  int64_t count_ = 0;
  int64_t tokens_ = 0;
};

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_SINK_H_

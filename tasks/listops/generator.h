// ListOps generator: a step-for-step port of LRA's ListOps generator
// (google-research/long-range-arena@cd31e5c lra_benchmarks/data/listops.py: generate_tree,
// to_string, to_value, write_to_file, main), with CPython's `random` stream
// (tasks/common/python_random.h), so that seed s gives the trees Python gives after
// `random.seed(s)`.
//
//   ListOpsOptions options = ListOpsOptionsForSize(1000, /*seed=*/7);
//   LRA_RETURN_IF_ERROR(WriteListOpsTsv(options, "/data/listops-1000"));
//   // -> basic_train.tsv (960 rows), basic_val.tsv (20), basic_test.tsv (20)
//
// Differences from the original, all in the split, none in the trees:
// - The original collects unique trees in a Python set and splits them in set-iteration order,
//   which depends on string-hash randomisation and is not reproducible. Here the unique trees
//   are kept in generation order: the first num_train go to train, the next num_val to val, the
//   rest to test.
// - Uniqueness is decided on a 128-bit hash of the pre-order token sequence instead of on the
//   tree itself (equal sequences <=> equal trees); a false "duplicate" needs a 128-bit
//   collision, probability below 1e-28 for 1e5 trees.
#ifndef LRA_TASKS_LISTOPS_GENERATOR_H_
#define LRA_TASKS_LISTOPS_GENERATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lra {
namespace generators {

// Defaults are the original's flags (listops.py lines 24-50: num_train_samples 96000,
// num_valid_samples 2000, num_test_samples 2000, max_depth 10, max_args 10, max_length 2000,
// min_length 500, task 'basic').
struct ListOpsOptions {
  int64_t num_train = 96000;
  int64_t num_val = 2000;
  int64_t num_test = 2000;
  int max_depth = 10;
  int max_args = 10;
  // A tree is kept iff min_length < length < max_length (strict, as in the original). length
  // counts operator tokens, `]` and digits, not parentheses.
  int min_length = 500;
  int max_length = 2000;
  uint64_t seed = 0;
  // The file prefix: `<task>_{train,val,test}.tsv`.
  std::string task = "basic";
};

// LRA's split proportions (96% / 2% / 2%) applied to `size` examples in total; val and test get
// at least one example each when size >= 3. size = 100000 gives the original counts.
ListOpsOptions ListOpsOptionsForSize(int64_t size, uint64_t seed);

struct ListOpsExample {
  std::string source;  // Fully parenthesised, e.g. "( ( ( [MAX 2 ) 9 ) ] )".
  int label = 0;       // 0..9, the value of the expression.
  int length = 0;      // Tokens without parentheses (the quantity the bounds apply to).
};

// Counters from one generation run, for tests and logs.
struct ListOpsStats {
  int64_t trees_drawn = 0;         // Calls of generate_tree(1, ...), accepted or not.
  int64_t rejected_length = 0;     // Outside (min_length, max_length).
  int64_t rejected_duplicate = 0;  // Accepted length but already generated.
};

// Checks the options: depth >= 1, max_args >= 2, min_length < max_length - 1, counts >= 0.
absl::Status ValidateListOpsOptions(const ListOpsOptions& options);

// The first `n` unique accepted examples of the stream seeded with options.seed (the split
// counts in `options` are ignored). `stats` may be null.
absl::StatusOr<std::vector<ListOpsExample>> GenerateListOps(const ListOpsOptions& options,
                                                            int64_t n,
                                                            ListOpsStats* stats = nullptr);

// Writes `<dir>/<task>_{train,val,test}.tsv` in the original format (csv.writer with a tab
// delimiter: header "Source\tTarget", then "<source>\t<label>", every row ending in "\r\n",
// Python's csv default). `dir` is created if missing; each file is written to a temporary name
// and renamed. Memory stays O(1) per example: rows are streamed, only hashes are kept.
absl::Status WriteListOpsTsv(const ListOpsOptions& options, const std::string& dir,
                             ListOpsStats* stats = nullptr);

}  // namespace generators
}  // namespace lra

#endif  // LRA_TASKS_LISTOPS_GENERATOR_H_

// ListOps from the LRA release TSV files (long-range-arena@cd31e5c,
// lra_benchmarks/listops/input_pipeline.py; tasks/README.md).
//
//   listops-1000/basic_{train,val,test}.tsv, header "Source<TAB>Target", e.g.
//   ( ( ( [MAX 2 ) 9 ) ] )<TAB>9   ->  tokens [MAX 2 9 X  ->  ids 2 8 15 5 (encoding "lra")
#ifndef LRA_TASKS_LISTOPS_LISTOPS_H_
#define LRA_TASKS_LISTOPS_LISTOPS_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tasks/common/task.h"

namespace lra::tasks {

// LRA's rename_close_brackets + WhitespaceTokenizer: ']' becomes 'X', '(' and ')' are deleted,
// then the text splits on ASCII whitespace.
std::vector<std::string> ListOpsTokens(absl::string_view source);

// Token -> id for one encoding.
class ListOpsEncoder {
 public:
  // "lra": the spec's fixed symbol table. "s4_eos": `vocab` from BuildS4Vocabulary.
  static absl::StatusOr<ListOpsEncoder> Create(const Encoding& encoding,
                                               const datasets::Vocabulary& vocab);
  // Encodes, appends EOS when the encoding has one, truncates to max_length (EOS kept last, as
  // S4 cuts to l_max - 1 before appending it). Returns the length before truncation.
  int Encode(const std::vector<std::string>& tokens, int max_length,
             google::protobuf::RepeatedField<int32_t>* ids, int64_t* oov) const;

 private:
  absl::flat_hash_map<std::string, int> ids_;
  int unk_id_ = -1;
  int eos_id_ = -1;
};

// S4's torchtext vocabulary from the training file: <pad>, <unk>, <eos>, then every token by
// descending count, ties in code-point order (build_vocab_from_iterator's sort).
absl::StatusOr<datasets::Vocabulary> BuildS4Vocabulary(const std::string& train_tsv);

// Reads one split file into `sink` under `split`. Errors name the file and line.
absl::Status ConvertListOpsTsv(const std::string& path, absl::string_view split,
                               const ListOpsEncoder& encoder, int max_length, int num_classes,
                               ExampleSink* sink, RunStats* stats);

// `context.source` is the listops-1000 folder (or any folder with the three basic_*.tsv).
absl::StatusOr<Plan> PlanListOps(const TaskContext& context);

}  // namespace lra::tasks

#endif  // LRA_TASKS_LISTOPS_LISTOPS_H_

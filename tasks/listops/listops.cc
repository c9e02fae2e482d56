#include "tasks/listops/listops.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/status_macros.h"
#include "core/base/file_util.h"

namespace lra::tasks {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// The three split files; LRA names them basic_<split>.tsv (long-range-arena@cd31e5c,
// lra_benchmarks/listops/input_pipeline.py, get_datasets: task_name + '_<split>.tsv').
constexpr const char* kSplits[] = {"train", "val", "test"};

std::string SplitFile(const std::string& dir, absl::string_view split) {
  return JoinPath(dir, absl::StrCat("basic_", split, ".tsv"));
}

// Column positions from the header row; make_csv_dataset selects columns by name.
struct Columns {
  int source = -1;
  int target = -1;
  int count = 0;
};

absl::StatusOr<Columns> ParseHeader(absl::string_view line, const std::string& path) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<absl::string_view> names = absl::StrSplit(line, '\t');
  Columns c;
  c.count = static_cast<int>(names.size());
  for (int i = 0; i < c.count; ++i) {
    if (names[i] == "Source") c.source = i;
    if (names[i] == "Target") c.target = i;
  }
  if (c.source < 0 || c.target < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":1: expected the header \"Source<TAB>Target\", got \"",
                     line.substr(0, 80), "\"; is this a ListOps basic_*.tsv file?"));
  }
  return c;
}

absl::Status EmptyFile(const std::string& path) {
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": empty file, no header; extract lra_release.gz again (or prepare with --generate)"));
}

// A split file with the header and no expression: the release's hold 96,000 / 2,000 / 2,000.
absl::Status HeaderOnly(const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat(
      path, ": only the header, no expressions; the release's basic_{train,val,test}.tsv hold "
      "96,000 / 2,000 / 2,000 rows: extract lra_release.gz again (or prepare with --generate)"));
}

}  // namespace

std::vector<std::string> ListOpsTokens(absl::string_view source) {
  std::vector<std::string> tokens;
  std::string current;
  for (char c : source) {
    if (c == '(' || c == ')') continue;
    if (IsSpace(c)) {
      if (!current.empty()) tokens.push_back(std::move(current));
      current.clear();
      continue;
    }
    current.push_back(c == ']' ? 'X' : c);
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

absl::StatusOr<ListOpsEncoder> ListOpsEncoder::Create(const Encoding& encoding,
                                                      const datasets::Vocabulary& vocab) {
  ListOpsEncoder e;
  e.unk_id_ = encoding.unk_id();
  e.eos_id_ = encoding.eos_id();
  for (int id = 0; id < vocab.symbols_size(); ++id) {
    if (id == encoding.pad_id() || id == encoding.unk_id() || id == encoding.eos_id()) continue;
    e.ids_[vocab.symbols(id)] = id;
  }
  if (e.ids_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ListOps encoding '", encoding.name(), "' has no symbols"));
  }
  return e;
}

int ListOpsEncoder::Encode(const std::vector<std::string>& tokens, int max_length,
                           google::protobuf::RepeatedField<int32_t>* ids, int64_t* oov) const {
  const bool eos = eos_id_ >= 0;
  const int full = static_cast<int>(tokens.size()) + (eos ? 1 : 0);
  const int keep = std::min<int>(tokens.size(), eos ? max_length - 1 : max_length);
  ids->Clear();
  ids->Reserve(keep + (eos ? 1 : 0));
  for (int i = 0; i < keep; ++i) {
    auto it = ids_.find(tokens[i]);
    if (it == ids_.end()) {
      ++*oov;
      ids->Add(unk_id_);
    } else {
      ids->Add(it->second);
    }
  }
  if (eos) ids->Add(eos_id_);
  return full;
}

absl::StatusOr<datasets::Vocabulary> BuildS4Vocabulary(const std::string& train_tsv) {
  LRA_ASSIGN_OR_RETURN(LineReader reader, LineReader::Open(train_tsv));
  absl::string_view line;
  LRA_ASSIGN_OR_RETURN(bool more, reader.Next(&line));
  if (!more) return EmptyFile(train_tsv);
  LRA_ASSIGN_OR_RETURN(Columns columns, ParseHeader(line, train_tsv));
  std::map<std::string, int64_t> counts;
  while (true) {
    LRA_ASSIGN_OR_RETURN(more, reader.Next(&line));
    if (!more) break;
    std::vector<absl::string_view> fields = absl::StrSplit(line, '\t');
    if (static_cast<int>(fields.size()) != columns.count) continue;  // reported by the converter
    for (std::string& t : ListOpsTokens(fields[columns.source])) ++counts[std::move(t)];
  }
  if (counts.empty()) return HeaderOnly(train_tsv);
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  // std::map iterates in byte order = code-point order for these ASCII tokens; a stable sort by
  // descending count then reproduces torchtext's order.
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  datasets::Vocabulary vocab;
  vocab.set_pad_id(0);
  vocab.set_eos_id(2);
  vocab.add_symbols("<pad>");
  vocab.add_symbols("<unk>");
  vocab.add_symbols("<eos>");
  for (const auto& [token, count] : sorted) vocab.add_symbols(token);
  vocab.set_size(vocab.symbols_size());
  return vocab;
}

absl::Status ConvertListOpsTsv(const std::string& path, absl::string_view split,
                               const ListOpsEncoder& encoder, int max_length, int num_classes,
                               ExampleSink* sink, RunStats* stats) {
  LRA_ASSIGN_OR_RETURN(LineReader reader, LineReader::Open(path));
  absl::string_view line;
  LRA_ASSIGN_OR_RETURN(bool more, reader.Next(&line));
  if (!more) return EmptyFile(path);
  LRA_ASSIGN_OR_RETURN(Columns columns, ParseHeader(line, path));
  const std::string file = Basename(path);
  datasets::Example example;
  int64_t oov = 0;
  int64_t rows = 0;
  while (true) {
    LRA_ASSIGN_OR_RETURN(more, reader.Next(&line));
    if (!more) break;
    std::vector<absl::string_view> fields = absl::StrSplit(line, '\t');
    if (static_cast<int>(fields.size()) != columns.count) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", reader.line_number(), ": expected ", columns.count,
          " tab-separated columns (Source, Target), found ", fields.size()));
    }
    absl::string_view target = fields[columns.target];
    if (!target.empty() && target.back() == '\r') target.remove_suffix(1);
    int label;
    if (!absl::SimpleAtoi(target, &label) || label < 0 || label >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", reader.line_number(),
                                                     ": Target \"", target.substr(0, 20),
                                                     "\" is not an integer in [0, ", num_classes,
                                                     ")"));
    }
    example.Clear();
    example.set_id(absl::StrCat(file, ":", reader.line_number()));
    example.set_label(label);
    example.set_length(encoder.Encode(ListOpsTokens(fields[columns.source]), max_length,
                                      example.mutable_tokens(), &oov));
    LRA_RETURN_IF_ERROR(sink->Add(split, example));
    ++stats->examples;
    ++rows;
  }
  if (rows == 0) return HeaderOnly(path);
  if (oov > 0) {
    stats->notes.push_back(absl::StrCat(path, ": ", oov,
                                        " tokens outside the vocabulary were mapped to <unk>"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Plan> PlanListOps(const TaskContext& context) {
  for (const char* split : kSplits) {
    std::string path = SplitFile(context.source, split);
    if (!PathExists(path)) {
      return absl::NotFoundError(absl::StrCat(
          "ListOps: missing ", path, "; --source must be the listops-1000 folder of the LRA "
          "release (lra_release/listops-1000) holding basic_{train,val,test}.tsv"));
    }
  }
  Plan plan;
  plan.provenance.set_kind(datasets::Provenance::RELEASE);
  for (const char* split : kSplits) {
    plan.provenance.add_source_files(SplitFile(context.source, split));
  }
  if (context.encoding->symbols_size() > 0) {
    plan.vocab = VocabularyFromEncoding(*context.encoding);
  } else {
    LRA_ASSIGN_OR_RETURN(plan.vocab, BuildS4Vocabulary(SplitFile(context.source, "train")));
  }
  LRA_ASSIGN_OR_RETURN(ListOpsEncoder encoder, ListOpsEncoder::Create(*context.encoding,
                                                                      plan.vocab));
  const std::string dir = context.source;
  const int max_length = context.max_length;
  const int num_classes = context.spec->num_classes();
  plan.run = [encoder = std::move(encoder), dir, max_length, num_classes](
                 ExampleSink* sink, RunStats* stats) -> absl::Status {
    for (const char* split : kSplits) {
      LRA_RETURN_IF_ERROR(ConvertListOpsTsv(SplitFile(dir, split), split, encoder, max_length,
                                            num_classes, sink, stats));
    }
    return absl::OkStatus();
  };
  return plan;
}

}  // namespace lra::tasks

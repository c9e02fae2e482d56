#include "tasks/retrieval/retrieval.h"

#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/status_macros.h"
#include "tasks/common/bytes.h"
#include "core/base/file_util.h"
#include "tasks/common/split.h"
#include "tasks/common/words.h"

namespace lra::tasks {
namespace {

// (our split, the release's file infix)
constexpr std::pair<const char*, const char*> kFiles[] = {
    {"train", "train"}, {"val", "eval"}, {"test", "test"}};

std::string TsvPath(const std::string& dir, const char* infix) {
  return JoinPath(dir, absl::StrCat("new_aan_pairs.", infix, ".tsv"));
}

std::string TsvDir(const std::string& source) {
  for (const std::string& dir :
       {source, JoinPath(source, "tsv_data"), JoinPath(source, "lra_release/tsv_data")}) {
    if (PathExists(TsvPath(dir, "train"))) return dir;
  }
  return "";
}

// Synthetic layout: 8 slots with 6 values each (6^8 = 1.7M topics); documents of 300..560
// filler words (about 2.4K..4K bytes, inside the 4000-byte window).
constexpr int kSlots = 8;
constexpr int kValuesPerSlot = 6;
constexpr int kMinWords = 300;
constexpr int kMaxWords = 560;

}  // namespace

absl::StatusOr<int> AanEncoder::Encode(absl::string_view text, const std::string& where,
                                       google::protobuf::RepeatedField<int32_t>* ids) {
  if (chars_ != nullptr) return chars_->Encode(text, max_length_, where, ids, &unknown_);
  // Cut to the first max_source_bytes bytes, then encode and truncate (long-range-arena@cd31e5c,
  // matching/input_pipeline.py: `s.numpy()[:10000]`). The recorded length is after the byte
  // cut: the length the LRA pipeline sees.
  return EncodeBytes(text.substr(0, max_source_bytes_), max_length_, ids);
}

namespace {

// Splits one line into its five columns; errors name the file and line.
absl::StatusOr<std::vector<absl::string_view>> AanColumns(absl::string_view line,
                                                          const std::string& path,
                                                          int64_t line_number) {
  std::vector<absl::string_view> f = absl::StrSplit(line, '\t');
  if (f.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":", line_number, ": expected 5 tab-separated columns (label, id1, "
        "id2, text1, text2), found ", f.size()));
  }
  return f;
}

absl::Status NoPairs(const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat(
      path, ": no pairs (the file is empty); the release's new_aan_pairs files hold 147,086 / "
      "18,090 / 17,437 lines: extract lra_release.gz again"));
}

// S4's vocabulary from the training file (the characters of text1 and text2 of every pair) into
// *vocab, and its encoder.
absl::StatusOr<std::shared_ptr<CharEncoder>> BuildAanEncoder(const std::string& train_tsv,
                                                             const Encoding& encoding,
                                                             int max_length,
                                                             datasets::Vocabulary* vocab) {
  LRA_ASSIGN_OR_RETURN(LineReader reader, LineReader::Open(train_tsv));
  CharVocabularyBuilder builder(encoding, max_length);
  absl::string_view line;
  int64_t pairs = 0;
  while (true) {
    LRA_ASSIGN_OR_RETURN(bool more, reader.Next(&line));
    if (!more) break;
    LRA_ASSIGN_OR_RETURN(std::vector<absl::string_view> f,
                         AanColumns(line, train_tsv, reader.line_number()));
    const std::string where = absl::StrCat(train_tsv, ":", reader.line_number());
    LRA_RETURN_IF_ERROR(builder.Add(f[3], where));
    LRA_RETURN_IF_ERROR(builder.Add(f[4], where));
    ++pairs;
  }
  if (pairs == 0) return NoPairs(train_tsv);
  return BuildCharEncoder(builder, encoding, vocab);
}

}  // namespace

absl::Status ConvertAanTsv(const std::string& path, absl::string_view split, AanEncoder* encoder,
                           ExampleSink* sink, RunStats* stats) {
  LRA_ASSIGN_OR_RETURN(LineReader reader, LineReader::Open(path));
  const std::string file = Basename(path);
  absl::string_view line;
  datasets::Example e;
  int64_t pairs = 0;
  while (true) {
    LRA_ASSIGN_OR_RETURN(bool more, reader.Next(&line));
    if (!more) break;
    LRA_ASSIGN_OR_RETURN(std::vector<absl::string_view> f,
                         AanColumns(line, path, reader.line_number()));
    double value;
    if (!absl::SimpleAtod(f[0], &value) || !std::isfinite(value) ||
        (static_cast<int>(value) != 0 && static_cast<int>(value) != 1)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", reader.line_number(),
                                                     ": label \"", f[0].substr(0, 20),
                                                     "\" is not 0 or 1"));
    }
    const std::string where = absl::StrCat(path, ":", reader.line_number());
    e.Clear();
    e.set_id(absl::StrCat(file, ":", reader.line_number()));
    e.set_label(static_cast<int>(value));  // float32 -> int32 truncates, as tf.cast does
    LRA_ASSIGN_OR_RETURN(int length, encoder->Encode(f[3], where, e.mutable_tokens()));
    e.set_length(length);
    LRA_ASSIGN_OR_RETURN(int length2, encoder->Encode(f[4], where, e.mutable_tokens2()));
    e.set_length2(length2);
    LRA_RETURN_IF_ERROR(sink->Add(split, e));
    ++stats->examples;
    ++pairs;
  }
  if (pairs == 0) return NoPairs(path);
  return absl::OkStatus();
}

absl::StatusOr<Plan> PlanRetrieval(const TaskContext& context) {
  const std::string dir = TsvDir(context.source);
  if (dir.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "Retrieval: no new_aan_pairs.train.tsv under ", context.source,
        "; --source must be the tsv_data folder of the LRA release "
        "(lra_release/lra_release/tsv_data); without it, `--generate` makes a small synthetic "
        "stand-in"));
  }
  Plan plan;
  plan.provenance.set_kind(datasets::Provenance::RELEASE);
  for (const auto& [split, infix] : kFiles) {
    const std::string path = TsvPath(dir, infix);
    if (!PathExists(path)) return absl::NotFoundError(absl::StrCat("Retrieval: missing ", path));
    plan.provenance.add_source_files(path);
  }
  std::shared_ptr<CharEncoder> chars;
  if (context.encoding->vocab_size() == 0) {  // s4_chars: counted from the training file
    LRA_ASSIGN_OR_RETURN(chars, BuildAanEncoder(TsvPath(dir, "train"), *context.encoding,
                                                context.max_length, &plan.vocab));
  } else {
    plan.vocab = VocabularyFromEncoding(*context.encoding);
  }
  AanEncoder encoder(context.max_length, context.spec->max_source_bytes(), std::move(chars));
  plan.run = [dir, encoder](ExampleSink* sink, RunStats* stats) mutable -> absl::Status {
    for (const auto& [split, infix] : kFiles) {
      LRA_RETURN_IF_ERROR(ConvertAanTsv(TsvPath(dir, infix), split, &encoder, sink, stats));
    }
    if (encoder.unknown() > 0) {
      stats->notes.push_back(absl::StrCat(encoder.unknown(), " characters outside the training "
                                          "vocabulary were mapped to <unk>"));
    }
    return absl::OkStatus();
  };
  return plan;
}

absl::Status GenerateSyntheticRetrieval(const TaskContext& context, int64_t size,
                                        const std::string& dir) {
  if (size < 10) return absl::InvalidArgumentError("synthetic retrieval needs --size >= 10");
  SeededRng rng(context.seed);
  std::vector<std::vector<std::string>> slots;
  std::vector<std::string> taken;
  for (int s = 0; s < kSlots; ++s) {
    slots.push_back(MakeWords(rng, kValuesPerSlot, taken));
    taken.insert(taken.end(), slots.back().begin(), slots.back().end());
  }
  const std::vector<std::string> filler = MakeWords(rng, 600, taken);
  auto document = [&](const std::vector<int>& topic) {
    const int words = kMinWords + static_cast<int>(rng.Uniform(kMaxWords - kMinWords + 1));
    std::vector<std::string> tokens(words);
    for (std::string& t : tokens) t = filler[rng.Uniform(filler.size())];
    for (int s = 0; s < kSlots; ++s) {
      const int begin = words * s / kSlots, end = words * (s + 1) / kSlots;
      tokens[begin + rng.Uniform(end - begin)] = slots[s][topic[s]];
    }
    std::string text;
    for (int w = 0; w < words; ++w) absl::StrAppend(&text, w ? " " : "", tokens[w]);
    return text;
  };
  LRA_RETURN_IF_ERROR(MakeDirs(dir));
  const int64_t num_val = size / 10, num_test = size / 10;
  const int64_t num_train = size - num_val - num_test;
  int64_t n = 0;
  for (const auto& [split, infix] : kFiles) {
    const int64_t count = split == std::string("train") ? num_train
                          : split == std::string("val") ? num_val
                                                        : num_test;
    std::string tsv;
    for (int64_t i = 0; i < count; ++i, ++n) {
      const int label = static_cast<int>(i % 2);
      std::vector<int> topic(kSlots);
      for (int& v : topic) v = static_cast<int>(rng.Uniform(kValuesPerSlot));
      std::vector<int> other = topic;
      if (label == 0) {
        const int s = static_cast<int>(rng.Uniform(kSlots));
        other[s] = (other[s] + 1 + static_cast<int>(rng.Uniform(kValuesPerSlot - 1))) %
                   kValuesPerSlot;
      }
      absl::StrAppend(&tsv, label, "\tsyn", n, "a\tsyn", n, "b\t", document(topic), "\t",
                      document(other), "\n");
    }
    LRA_RETURN_IF_ERROR(WriteFileAtomically(TsvPath(dir, infix), tsv));
  }
  return absl::OkStatus();
}

}  // namespace lra::tasks

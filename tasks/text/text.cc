#include "tasks/text/text.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/base/status_macros.h"
#include "tasks/common/bytes.h"
#include "tasks/common/chars.h"
#include "core/base/file_util.h"
#include "tasks/common/split.h"
#include "tasks/common/tfds.h"
#include "tasks/common/words.h"

namespace lra::tasks {
namespace {

struct Review {
  std::string path;
  std::string id;  // "train/pos/123_8"
  int label = 0;
};

// aclImdb/ itself (has train/ and test/) or the folder above it.
std::string AclImdbDir(const std::string& source) {
  if (IsDirectory(JoinPath(source, "train/pos")) && IsDirectory(JoinPath(source, "test/neg"))) {
    return source;
  }
  const std::string below = JoinPath(source, "aclImdb");
  if (IsDirectory(JoinPath(below, "train/pos"))) return below;
  return "";
}

// The reviews of one split, neg then pos, each by the numeric id in "<id>_<rating>.txt". Both
// class folders must hold reviews: aclImdb has 12,500 in each, and a missing class would give a
// one-class dataset whose accuracy means nothing.
absl::StatusOr<std::vector<Review>> ListReviews(const std::string& root, const char* split) {
  std::vector<Review> reviews;
  for (int label = 0; label < 2; ++label) {
    const char* polarity = label == 0 ? "neg" : "pos";
    const std::string dir = JoinPath(JoinPath(root, split), polarity);
    if (!IsDirectory(dir)) {
      return absl::NotFoundError(absl::StrCat(
          dir, " is missing; aclImdb has train/ and test/, each with neg/ and pos/ (re-extract "
          "aclImdb_v1.tar.gz)"));
    }
    LRA_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
    std::vector<std::pair<int64_t, std::string>> numbered;
    for (const std::string& name : names) {
      absl::string_view stem = name;
      if (!absl::ConsumeSuffix(&stem, ".txt")) continue;
      int64_t id;
      if (!absl::SimpleAtoi(stem.substr(0, stem.find('_')), &id)) {
        return absl::InvalidArgumentError(absl::StrCat(
            JoinPath(dir, name), ": aclImdb review files are named <id>_<rating>.txt"));
      }
      numbered.emplace_back(id, name);
    }
    if (numbered.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, ": no <id>_<rating>.txt reviews; aclImdb has 12,500 in each class folder, and a "
          "split without ", polarity, " reviews cannot train or test a 2-class model "
          "(re-extract aclImdb_v1.tar.gz)"));
    }
    std::sort(numbered.begin(), numbered.end());
    for (const auto& [id, name] : numbered) {
      absl::string_view stem = name;
      absl::ConsumeSuffix(&stem, ".txt");
      reviews.push_back({JoinPath(dir, name), absl::StrCat(split, "/", polarity, "/", stem),
                         label});
    }
  }
  return reviews;
}

// The encoding in force. "lra": bytes + 1 of the review stripped as TFDS strips it. "s4_chars":
// S4's characters (common/chars.h) of the review as Hugging Face's imdb builder reads it, i.e.
// not stripped (huggingface/datasets at 02bb18c, datasets/imdb/imdb.py _generate_examples:
// `f.read()`; S4 loads it with load_dataset("imdb"), lra.py IMDB.process_dataset line 100).
// That builder opens the file in text mode, so a "\r\n" would reach S4 as "\n"; we keep the
// bytes as they are.
class ReviewEncoder {
 public:
  ReviewEncoder(const TaskContext& context, std::shared_ptr<CharEncoder> chars)
      : max_length_(context.max_length), chars_(std::move(chars)) {}
  // `strip`: the text is as the source file holds it (aclImdb), so "lra" strips it.
  absl::Status Encode(absl::string_view text, bool strip, const std::string& where,
                      datasets::Example* e) {
    if (chars_ == nullptr) {
      if (strip) text = StripAsciiWhitespaceLikePython(text);
      e->set_length(EncodeBytes(text, max_length_, e->mutable_tokens()));
      return absl::OkStatus();
    }
    LRA_ASSIGN_OR_RETURN(int length,
                         chars_->Encode(text, max_length_, where, e->mutable_tokens(), &unknown_));
    e->set_length(length);
    return absl::OkStatus();
  }
  void Report(RunStats* stats) const {
    if (unknown_ > 0) {
      stats->notes.push_back(absl::StrCat(unknown_, " characters outside the training "
                                          "vocabulary were mapped to <unk>"));
    }
  }

 private:
  int max_length_;
  std::shared_ptr<CharEncoder> chars_;
  int64_t unknown_ = 0;
};

// True for encodings whose vocabulary is counted from the training split (s4_chars).
bool CharLevel(const Encoding& encoding) { return encoding.vocab_size() == 0; }

// Both labels must occur in every split (the TFDS cache has no class folders to check).
absl::Status CheckBothClasses(const int64_t (&counts)[2], const std::string& split,
                              const std::string& where) {
  for (int label = 0; label < 2; ++label) {
    if (counts[label] == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, ": split ", split, " has no reviews with label ", label,
          "; IMDb has 12,500 of each class per split: copy the TFDS imdb_reviews folder again"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Plan> PlanAclImdb(const TaskContext& context, const std::string& root) {
  Plan plan;
  plan.provenance.set_kind(datasets::Provenance::RELEASE);
  plan.provenance.add_source_files(root);
  (*plan.provenance.mutable_options())["source_format"] = "aclimdb";
  LRA_ASSIGN_OR_RETURN(std::vector<Review> listed_train, ListReviews(root, "train"));
  LRA_ASSIGN_OR_RETURN(std::vector<Review> listed_test, ListReviews(root, "test"));
  // aclImdb lists all negative reviews, then all positive ones. Written in that order, a
  // streaming reader's shuffle buffer (smaller than the split) would serve one class for
  // thousands of examples. TFDS shuffles its copy; we write a seeded permutation instead.
  auto permuted = [&](const std::vector<Review>& listed) {
    std::vector<Review> out;
    out.reserve(listed.size());
    for (int64_t i : SeededPermutation(static_cast<int64_t>(listed.size()), context.seed)) {
      out.push_back(listed[i]);
    }
    return out;
  };
  std::vector<Review> train = permuted(listed_train);
  std::vector<Review> test = permuted(listed_test);
  (*plan.provenance.mutable_options())["order"] = absl::StrCat("seeded permutation, seed ", context.seed);
  std::shared_ptr<CharEncoder> chars;
  if (CharLevel(*context.encoding)) {
    // S4 counts its vocabulary over the training reviews only (lra.py line 118-119).
    CharVocabularyBuilder builder(*context.encoding, context.max_length);
    for (const Review& r : listed_train) {
      LRA_ASSIGN_OR_RETURN(std::string text, ReadFile(r.path));
      LRA_RETURN_IF_ERROR(builder.Add(text, r.path));
    }
    LRA_ASSIGN_OR_RETURN(chars, BuildCharEncoder(builder, *context.encoding, &plan.vocab));
  } else {
    plan.vocab = VocabularyFromEncoding(*context.encoding);
  }
  ReviewEncoder encoder(context, std::move(chars));
  plan.run = [train = std::move(train), test = std::move(test), encoder](
                 ExampleSink* sink, RunStats* stats) mutable -> absl::Status {
    datasets::Example e;
    auto convert = [&](const Review& r, std::initializer_list<const char*> splits) {
      absl::StatusOr<std::string> text = ReadFile(r.path);
      if (!text.ok()) return text.status();
      e.Clear();
      e.set_id(r.id);
      e.set_label(r.label);
      absl::Status encoded = encoder.Encode(*text, /*strip=*/true, r.path, &e);
      if (!encoded.ok()) return encoded;
      for (const char* split : splits) {
        absl::Status s = sink->Add(split, e);
        if (!s.ok()) return s;
      }
      ++stats->examples;
      return absl::OkStatus();
    };
    for (const Review& r : train) LRA_RETURN_IF_ERROR(convert(r, {"train"}));
    // LRA evaluates on the test set during training too: val = test
    // (long-range-arena@cd31e5c, text_classification/input_pipeline.py, get_imdb_dataset).
    for (const Review& r : test) LRA_RETURN_IF_ERROR(convert(r, {"val", "test"}));
    encoder.Report(stats);
    return absl::OkStatus();
  };
  return plan;
}

// The TFDS cache: reviews are already stripped (the builder did it), stored in TFDS order.
// "s4_chars" reads these stripped texts; from aclImdb it reads them unstripped, as S4 does.
absl::StatusOr<Plan> PlanTfdsImdb(const TaskContext& context, const std::string& dir) {
  Plan plan;
  plan.provenance.set_kind(datasets::Provenance::RELEASE);
  plan.provenance.add_source_files(dir);
  (*plan.provenance.mutable_options())["source_format"] = "tfds";
  LRA_ASSIGN_OR_RETURN(TfdsSplit train, TfdsShards(dir, "imdb_reviews", "train"));
  LRA_ASSIGN_OR_RETURN(TfdsSplit test, TfdsShards(dir, "imdb_reviews", "test"));
  std::shared_ptr<CharEncoder> chars;
  if (CharLevel(*context.encoding)) {
    CharVocabularyBuilder builder(*context.encoding, context.max_length);
    LRA_RETURN_IF_ERROR(ForEachTfExample(
        train, [&](const tf::Example& example, const std::string& where) -> absl::Status {
          LRA_ASSIGN_OR_RETURN(absl::string_view text, BytesFeature(example, "text", where));
          return builder.Add(text, where);
        }));
    LRA_ASSIGN_OR_RETURN(chars, BuildCharEncoder(builder, *context.encoding, &plan.vocab));
  } else {
    plan.vocab = VocabularyFromEncoding(*context.encoding);
  }
  ReviewEncoder encoder(context, std::move(chars));
  plan.run = [train, test, encoder](ExampleSink* sink, RunStats* stats) mutable -> absl::Status {
    datasets::Example e;
    for (const bool is_train : {true, false}) {
      int64_t index = 0;
      int64_t counts[2] = {0, 0};
      const TfdsSplit& split = is_train ? train : test;
      LRA_RETURN_IF_ERROR(ForEachTfExample(
          split, [&](const tf::Example& example, const std::string& where) -> absl::Status {
            LRA_ASSIGN_OR_RETURN(absl::string_view text, BytesFeature(example, "text", where));
            LRA_ASSIGN_OR_RETURN(int64_t label, Int64Feature(example, "label", where));
            if (label != 0 && label != 1) {
              return absl::DataLossError(absl::StrCat(where, ": label ", label, " is not 0/1"));
            }
            ++counts[label];
            e.Clear();
            e.set_id(absl::StrCat(is_train ? "train/" : "test/", index++));
            e.set_label(static_cast<int>(label));
            LRA_RETURN_IF_ERROR(encoder.Encode(text, /*strip=*/false, where, &e));
            ++stats->examples;
            if (is_train) return sink->Add("train", e);
            LRA_RETURN_IF_ERROR(sink->Add("val", e));  // val = test (get_imdb_dataset)
            return sink->Add("test", e);
          }));
      LRA_RETURN_IF_ERROR(CheckBothClasses(counts, split.name, split.shards.front()));
    }
    encoder.Report(stats);
    return absl::OkStatus();
  };
  return plan;
}

// Synthetic review layout. Reviews run 150..600 words (about 1K..4K bytes) so that the default
// max length (4096) sees them whole while 1K-byte models see part of the evidence.
constexpr int kMinWords = 150;
constexpr int kMaxWords = 600;
constexpr int kCueWords = 6;  // per polarity

}  // namespace

absl::StatusOr<Plan> PlanText(const TaskContext& context) {
  const std::string acl = AclImdbDir(context.source);
  if (!acl.empty()) return PlanAclImdb(context, acl);
  const std::string tfds = FindTfdsDir(context.source, "imdb_reviews");
  if (!tfds.empty()) return PlanTfdsImdb(context, tfds);
  return absl::NotFoundError(absl::StrCat(
      "Text: no IMDb data under ", context.source,
      "; --source must be the Stanford aclImdb/ folder (train/ and test/ with neg/ and pos/) "
      "or a TensorFlow Datasets data dir holding imdb_reviews/; without either, "
      "`--generate` makes a small synthetic stand-in"));
}

absl::Status GenerateSyntheticText(const TaskContext& context, int64_t size,
                                   const std::string& dir) {
  if (size < 4) return absl::InvalidArgumentError("synthetic text needs --size of at least 4");
  SeededRng rng(context.seed);
  const std::vector<std::string> positive = MakeWords(rng, kCueWords);
  const std::vector<std::string> negative = MakeWords(rng, kCueWords, positive);
  std::vector<std::string> taken = positive;
  taken.insert(taken.end(), negative.begin(), negative.end());
  const std::vector<std::string> filler = MakeWords(rng, 400, taken);
  const std::string root = JoinPath(dir, "aclImdb");
  for (const char* split : {"train", "test"}) {
    for (const char* polarity : {"neg", "pos"}) {
      LRA_RETURN_IF_ERROR(MakeDirs(JoinPath(JoinPath(root, split), polarity)));
    }
  }
  const int64_t num_train = size / 2;
  for (int64_t n = 0; n < size; ++n) {
    const bool train = n < num_train;
    const int64_t index = train ? n : n - num_train;
    const int label = static_cast<int>(index % 2);  // balanced
    const int words = kMinWords + static_cast<int>(rng.Uniform(kMaxWords - kMinWords + 1));
    // Cues: the majority side gets one more; between 2 and 8 cues per side.
    const int minority = 2 + static_cast<int>(rng.Uniform(7));
    const int num_pos = label == 1 ? minority + 1 : minority;
    const int num_neg = label == 1 ? minority : minority + 1;
    std::vector<std::string> tokens(words);
    for (std::string& t : tokens) t = filler[rng.Uniform(filler.size())];
    // Cue positions: distinct, uniform over the whole review.
    std::vector<int64_t> order = SeededPermutation(words, rng.Next());
    for (int c = 0; c < num_pos + num_neg; ++c) {
      const auto& cues = c < num_pos ? positive : negative;
      tokens[order[c]] = cues[rng.Uniform(cues.size())];
    }
    std::string text;
    for (int w = 0; w < words; ++w) {
      absl::StrAppend(&text, w == 0 ? "" : (w % 12 == 0 ? ". " : " "), tokens[w]);
    }
    text += ".\n";  // stripped again by the converter, as TFDS strips real reviews
    // aclImdb ratings: neg 1..4, pos 7..10.
    const int rating = label == 1 ? 7 + static_cast<int>(rng.Uniform(4))
                                  : 1 + static_cast<int>(rng.Uniform(4));
    const std::string path =
        JoinPath(root, absl::StrCat(train ? "train" : "test", label ? "/pos/" : "/neg/", index,
                                    "_", rating, ".txt"));
    LRA_RETURN_IF_ERROR(WriteFileAtomically(path, text));
  }
  return absl::OkStatus();
}

}  // namespace lra::tasks

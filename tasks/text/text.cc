#include "tasks/text/text.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/base/status_macros.h"
#include "tasks/common/bytes.h"
#include "tasks/common/files.h"
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

// The reviews of one split, neg then pos, each by the numeric id in "<id>_<rating>.txt".
absl::StatusOr<std::vector<Review>> ListReviews(const std::string& root, const char* split) {
  std::vector<Review> reviews;
  for (int label = 0; label < 2; ++label) {
    const char* polarity = label == 0 ? "neg" : "pos";
    const std::string dir = JoinPath(JoinPath(root, split), polarity);
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
    std::sort(numbered.begin(), numbered.end());
    for (const auto& [id, name] : numbered) {
      absl::string_view stem = name;
      absl::ConsumeSuffix(&stem, ".txt");
      reviews.push_back({JoinPath(dir, name), absl::StrCat(split, "/", polarity, "/", stem),
                         label});
    }
  }
  if (reviews.empty()) {
    return absl::NotFoundError(absl::StrCat(JoinPath(root, split), ": no reviews in neg/ or pos/"));
  }
  return reviews;
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
  plan.vocab = VocabularyFromEncoding(*context.encoding);
  const int max_length = context.max_length;
  plan.run = [train = std::move(train), test = std::move(test), max_length](
                 ExampleSink* sink, RunStats* stats) -> absl::Status {
    datasets::Example e;
    auto convert = [&](const Review& r, std::initializer_list<const char*> splits) {
      absl::StatusOr<std::string> text = ReadFileToString(r.path);
      if (!text.ok()) return text.status();
      e.Clear();
      e.set_id(r.id);
      e.set_label(r.label);
      e.set_length(
          EncodeBytes(StripAsciiWhitespaceLikePython(*text), max_length, e.mutable_tokens()));
      for (const char* split : splits) {
        absl::Status s = sink->Add(split, e);
        if (!s.ok()) return s;
      }
      ++stats->examples;
      return absl::OkStatus();
    };
    for (const Review& r : train) LRA_RETURN_IF_ERROR(convert(r, {"train"}));
    // LRA evaluates on the test set during training too: val = test (LRA.md 1.3).
    for (const Review& r : test) LRA_RETURN_IF_ERROR(convert(r, {"val", "test"}));
    return absl::OkStatus();
  };
  return plan;
}

// The TFDS cache: reviews are already stripped (the builder did it), stored in TFDS order.
absl::StatusOr<Plan> PlanTfdsImdb(const TaskContext& context, const std::string& dir) {
  Plan plan;
  plan.provenance.set_kind(datasets::Provenance::RELEASE);
  plan.provenance.add_source_files(dir);
  (*plan.provenance.mutable_options())["source_format"] = "tfds";
  LRA_ASSIGN_OR_RETURN(std::vector<std::string> train, TfdsShards(dir, "imdb_reviews", "train"));
  LRA_ASSIGN_OR_RETURN(std::vector<std::string> test, TfdsShards(dir, "imdb_reviews", "test"));
  plan.vocab = VocabularyFromEncoding(*context.encoding);
  const int max_length = context.max_length;
  plan.run = [train, test, max_length](ExampleSink* sink, RunStats* stats) -> absl::Status {
    datasets::Example e;
    for (const bool is_train : {true, false}) {
      int64_t index = 0;
      LRA_RETURN_IF_ERROR(ForEachTfExample(
          is_train ? train : test,
          [&](const tf::Example& example, const std::string& where) -> absl::Status {
            LRA_ASSIGN_OR_RETURN(absl::string_view text, BytesFeature(example, "text", where));
            LRA_ASSIGN_OR_RETURN(int64_t label, Int64Feature(example, "label", where));
            if (label != 0 && label != 1) {
              return absl::DataLossError(absl::StrCat(where, ": label ", label, " is not 0/1"));
            }
            e.Clear();
            e.set_id(absl::StrCat(is_train ? "train/" : "test/", index++));
            e.set_label(static_cast<int>(label));
            e.set_length(EncodeBytes(text, max_length, e.mutable_tokens()));
            ++stats->examples;
            if (is_train) return sink->Add("train", e);
            LRA_RETURN_IF_ERROR(sink->Add("val", e));  // val = test (LRA.md 1.3)
            return sink->Add("test", e);
          }));
    }
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

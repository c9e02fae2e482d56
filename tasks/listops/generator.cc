#include "tasks/listops/generator.h"

#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "core/base/file_util.h"
#include "core/base/status_macros.h"
#include "tasks/common/python_random.h"

namespace lra {
namespace generators {
namespace {

// Pre-order token codes: digits are themselves, then the operators in the original's
// OPERATORS order ([MIN, [MAX, [MED, [SM; the list position is what random.choice draws), then
// the closing `]`.
constexpr uint8_t kFirstOp = 10;
constexpr uint8_t kEnd = 14;
constexpr int kNumOps = 4;
constexpr const char* kOpNames[kNumOps] = {"[MIN", "[MAX", "[MED", "[SM"};
// VALUE_P in the original: at a non-maximal depth a node is an operator iff random() <= 0.25.
constexpr double kValueP = 0.25;

// to_value for one operator over its argument values, given as a histogram over 0..9 (every
// argument value is a digit, since every operator maps digits to a digit).
int Evaluate(int op, const int (&counts)[10], int n) {
  switch (op) {
    case 0:  // MIN
      for (int v = 0; v < 10; ++v) {
        if (counts[v] > 0) return v;
      }
      break;
    case 1:  // MAX
      for (int v = 9; v >= 0; --v) {
        if (counts[v] > 0) return v;
      }
      break;
    case 2: {  // MED: int(np.median(values)); for even n the mean of the two middle values,
               // truncated (all values are >= 0, so truncation is floor division).
      auto kth = [&counts](int k) {  // k-th smallest, 0-based.
        for (int v = 0; v < 10; ++v) {
          if (k < counts[v]) return v;
          k -= counts[v];
        }
        return 9;
      };
      if (n % 2 == 1) return kth(n / 2);
      return (kth(n / 2 - 1) + kth(n / 2)) / 2;
    }
    case 3: {  // SM: np.sum(values) % 10.
      int sum = 0;
      for (int v = 0; v < 10; ++v) sum += v * counts[v];
      return sum % 10;
    }
  }
  return 0;  // Unreachable: op < kNumOps and n >= 2.
}

// generate_tree() of the original, drawing from the same CPython stream in the same order:
// random() (skipped at max depth), then for a leaf choice(VALUES), for an operator randint(2,
// max_args), the children left to right, and only then choice(OPERATORS).
class TreeGenerator {
 public:
  TreeGenerator(const ListOpsOptions& options, PythonRandom* rng)
      : options_(options), rng_(rng) {}

  // Draws one tree from the root (depth 1). Its tokens go to `tokens` while there are fewer
  // than max_length of them (a longer tree is rejected anyway, and ListOps trees can grow to
  // millions of nodes; the RNG stream is consumed in full either way). Returns the length.
  int64_t Draw(std::vector<uint8_t>* tokens, int* value) {
    tokens->clear();
    length_ = 0;
    *value = Generate(1, tokens);
    return length_;
  }

 private:
  void Emit(std::vector<uint8_t>* tokens, uint8_t token) {
    if (length_ < options_.max_length) tokens->push_back(token);
    ++length_;
  }

  int Generate(int depth, std::vector<uint8_t>* tokens) {
    const double r = depth < options_.max_depth ? rng_->Random() : 1.0;
    if (r > kValueP) {
      const int value = static_cast<int>(rng_->RandBelow(10));
      Emit(tokens, static_cast<uint8_t>(value));
      return value;
    }
    const int n = static_cast<int>(rng_->RandInt(2, options_.max_args));
    const int64_t op_index = length_;
    Emit(tokens, kFirstOp);  // Placeholder: the operator is drawn after the children.
    int counts[10] = {0};
    for (int i = 0; i < n; ++i) ++counts[Generate(depth + 1, tokens)];
    const int op = static_cast<int>(rng_->RandBelow(kNumOps));
    if (op_index < static_cast<int64_t>(tokens->size())) {
      (*tokens)[op_index] = static_cast<uint8_t>(kFirstOp + op);
    }
    Emit(tokens, kEnd);
    return Evaluate(op, counts, n);
  }

  const ListOpsOptions& options_;
  PythonRandom* rng_;
  int64_t length_ = 0;
};

// to_string() of the original: every binary tuple node becomes "( left right )". An operator
// with n arguments is the left-nested tuple (((op, a0), a1), ..., a_{n-1}) closed by (t, ']'),
// which prints as "( " x (n+1), op, then " a_i )" per argument, then " ] )". Linear time: a
// first pass counts each operator's arguments, the second prints.
std::string Render(const std::vector<uint8_t>& tokens) {
  std::vector<int> num_args(tokens.size(), 0);
  std::vector<size_t> open;  // Positions of the operators not yet closed.
  for (size_t i = 0; i < tokens.size(); ++i) {
    const uint8_t t = tokens[i];
    if (t == kEnd) {
      open.pop_back();
      continue;
    }
    if (!open.empty()) ++num_args[open.back()];
    if (t >= kFirstOp) open.push_back(i);
  }
  std::string out;
  out.reserve(tokens.size() * 5);
  int depth = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const uint8_t t = tokens[i];
    if (i > 0) out += ' ';
    bool closed_child = false;
    if (t < kFirstOp) {
      out += static_cast<char>('0' + t);
      closed_child = true;
    } else if (t == kEnd) {
      out += "] )";
      --depth;
      closed_child = true;
    } else {
      for (int k = 0; k <= num_args[i]; ++k) out += "( ";
      out += kOpNames[t - kFirstOp];
      ++depth;
    }
    if (closed_child && depth > 0) out += " )";
  }
  return out;
}

// 128 bits of a non-cryptographic hash of the token sequence: two 64-bit multiply-xorshift
// lanes with different constants, finished with the length. Used only to detect repeated trees.
absl::uint128 HashTokens(const std::vector<uint8_t>& tokens) {
  uint64_t a = 0x9e3779b97f4a7c15ull;
  uint64_t b = 0xc2b2ae3d27d4eb4full;
  auto mix = [](uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
  };
  size_t i = 0;
  for (; i + 8 <= tokens.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, tokens.data() + i, 8);
    a = mix(a ^ word) + 0x165667b19e3779f9ull;
    b = mix(b + word * 0x27d4eb2f165667c5ull) ^ (b >> 29);
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < tokens.size(); ++k) {
    tail |= static_cast<uint64_t>(tokens[i + k]) << (8 * k);
  }
  a = mix(a ^ tail ^ (static_cast<uint64_t>(tokens.size()) << 56));
  b = mix(b + tail + tokens.size() * 0x9e3779b97f4a7c15ull);
  return absl::MakeUint128(a, b);
}

// The original's main loop: draw trees from the root until one is accepted by length and has
// not been seen before.
class ListOpsStream {
 public:
  explicit ListOpsStream(const ListOpsOptions& options)
      : options_(options), rng_(options.seed), generator_(options_, &rng_) {}

  void Next(ListOpsExample* example) {
    while (true) {
      int value = 0;
      const int64_t length = generator_.Draw(&tokens_, &value);
      ++stats_.trees_drawn;
      if (!(length > options_.min_length && length < options_.max_length)) {
        ++stats_.rejected_length;
        continue;
      }
      if (!seen_.insert(HashTokens(tokens_)).second) {
        ++stats_.rejected_duplicate;
        continue;
      }
      example->source = Render(tokens_);
      example->label = value;
      example->length = static_cast<int>(length);
      return;
    }
  }

  const ListOpsStats& stats() const { return stats_; }

 private:
  const ListOpsOptions options_;
  PythonRandom rng_;
  TreeGenerator generator_;
  std::vector<uint8_t> tokens_;
  absl::flat_hash_set<absl::uint128> seen_;
  ListOpsStats stats_;
};

}  // namespace

ListOpsOptions ListOpsOptionsForSize(int64_t size, uint64_t seed) {
  ListOpsOptions options;
  options.seed = seed;
  // 96,000 / 2,000 / 2,000 of 100,000: the original's flag defaults (listops.py lines 26-35).
  int64_t val = size / 50;
  if (val == 0 && size >= 3) val = 1;
  options.num_val = val;
  options.num_test = val;
  options.num_train = size - 2 * val;
  if (options.num_train < 0) options.num_train = size;
  if (options.num_train == size) options.num_val = options.num_test = 0;
  return options;
}

absl::Status ValidateListOpsOptions(const ListOpsOptions& options) {
  if (options.max_depth < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ListOps max_depth must be >= 1, got ", options.max_depth));
  }
  if (options.max_args < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("ListOps max_args must be >= 2, got ", options.max_args));
  }
  if (options.max_depth < 2 && options.min_length >= 1) {
    return absl::InvalidArgumentError(
        "ListOps with max_depth 1 only makes single digits; raise max_depth or set "
        "min_length to 0");
  }
  if (options.min_length + 1 >= options.max_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ListOps needs min_length < length < max_length to be possible; got min_length ",
        options.min_length, " and max_length ", options.max_length));
  }
  if (options.num_train < 0 || options.num_val < 0 || options.num_test < 0) {
    return absl::InvalidArgumentError("ListOps split counts must be >= 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ListOpsExample>> GenerateListOps(const ListOpsOptions& options,
                                                            int64_t n, ListOpsStats* stats) {
  LRA_RETURN_IF_ERROR(ValidateListOpsOptions(options));
  if (n < 0) return absl::InvalidArgumentError("GenerateListOps: n must be >= 0");
  ListOpsStream stream(options);
  std::vector<ListOpsExample> examples(n);
  for (ListOpsExample& example : examples) stream.Next(&example);
  if (stats != nullptr) *stats = stream.stats();
  return examples;
}

absl::Status WriteListOpsTsv(const ListOpsOptions& options, const std::string& dir,
                             ListOpsStats* stats) {
  LRA_RETURN_IF_ERROR(ValidateListOpsOptions(options));
  LRA_RETURN_IF_ERROR(MakeDirs(dir));
  const std::pair<const char*, int64_t> splits[3] = {
      {"train", options.num_train}, {"val", options.num_val}, {"test", options.num_test}};
  ListOpsStream stream(options);
  ListOpsExample example;
  std::string row;
  for (const auto& [split, count] : splits) {
    LRA_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file,
                         AtomicFile::Open(absl::StrCat(dir, "/", options.task, "_", split, ".tsv")));
    // Python's csv.writer(f, delimiter='\t'): lineterminator "\r\n"; no field needs quoting
    // (sources hold no tab, quote or newline).
    LRA_RETURN_IF_ERROR(file->Write("Source\tTarget\r\n"));
    for (int64_t i = 0; i < count; ++i) {
      stream.Next(&example);
      row.clear();
      absl::StrAppend(&row, example.source, "\t", example.label, "\r\n");
      LRA_RETURN_IF_ERROR(file->Write(row));
    }
    LRA_RETURN_IF_ERROR(file->Commit());
  }
  if (stats != nullptr) *stats = stream.stats();
  return absl::OkStatus();
}

}  // namespace generators
}  // namespace lra

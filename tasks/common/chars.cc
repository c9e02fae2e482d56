#include "tasks/common/chars.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"

namespace lra::tasks {
namespace {

// The specials in S4's order (lra.py IMDB.process_dataset lines 121-125: ["<pad>", "<unk>"] +
// ["<eos>"] with append_bos False, append_eos True; special_first, so they take ids 0, 1, 2).
constexpr const char* kSpecials[] = {"<pad>", "<unk>", "<eos>"};

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

absl::Status CheckSpecials(const Encoding& e) {
  if (e.pad_id() != 0 || e.unk_id() != 1 || e.eos_id() != 2) {
    return absl::InternalError(absl::StrCat("encoding ", e.name(),
                                            ": a character vocabulary needs pad_id 0, unk_id 1, "
                                            "eos_id 2 (S4's <pad>, <unk>, <eos>)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DecodeUtf8(absl::string_view text, const std::string& where,
                        std::vector<char32_t>* out) {
  out->clear();
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  auto bad = [&](size_t at) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": invalid UTF-8 at byte offset ", at,
        "; S4 decodes the text as UTF-8 and would stop here too: re-extract the original file"));
  };
  while (i < n) {
    const uint8_t b = p[i];
    if (b < 0x80) {
      out->push_back(b);
      ++i;
      continue;
    }
    int extra;
    char32_t c;
    char32_t min;
    if ((b & 0xE0) == 0xC0) {
      extra = 1, c = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2, c = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3, c = b & 0x07, min = 0x10000;
    } else {
      return bad(i);
    }
    if (i + extra >= n) return bad(i);  // cut inside the last character
    for (int k = 1; k <= extra; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return bad(i);
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return bad(i);
    out->push_back(c);
    i += extra + 1;
  }
  return absl::OkStatus();
}

absl::Status CharVocabularyBuilder::Add(absl::string_view text, const std::string& where) {
  LRA_RETURN_IF_ERROR(DecodeUtf8(text, where, &scratch_));
  const size_t keep = std::min<size_t>(scratch_.size(), keep_);
  for (size_t i = 0; i < keep; ++i) ++counts_[scratch_[i]];
  return absl::OkStatus();
}

absl::StatusOr<datasets::Vocabulary> CharVocabularyBuilder::Build() const {
  LRA_RETURN_IF_ERROR(CheckSpecials(encoding_));
  const int64_t min_freq = std::max(1, encoding_.min_freq());
  std::vector<std::pair<char32_t, int64_t>> kept;
  for (const auto& [c, count] : counts_) {
    if (count >= min_freq) kept.emplace_back(c, count);
  }
  if (kept.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "encoding ", encoding_.name(), ": no training character occurs ", min_freq,
        " times or more, so the vocabulary would hold only the specials; the training split is "
        "empty or tiny (use the full training files, or a larger --size with --generate)"));
  }
  // build_vocab_from_iterator: descending count, ties by token (code point).
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  datasets::Vocabulary vocab;
  vocab.set_pad_id(encoding_.pad_id());
  vocab.set_eos_id(encoding_.eos_id());
  for (const char* s : kSpecials) vocab.add_symbols(s);
  for (const auto& [c, count] : kept) AppendUtf8(c, vocab.add_symbols());
  vocab.set_size(vocab.symbols_size());
  return vocab;
}

absl::StatusOr<std::shared_ptr<CharEncoder>> BuildCharEncoder(const CharVocabularyBuilder& builder,
                                                              const Encoding& encoding,
                                                              datasets::Vocabulary* vocab) {
  LRA_ASSIGN_OR_RETURN(*vocab, builder.Build());
  LRA_ASSIGN_OR_RETURN(CharEncoder encoder, CharEncoder::Create(encoding, *vocab));
  return std::make_shared<CharEncoder>(std::move(encoder));
}

absl::StatusOr<CharEncoder> CharEncoder::Create(const Encoding& encoding,
                                                const datasets::Vocabulary& vocab) {
  LRA_RETURN_IF_ERROR(CheckSpecials(encoding));
  CharEncoder e;
  e.unk_id_ = encoding.unk_id();
  e.eos_id_ = encoding.eos_id();
  std::vector<char32_t> one;
  for (int id = static_cast<int>(std::size(kSpecials)); id < vocab.symbols_size(); ++id) {
    LRA_RETURN_IF_ERROR(DecodeUtf8(vocab.symbols(id), "vocabulary symbol", &one));
    if (one.size() != 1) {
      return absl::InternalError(absl::StrCat("vocabulary symbol ", id, " \"", vocab.symbols(id),
                                              "\" is not one character"));
    }
    e.ids_[one[0]] = id;
  }
  return e;
}

absl::StatusOr<int> CharEncoder::Encode(absl::string_view text, int max_length,
                                        const std::string& where,
                                        google::protobuf::RepeatedField<int32_t>* ids,
                                        int64_t* unknown) {
  LRA_RETURN_IF_ERROR(DecodeUtf8(text, where, &scratch_));
  const int keep = static_cast<int>(std::min<size_t>(scratch_.size(), max_length - 1));
  ids->Clear();
  ids->Reserve(keep + 1);
  for (int i = 0; i < keep; ++i) {
    auto it = ids_.find(scratch_[i]);
    if (it == ids_.end()) {
      ++*unknown;
      ids->Add(unk_id_);
    } else {
      ids->Add(it->second);
    }
  }
  ids->Add(eos_id_);
  return static_cast<int>(scratch_.size()) + 1;
}

}  // namespace lra::tasks

#include "tasks/common/words.h"

#include "absl/container/flat_hash_set.h"

namespace lra::tasks {

std::vector<std::string> MakeWords(SeededRng& rng, int count,
                                   const std::vector<std::string>& exclude) {
  static constexpr char kConsonants[] = "bcdfghjklmnprstvz";
  static constexpr char kVowels[] = "aeiou";
  absl::flat_hash_set<std::string> seen(exclude.begin(), exclude.end());
  std::vector<std::string> words;
  while (static_cast<int>(words.size()) < count) {
    const int syllables = 2 + static_cast<int>(rng.Uniform(3));
    std::string w;
    for (int s = 0; s < syllables; ++s) {
      w.push_back(kConsonants[rng.Uniform(sizeof(kConsonants) - 1)]);
      w.push_back(kVowels[rng.Uniform(sizeof(kVowels) - 1)]);
    }
    if (seen.insert(w).second) words.push_back(std::move(w));
  }
  return words;
}

}  // namespace lra::tasks

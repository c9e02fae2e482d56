// Made-up words for the synthetic Text and Retrieval sets: pronounceable, deterministic from a
// seed, and disjoint between the groups a generator asks for (so a marker word can never appear
// by chance as filler).
#ifndef LRA_TASKS_COMMON_WORDS_H_
#define LRA_TASKS_COMMON_WORDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tasks/common/split.h"

namespace lra::tasks {

// `count` distinct words of 2..4 consonant-vowel syllables, none of them in `exclude`.
std::vector<std::string> MakeWords(SeededRng& rng, int count,
                                   const std::vector<std::string>& exclude = {});

}  // namespace lra::tasks

#endif  // LRA_TASKS_COMMON_WORDS_H_

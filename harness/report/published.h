// The published LRA numbers (results/published/*.textproto, schema published.proto).
//
//   LRA_ASSIGN_OR_RETURN(PublishedData published, LoadEmbeddedPublished());
//   const AccuracyTable* t1 = FindAccuracyTable(published, "lra_table1");
//
// The files are embedded in the binary at build time; LoadPublishedDir reads an edited copy
// without rebuilding.
#ifndef LRA_HARNESS_REPORT_PUBLISHED_H_
#define LRA_HARNESS_REPORT_PUBLISHED_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "harness/report/conventions.h"
#include "harness/report/published.pb.h"

namespace lra::report {

struct PublishedData {
  std::vector<std::pair<std::string, PublishedFile>> files;  // (file name, contents), by name

  std::vector<const AccuracyTable*> AccuracyTables() const;
  std::vector<const EfficiencyTable*> EfficiencyTables() const;
  std::vector<const Figure*> Figures() const;
};

// Parses (name, text) pairs and validates them: unique table ids, scores in [0, 100], one value
// per axis point in every series. Errors name the file (and line for syntax errors).
absl::StatusOr<PublishedData> ParsePublishedFiles(
    const std::vector<std::pair<std::string, std::string>>& named_texts);

// The copies compiled into the binary.
absl::StatusOr<PublishedData> LoadEmbeddedPublished();

// Every *.textproto in `dir` (e.g. <repo>/results/published).
absl::StatusOr<PublishedData> LoadPublishedDir(const std::string& dir);

const AccuracyTable* FindAccuracyTable(const PublishedData& data, absl::string_view id);
const EfficiencyTable* FindEfficiencyTable(const PublishedData& data, absl::string_view id);
// nullptr when the row has no series of that quantity.
const Series* FindSeries(const EfficiencyRow& row, Quantity quantity);

// The six cells of a published row in task order.
LraScores RowScores(const AccuracyRow& row);
const Score& RowScore(const AccuracyRow& row, LraTask task);

// The row's average under `convention` (nullopt when the LRA average is undefined).
std::optional<double> ConventionAverage(const AccuracyRow& row, AvgConvention convention);

// "Tay et al., ICLR 2021, arXiv 2011.04006, Table 1, p. 6".
std::string CitationText(const Citation& citation);
// "verified", "recalled", "unverified".
const char* VerificationName(Verification v);

// Self-consistency problems not already flagged in the data:
//  - a printed average that differs from the row's mean by more than rounding allows (0.01:
//    inputs and average are each printed to 2 decimals, so each carries at most 0.005 of
//    rounding error, and averaging does not grow the inputs' share);
//  - a printed "Task avg (std)" summary that is not the column's mean / sample std;
//  - a printed relative speed (or ratio) that no unrounded values behind the printed numbers
//    could produce (interval arithmetic on the printed decimals).
// Flagged cells (printed_avg_inconsistent, a cell_note) are expected to disagree and are
// reported only if they agree after all (then the flag is stale). Empty = consistent.
std::vector<std::string> CheckPublishedConsistency(const PublishedData& data);

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_PUBLISHED_H_

#include "tasks/registry.h"

#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "datasets/dataset.h"
#include "tasks/common/png_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "core/base/file_util.h"

namespace lra::tasks {
namespace {

using ::testing::HasSubstr;

std::string TestDir(const std::string& name) {
  return JoinPath(std::getenv("TEST_TMPDIR"), name);
}

std::string WriteListOps(const std::string& name) {
  const std::string dir = TestDir(name);
  EXPECT_TRUE(MakeDirs(dir).ok());
  for (const char* split : {"train", "val", "test"}) {
    EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, absl::StrCat("basic_", split, ".tsv")),
                                "Source\tTarget\n( ( [MAX 2 ) 9 ) ] )\t9\n( [SM 3 ) ] )\t3\n")
                    .ok());
  }
  return dir;
}

// Calls fn on every example (batch of one) of `split`; returns how many.
template <typename Fn>
int ForEachExample(const std::string& dir, const std::string& split, Fn fn) {
  datasets::ReaderOptions ro;
  ro.batch_size = 1;
  auto reader = datasets::DatasetReader::Open(dir, split, ro);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return 0;
  datasets::Batch batch;
  int n = 0;
  while (*(*reader)->Next(&batch)) {
    ++n;
    fn(batch);
  }
  return n;
}

int64_t Count(const datasets::Manifest& m, const std::string& split) {
  for (const auto& s : m.splits()) {
    if (s.name() == split) return s.num_examples();
  }
  return -1;
}

TEST(RegistryTest, PrepareListOpsThenNoOpThenConflictThenOverwrite) {
  PrepareOptions o;
  o.task = "listops";
  o.source = WriteListOps("listops_src");
  auto dir = DefaultDatasetDir(TestDir("data"), o);
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(*dir, TestDir("data/listops"));
  o.out_dir = *dir;
  PrepareReport report;
  ASSERT_TRUE(PrepareTask(o, &report).ok());
  EXPECT_FALSE(report.already_present);
  EXPECT_EQ(report.stats.examples, 6);
  // A partial source is allowed, and said.
  ASSERT_EQ(report.stats.notes.size(), 3u);
  EXPECT_THAT(report.stats.notes[0], HasSubstr("split train: 2 examples; the full ListOps has 96000"));
  const datasets::Manifest& m = report.manifest;
  EXPECT_EQ(m.task(), "listops");
  EXPECT_EQ(m.encoding(), "lra");
  EXPECT_EQ(m.vocab().size(), 17);
  EXPECT_EQ(m.max_length(), 2000);
  EXPECT_EQ(m.num_classes(), 10);
  EXPECT_EQ(m.provenance().kind(), datasets::Provenance::RELEASE);
  EXPECT_EQ(Count(m, "train"), 2);
  EXPECT_EQ(Count(m, "test"), 2);
  EXPECT_TRUE(datasets::VerifyDataset(*dir).ok());

  // Same request: nothing to do.
  PrepareReport again;
  ASSERT_TRUE(PrepareTask(o, &again).ok());
  EXPECT_TRUE(again.already_present);

  // Another encoding into the same folder: refused, with both requests named.
  o.encoding = "s4_eos";
  absl::Status conflict = PrepareTask(o);
  EXPECT_EQ(conflict.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(conflict.message()), HasSubstr("encoding=lra"));
  EXPECT_THAT(std::string(conflict.message()), HasSubstr("encoding=s4_eos"));
  EXPECT_THAT(std::string(conflict.message()), HasSubstr("--overwrite"));

  o.overwrite = true;
  PrepareReport replaced;
  ASSERT_TRUE(PrepareTask(o, &replaced).ok());
  EXPECT_EQ(replaced.manifest.encoding(), "s4_eos");
  EXPECT_EQ(replaced.manifest.vocab().eos_id(), 2);
  EXPECT_EQ(datasets::ReadManifest(*dir)->encoding(), "s4_eos");
  EXPECT_FALSE(PathExists(*dir + ".new"));
}

TEST(RegistryTest, SyntheticTextIsMarkedAndKeptApart) {
  PrepareOptions o;
  o.task = "text";
  o.generate = true;
  o.size = 20;
  o.seed = 1;
  o.max_length = 1024;
  auto dir = DefaultDatasetDir(TestDir("data2"), o);
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(*dir, TestDir("data2/text-synthetic-L1024"));
  o.out_dir = *dir;
  PrepareReport report;
  ASSERT_TRUE(PrepareTask(o, &report).ok()) << PrepareTask(o, &report);
  EXPECT_EQ(report.manifest.provenance().kind(), datasets::Provenance::SYNTHETIC);
  EXPECT_EQ(report.manifest.provenance().generator(), "tasks/text synthetic");
  EXPECT_EQ(report.manifest.max_length(), 1024);
  EXPECT_EQ(Count(report.manifest, "train"), 10);
  EXPECT_EQ(Count(report.manifest, "val"), 10);
  EXPECT_FALSE(PathExists(*dir + ".source.tmp"));  // the generated source is not kept

  // Retrieval too, keeping the generated TSVs.
  PrepareOptions r;
  r.task = "retrieval";
  r.generate = true;
  r.size = 20;
  r.out_dir = TestDir("data2/retrieval-synthetic");
  r.keep_source = TestDir("aan_kept");
  ASSERT_TRUE(PrepareTask(r, &report).ok());
  EXPECT_EQ(report.manifest.provenance().kind(), datasets::Provenance::SYNTHETIC);
  EXPECT_TRUE(report.manifest.pair());
  EXPECT_TRUE(PathExists(JoinPath(r.keep_source, "new_aan_pairs.eval.tsv")));

  auto found = DescribeData(TestDir("data2"));
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 2u);
  const std::string listing = FormatTaskList(*found);
  EXPECT_THAT(listing, HasSubstr("text-synthetic-L1024: synthetic, train 10 / val 10 / test 10"));
  EXPECT_THAT(listing, HasSubstr("retrieval-synthetic: synthetic, train 16 / val 2 / test 2"));
  EXPECT_THAT(listing, HasSubstr("listops (ListOps): length 2000, 10 classes"));
  EXPECT_THAT(listing, HasSubstr("(not prepared)"));
}

TEST(RegistryTest, GeneratedListOpsAndPathfinderGoThroughTheConverters) {
  PrepareOptions o;
  o.task = "listops";
  o.generate = true;
  o.size = 30;
  o.seed = 3;
  o.out_dir = TestDir("data3/listops-generated");
  PrepareReport report;
  ASSERT_TRUE(PrepareTask(o, &report).ok()) << PrepareTask(o, &report);
  EXPECT_EQ(report.manifest.provenance().kind(), datasets::Provenance::GENERATED);
  EXPECT_EQ(report.stats.examples, 30);

  PrepareOptions p;
  p.task = "pathfinder";
  p.generate = true;
  p.size = 20;
  p.difficulty = "easy";
  p.out_dir = *DefaultDatasetDir(TestDir("data3"), p);
  EXPECT_EQ(p.out_dir, TestDir("data3/pathfinder-generated-easy"));
  ASSERT_TRUE(PrepareTask(p, &report).ok()) << PrepareTask(p, &report);
  EXPECT_EQ(report.manifest.provenance().kind(), datasets::Provenance::GENERATED);
  EXPECT_EQ(report.manifest.provenance().options().at("difficulty"), "easy");
  EXPECT_EQ(Count(report.manifest, "train"), 16);
  EXPECT_EQ(Count(report.manifest, "val"), 2);
  EXPECT_EQ(report.manifest.max_length(), 1024);
}

// Issue 11 item 7: a Pathfinder image whose header declares 1,000,000 x 1,000,000 pixels (or
// 30000 x 30000) is refused before it is decoded, with the file named, and the failed
// preparation leaves neither the dataset nor a temporary folder behind.
TEST(RegistryTest, HugeDeclaredPngIsRefusedAndLeavesNoFolder) {
  PrepareOptions g;
  g.task = "pathfinder";
  g.generate = true;
  g.size = 20;
  g.difficulty = "easy";
  g.out_dir = TestDir("huge_png/generated");
  g.keep_source = TestDir("huge_png/source");
  ASSERT_TRUE(PrepareTask(g).ok()) << PrepareTask(g);
  const std::string image = JoinPath(g.keep_source, "curv_baseline/imgs/0/sample_1.png");
  ASSERT_TRUE(PathExists(image));
  for (uint32_t side : {1000000u, 30000u}) {
    ASSERT_TRUE(
        WriteFileAtomically(image, testing::PngDeclaring(side, side)).ok());
    PrepareOptions p;
    p.task = "pathfinder";
    p.source = g.keep_source;
    p.difficulty = "easy";
    p.out_dir = TestDir("huge_png/data/pathfinder");
    absl::Status s = PrepareTask(p);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("imgs/0/sample_1.png"));
    EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat(side, "x", side)));
    EXPECT_THAT(std::string(s.message()), HasSubstr("32x32 expected"));
    EXPECT_FALSE(PathExists(p.out_dir));
    // Nothing else in the data folder either (no "<out_dir>.tmp.<pid>").
    auto entries = ListDir(TestDir("huge_png/data"));
    EXPECT_TRUE(!entries.ok() || entries->empty())
        << (entries.ok() ? absl::StrJoin(*entries, ", ") : "");
  }
}

// Long preparations report progress: generating the original files, then converting them.
TEST(RegistryTest, GeneratedPathfinderReportsProgressPerStage) {
  PrepareOptions p;
  p.task = "pathfinder";
  p.generate = true;
  p.size = 2100;
  p.difficulty = "easy";
  p.out_dir = TestDir("data_progress/pathfinder");
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> calls;
  p.progress = [&](absl::string_view stage, int64_t done, int64_t total) {
    calls[std::string(stage)].push_back({done, total});
  };
  ASSERT_TRUE(PrepareTask(p).ok());
  ASSERT_EQ(calls.size(), 2u);
  const auto& generating = calls["generating"];
  ASSERT_EQ(generating.size(), 2100u / 256 + 1);  // every 256 images, then the end
  EXPECT_EQ(generating.back(), std::make_pair(int64_t{2100}, int64_t{2100}));
  const auto& converting = calls["converting"];
  ASSERT_EQ(converting.size(), 2u);  // every 1,000 examples
  EXPECT_EQ(converting[1], std::make_pair(int64_t{2000}, int64_t{2100}));
}

// --max_length below 2000 on generated ListOps draws shorter trees (nothing is cut) into its
// own folder; s4_eos still has room for its EOS.
TEST(RegistryTest, ShortGeneratedListOpsDrawsTreesThatFit) {
  for (const char* encoding : {"lra", "s4_eos"}) {
    SCOPED_TRACE(encoding);
    PrepareOptions o;
    o.task = "listops";
    o.generate = true;
    o.size = 60;
    o.max_length = 64;
    o.encoding = encoding;
    o.out_dir = *DefaultDatasetDir(TestDir("short"), o);
    EXPECT_THAT(o.out_dir, HasSubstr("listops-generated"));
    EXPECT_THAT(o.out_dir, HasSubstr("-L64"));
    PrepareReport report;
    ASSERT_TRUE(PrepareTask(o, &report).ok()) << PrepareTask(o, &report);
    EXPECT_EQ(report.manifest.max_length(), 64);
    for (const char* split : {"train", "test"}) {
      const int n = ForEachExample(o.out_dir, split, [&](const datasets::Batch& batch) {
        // Trees have 16 < length < 64 tokens, plus the EOS in s4_eos: so under lra a length of
        // 64 would mean a cut tree.
        const int eos = std::string(encoding) == "s4_eos" ? 1 : 0;
        EXPECT_GT(batch.lengths[0], 64 / 4 + eos) << batch.ids[0];
        EXPECT_LT(batch.lengths[0], 64 + eos) << batch.ids[0];
      });
      EXPECT_GT(n, 0);
    }
  }
}

// The synthetic stand-ins go through S4's character encoding like the real files: a vocabulary
// counted from the generated training split, stored in the manifest, <eos> closing every
// sequence, and a folder of its own.
TEST(RegistryTest, SyntheticTextAndRetrievalWithS4Chars) {
  for (const char* task : {"text", "retrieval"}) {
    SCOPED_TRACE(task);
    PrepareOptions o;
    o.task = task;
    o.generate = true;
    o.size = 40;
    o.encoding = "s4_chars";
    o.out_dir = *DefaultDatasetDir(TestDir("chars"), o);
    EXPECT_EQ(o.out_dir, TestDir(absl::StrCat("chars/", task, "-synthetic-s4_chars")));
    PrepareReport report;
    ASSERT_TRUE(PrepareTask(o, &report).ok()) << PrepareTask(o, &report);
    const datasets::Manifest& m = report.manifest;
    EXPECT_EQ(m.encoding(), "s4_chars");
    EXPECT_EQ(m.max_length(), std::string(task) == "text" ? 4096 : 4000);
    ASSERT_GT(m.vocab().symbols_size(), 3 + 20);  // the specials and the letters of the words
    EXPECT_EQ(m.vocab().symbols(0), "<pad>");
    EXPECT_EQ(m.vocab().symbols(1), "<unk>");
    EXPECT_EQ(m.vocab().symbols(2), "<eos>");
    EXPECT_EQ(m.vocab().size(), m.vocab().symbols_size());
    EXPECT_EQ(m.vocab().eos_id(), 2);
    for (const char* split : {"train", "val", "test"}) {
      const int n = ForEachExample(o.out_dir, split, [](const datasets::Batch& batch) {
        ASSERT_GT(batch.lengths[0], 1);
        EXPECT_EQ(batch.tokens[batch.lengths[0] - 1], 2) << batch.ids[0];
      });
      EXPECT_GT(n, 0);
    }
  }
}

// A split that ends up empty is an error, not a dataset whose manifest lacks it. Generated
// Pathfinder with 5 images: the LRA slicing gives train [0, 4), val [4, round(4.5) = 4) (empty),
// test [4, 5).
TEST(RegistryTest, EmptySplitFailsAndWritesNothing) {
  PrepareOptions p;
  p.task = "pathfinder";
  p.generate = true;
  p.size = 5;
  p.difficulty = "easy";
  p.out_dir = TestDir("empty_split/pathfinder");
  absl::Status s = PrepareTask(p);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("pathfinder: split val (" ));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("got no examples from the generated source (--size=5); pass a larger "
                        "--size so that every split gets some"));
  EXPECT_FALSE(PathExists(p.out_dir));
}

TEST(RegistryTest, OptionErrorsSayWhatIsAllowed) {
  PrepareOptions o;
  o.out_dir = TestDir("errors/x");
  o.task = "cifar";
  EXPECT_THAT(std::string(PrepareTask(o).message()), HasSubstr("known tasks: listops"));
  o.task = "pathfinder";
  o.source = "/nonexistent";
  o.max_length = 1000;
  EXPECT_THAT(std::string(PrepareTask(o).message()),
              HasSubstr("fixed max length of 1024; --max_length applies to listops (32..2048) "
                        "and text (1000..4096)"));
  o.task = "listops";
  o.max_length = 16;
  EXPECT_THAT(std::string(PrepareTask(o).message()), HasSubstr("must be in [32, 2048]"));
  o.task = "text";
  o.max_length = 500;
  EXPECT_THAT(std::string(PrepareTask(o).message()), HasSubstr("must be in [1000, 4096]"));
  o.max_length = 0;
  o.task = "image";
  o.source = "";
  absl::Status s = PrepareTask(o);
  EXPECT_THAT(std::string(s.message()), HasSubstr("needs --source"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("data_batch_{1..5}.bin"));
  o.generate = true;
  EXPECT_THAT(std::string(PrepareTask(o).message()), HasSubstr("has no generator"));
  o.task = "pathfinder";
  o.generate = false;
  o.source = "/nonexistent";
  o.split_convention = "s4";
  EXPECT_THAT(std::string(PrepareTask(o).message()),
              HasSubstr("unknown split convention --split=s4 for pathfinder; known: lra, random"));
  o.split_convention = "";
  o.difficulty = "hardest";
  EXPECT_THAT(std::string(PrepareTask(o).message()), HasSubstr("known: hard, intermediate, easy"));
  o.task = "image";
  o.difficulty = "";
  o.encoding = "s4_eos";
  EXPECT_THAT(std::string(PrepareTask(o).message()), HasSubstr("known: lra, nomask"));
  o.encoding = "";
  o.task = "text";
  o.split_convention = "random";
  EXPECT_THAT(std::string(PrepareTask(o).message()),
              HasSubstr("fixed splits; --split applies to pathfinder, pathx"));
}

}  // namespace
}  // namespace lra::tasks

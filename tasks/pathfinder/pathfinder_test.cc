#include "tasks/pathfinder/pathfinder.h"

#include <unistd.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "core/base/file_util.h"
#include "tasks/common/png_codec.h"
#include "tasks/common/test_util.h"

namespace lra::tasks {
extern const char kPathfinderSpec[];
extern const char kPathXSpec[];
namespace {

using ::lra::tasks::testing::MakeContext;
using ::lra::tasks::testing::TestDir;
using ::testing::HasSubstr;

uint8_t Pixel(int b, int i, int k) { return static_cast<uint8_t>((b * 53 + i * 17 + k) & 255); }

void WritePng(const std::string& path, int side, int b, int i) {
  Image8 image;
  image.width = image.height = side;
  image.channels = 1;
  for (int k = 0; k < side * side; ++k) image.pixels.push_back(Pixel(b, i, k));
  ASSERT_TRUE(WriteFileAtomically(path, *EncodePng(image)).ok());
}

// pathfinder<side>/curv_contour_length_14 with metadata batches 0, 1, 2, 10 (5 images each,
// numeric order puts 10 last) and label = (b + i) % 2. Image imgs/0/sample_3.png is empty.
std::string WriteTree(const std::string& name, int side) {
  const std::string root = TestDir(name);
  const std::string dir = JoinPath(root, "curv_contour_length_14");
  EXPECT_TRUE(MakeDirs(JoinPath(dir, "metadata")).ok());
  for (int b : {0, 1, 2, 10}) {
    EXPECT_TRUE(MakeDirs(JoinPath(dir, absl::StrCat("imgs/", b))).ok());
    std::string meta;
    for (int i = 0; i < 5; ++i) {
      // The generator's field order: subdir, file, index, label, then its parameters.
      absl::StrAppend(&meta, "imgs/", b, " sample_", i, ".png ", i, " ", (b + i) % 2,
                      " 1.0 14 5 2 0.5 1 1\n");
      const std::string png = JoinPath(dir, absl::StrCat("imgs/", b, "/sample_", i, ".png"));
      if (b == 0 && i == 3) {
        EXPECT_TRUE(WriteFileAtomically(png, "").ok());
      } else {
        WritePng(png, side, b, i);
      }
    }
    EXPECT_TRUE(WriteFileAtomically(JoinPath(dir, absl::StrCat("metadata/", b, ".npy")), meta).ok());
  }
  return root;
}

TEST(PathfinderTest, LraFileOrderSplitSkipsTheEmptyImageAfterSlicing) {
  auto t = MakeContext(kPathfinderSpec, WriteTree("pf_lra", 32));
  EXPECT_EQ(t.context.split_convention, "lra");
  EXPECT_EQ(t.context.difficulty, "hard");
  auto plan = PlanPathfinder(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->provenance.options().at("difficulty"), "hard");
  EXPECT_EQ(plan->provenance.options().at("split_convention"), "lra");
  EXPECT_EQ(plan->provenance.options().at("empty_images_skipped"), "1");
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  // 20 lines: [0, 16) train, [16, 18) val, [18, 20) test; line 3 is the empty image.
  ASSERT_EQ(sink.split("train").size(), 15u);
  ASSERT_EQ(sink.split("val").size(), 2u);
  ASSERT_EQ(sink.split("test").size(), 2u);
  EXPECT_EQ(stats.skipped, 1);
  EXPECT_EQ(stats.examples, 19);
  ASSERT_EQ(stats.notes.size(), 1u);
  EXPECT_THAT(stats.notes[0], HasSubstr("imgs/0/sample_3.png"));
  // Batch 10 is last in numeric order, so it holds val's and test's lines.
  EXPECT_EQ(sink.split("val")[0].id(), "imgs/10/sample_1.png");
  EXPECT_EQ(sink.split("test")[1].id(), "imgs/10/sample_4.png");
  EXPECT_EQ(sink.split("train")[3].id(), "imgs/0/sample_4.png");
  const datasets::Example& e = sink.split("test")[1];
  EXPECT_EQ(e.label(), (10 + 4) % 2);
  ASSERT_EQ(e.tokens_size(), 1024);
  EXPECT_EQ(e.length(), 1024);
  for (int k = 0; k < 1024; ++k) ASSERT_EQ(e.tokens(k), Pixel(10, 4, k)) << k;
}

TEST(PathfinderTest, RandomSplitIsSeededAndDropsEmptiesFirst) {
  const std::string root = WriteTree("pf_random", 32);
  auto t = MakeContext(kPathfinderSpec, JoinPath(root, "curv_contour_length_14"));
  t.context.split_convention = "random";
  t.context.seed = 42;
  auto plan = PlanPathfinder(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  MemorySink a, b;
  RunStats stats;
  ASSERT_TRUE(plan->run(&a, &stats).ok());
  // 19 non-empty images: floor(1.9) = 1 val, 1 test, 17 train.
  EXPECT_EQ(a.split("train").size(), 17u);
  EXPECT_EQ(a.split("val").size(), 1u);
  EXPECT_EQ(a.split("test").size(), 1u);
  ASSERT_TRUE(PlanPathfinder(t.context)->run(&b, &stats).ok());
  EXPECT_EQ(a.split("val")[0].id(), b.split("val")[0].id());
  std::set<std::string> vals;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    t.context.seed = seed;
    MemorySink s;
    ASSERT_TRUE(PlanPathfinder(t.context)->run(&s, &stats).ok());
    vals.insert(s.split("val")[0].id());
  }
  EXPECT_GT(vals.size(), 5u);  // the seed moves the split
}

TEST(PathfinderTest, MissingWrongSizeAndBadMetadataAreNamed) {
  const std::string root = WriteTree("pf_bad", 32);
  const std::string dir = JoinPath(root, "curv_contour_length_14");
  ASSERT_TRUE(RemoveTree(JoinPath(dir, "imgs/2/sample_4.png")).ok());
  auto t = MakeContext(kPathfinderSpec, root);
  auto missing = PlanPathfinder(t.context);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("imgs/2/sample_4.png (" + dir + "/metadata/2.npy:5)"));

  WritePng(JoinPath(dir, "imgs/2/sample_4.png"), 16, 2, 4);
  auto plan = PlanPathfinder(t.context);
  ASSERT_TRUE(plan.ok());
  MemorySink sink;
  RunStats stats;
  absl::Status s = plan->run(&sink, &stats);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("imgs/2/sample_4.png: expected a 32x32"));

  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "metadata/1.npy"), "imgs/1 sample_0.png 0 7\n").ok());
  auto bad = PlanPathfinder(t.context);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("metadata/1.npy:1: expected"));

  t.context.difficulty = "easy";
  auto easy = PlanPathfinder(t.context);
  EXPECT_EQ(easy.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(easy.status().message()), HasSubstr("curv_baseline"));
  t.context.difficulty = "medium";
  EXPECT_THAT(std::string(PlanPathfinder(t.context).status().message()),
              HasSubstr("known: hard, intermediate, easy"));
}

// Issue 11, case 9: a metadata line naming a file outside the difficulty folder is refused
// before anything is read (it used to be ingested, or /etc/passwd opened).
TEST(PathfinderTest, MetadataPathsOutsideTheFolderAreRefused) {
  const std::string root = WriteTree("pf_escape", 32);
  const std::string dir = JoinPath(root, "curv_contour_length_14");
  ASSERT_TRUE(MakeDirs(JoinPath(root, "outside")).ok());
  WritePng(JoinPath(root, "outside/secret.png"), 32, 9, 9);
  auto t = MakeContext(kPathfinderSpec, root);
  for (const char* line : {"../outside secret.png 0 1\n", "../../../../etc passwd 0 1\n",
                           "/etc passwd 0 1\n", "imgs/1/../../.. outside/secret.png 0 0\n"}) {
    SCOPED_TRACE(line);
    ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "metadata/1.npy"),
                                    absl::StrCat("imgs/1 sample_0.png 0 1\n", line))
                    .ok());
    auto plan = PlanPathfinder(t.context);
    ASSERT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << plan.status();
    EXPECT_THAT(std::string(plan.status().message()), HasSubstr(dir + "/metadata/1.npy:2"));
    EXPECT_THAT(std::string(plan.status().message()), HasSubstr("inside " + dir));
  }
  // A symbolic link inside the tree that points out of it is refused too.
  ASSERT_TRUE(RemoveTree(JoinPath(dir, "imgs/1/sample_1.png")).ok());
  ASSERT_EQ(::symlink(JoinPath(root, "outside/secret.png").c_str(),
                      JoinPath(dir, "imgs/1/sample_1.png").c_str()),
            0);
  ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "metadata/1.npy"), "imgs/1 sample_1.png 1 1\n").ok());
  auto plan = PlanPathfinder(t.context);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << plan.status();
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("symbolic link"));
}

TEST(PathfinderTest, PathXReads128PixelImages) {
  auto t = MakeContext(kPathXSpec, WriteTree("pathx", 128));
  EXPECT_EQ(t.context.max_length, 16384);
  auto plan = PlanPathfinder(t.context);
  ASSERT_TRUE(plan.ok()) << plan.status();
  MemorySink sink;
  RunStats stats;
  ASSERT_TRUE(plan->run(&sink, &stats).ok());
  ASSERT_EQ(sink.split("train").size(), 15u);
  const datasets::Example& e = sink.split("train")[0];
  ASSERT_EQ(e.tokens_size(), 16384);
  EXPECT_EQ(e.tokens(16383), Pixel(0, 0, 16383));

  // A 32-pixel tree given to Path-X fails on the first image with the size in the message.
  auto small = MakeContext(kPathXSpec, WriteTree("pathx_small", 32));
  MemorySink s2;
  absl::Status s = PlanPathfinder(small.context)->run(&s2, &stats);
  EXPECT_THAT(std::string(s.message()), HasSubstr("expected a 128x128 grayscale PNG, got 32x32"));
}

}  // namespace
}  // namespace lra::tasks

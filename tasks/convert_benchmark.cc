// Conversion rate (examples/s and source MB/s) of every source format, on fixtures generated in
// the original formats into a temporary folder. Conversion only: the examples go to a counting
// sink, so the figures exclude shard writing (datasets/ measures that).
//
//   bazel run --config=native //tasks:convert_benchmark
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "tasks/listops/generator.h"
#include "tasks/pathfinder/generator.h"
#include "datasets/record_io.h"
#include "core/base/file_util.h"
#include "tasks/common/png_codec.h"
#include "tasks/common/spec.h"
#include "tasks/common/split.h"
#include "tasks/common/task.h"
#include "tasks/common/tf_example.pb.h"
#include "tasks/image/cifar.h"
#include "tasks/specs.h"

namespace lra::tasks {
namespace {

std::string Root() {
  static const std::string root = [] {
    std::string r = absl::StrCat("/tmp/lra_convert_benchmark_", getpid());
    if (!MakeDirs(r).ok()) std::abort();
    return r;
  }();
  return root;
}

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    std::abort();
  }
}

// Total bytes of the files under `path`.
int64_t TreeBytes(const std::string& path) {
  if (!IsDirectory(path)) return FileSize(path).value_or(0);
  int64_t total = 0;
  const std::vector<std::string> names = ListDir(path).value_or(std::vector<std::string>{});
  for (const std::string& n : names) total += TreeBytes(JoinPath(path, n));
  return total;
}

TaskContext Context(const std::string& task, const std::string& source) {
  TaskContext c;
  c.spec = *GetTaskSpec(task);
  c.encoding = *FindEncoding(*c.spec, "");
  c.max_length = c.spec->max_length();
  c.source = source;
  c.seed = 42;
  if (c.spec->split_conventions_size() > 0) c.split_convention = c.spec->split_conventions(0);
  if (c.spec->difficulties_size() > 0) c.difficulty = c.spec->difficulties(0).name();
  return c;
}

// `plan`: the task's own PlanFn unless given.
void Run(benchmark::State& state, const std::string& task, const std::string& source,
         PlanFn plan_fn = nullptr) {
  TaskContext c = Context(task, source);
  const int64_t bytes = TreeBytes(source);
  int64_t examples = 0;
  if (plan_fn == nullptr) plan_fn = (*GetTaskHooks(task)).plan;
  for (auto _ : state) {
    auto plan = plan_fn(c);
    Check(plan.status());
    CountingSink sink;
    RunStats stats;
    Check(plan->run(&sink, &stats));
    examples = sink.count();
    benchmark::DoNotOptimize(sink.tokens());
  }
  state.SetItemsProcessed(state.iterations() * examples);
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["examples"] = examples;
}

void BM_ListOpsTsv(benchmark::State& state) {
  static const std::string dir = [] {
    std::string d = JoinPath(Root(), "listops-1000");
    Check(generators::WriteListOpsTsv(generators::ListOpsOptionsForSize(2000, 1), d));
    return d;
  }();
  Run(state, "listops", dir);
}

void BM_TextAclImdb(benchmark::State& state) {
  static const std::string dir = [] {
    std::string d = JoinPath(Root(), "imdb");
    Check((*GetTaskHooks("text")).generate(Context("text", ""), 2000, d));
    return d;
  }();
  Run(state, "text", dir);
}

// dataset_info.json for a TFDS fixture of one 1,000-example shard per split.
constexpr char kTfdsInfo1000[] =
    R"({"splits": [{"name": "train", "shardLengths": ["1000"]},
                   {"name": "test", "shardLengths": ["1000"]}]})";

void BM_TextTfds(benchmark::State& state) {
  static const std::string dir = [] {
    std::string d = JoinPath(Root(), "tfds/imdb_reviews/plain_text/1.0.0");
    Check(MakeDirs(d));
    SeededRng rng(1);
    for (const char* split : {"train", "test"}) {
      std::string shard;
      for (int i = 0; i < 1000; ++i) {
        tf::Example e;
        auto& f = *e.mutable_features()->mutable_feature();
        std::string text(1000 + rng.Uniform(3000), 'a');
        for (char& ch : text) ch = static_cast<char>(' ' + rng.Uniform(90));
        f["text"].mutable_bytes_list()->add_value(text);
        f["label"].mutable_int64_list()->add_value(i % 2);
        datasets::AppendRecord(e.SerializeAsString(), &shard);
      }
      Check(WriteFileAtomically(
          JoinPath(d, absl::StrCat("imdb_reviews-", split, ".tfrecord-00000-of-00001")), shard));
    }
    Check(WriteFileAtomically(JoinPath(d, "dataset_info.json"), kTfdsInfo1000));
    return JoinPath(Root(), "tfds/imdb_reviews");
  }();
  Run(state, "text", dir);
}

void BM_RetrievalTsv(benchmark::State& state) {
  static const std::string dir = [] {
    std::string d = JoinPath(Root(), "tsv_data");
    Check((*GetTaskHooks("retrieval")).generate(Context("retrieval", ""), 1000, d));
    return d;
  }();
  Run(state, "retrieval", dir);
}

void BM_ImageCifarBinary(benchmark::State& state) {
  static const std::string dir = [] {
    std::string d = JoinPath(Root(), "cifar-10-batches-bin");
    Check(MakeDirs(d));
    SeededRng rng(2);
    for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                             "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"}) {
      std::string bytes;
      for (int r = 0; r < 2000; ++r) {
        bytes.push_back(static_cast<char>(rng.Uniform(10)));
        for (int k = 0; k < 3072; ++k) bytes.push_back(static_cast<char>(rng.Uniform(256)));
      }
      Check(WriteFileAtomically(JoinPath(d, name), bytes));
    }
    return d;
  }();
  // 2,000 records per batch file instead of the release's 10,000.
  Run(state, "image", dir,
      [](const TaskContext& c) { return PlanImageWithBatchSize(c, 2000); });
}

void BM_ImageTfds(benchmark::State& state) {
  static const std::string dir = [] {
    std::string d = JoinPath(Root(), "tfds/cifar10/3.0.2");
    Check(MakeDirs(d));
    SeededRng rng(3);
    for (const char* split : {"train", "test"}) {
      std::string shard;
      for (int i = 0; i < 1000; ++i) {
        // Smooth gradients plus noise: compresses like a photo, not like white noise.
        Image8 image;
        image.width = image.height = 32;
        image.channels = 3;
        for (int k = 0; k < 1024; ++k) {
          for (int ch = 0; ch < 3; ++ch) {
            image.pixels.push_back(static_cast<uint8_t>((k / 32 * 4 + k % 32 * ch + i +
                                                         rng.Uniform(16)) & 255));
          }
        }
        tf::Example e;
        auto& f = *e.mutable_features()->mutable_feature();
        f["image"].mutable_bytes_list()->add_value(*EncodePng(image));
        f["label"].mutable_int64_list()->add_value(i % 10);
        datasets::AppendRecord(e.SerializeAsString(), &shard);
      }
      Check(WriteFileAtomically(
          JoinPath(d, absl::StrCat("cifar10-", split, ".tfrecord-00000-of-00001")), shard));
    }
    Check(WriteFileAtomically(JoinPath(d, "dataset_info.json"), kTfdsInfo1000));
    return JoinPath(Root(), "tfds/cifar10");
  }();
  Run(state, "image", dir);
}

std::string PathfinderTree(int resolution, int64_t images) {
  std::string d = JoinPath(Root(), absl::StrCat("pathfinder", resolution));
  generators::PathfinderOptions o;
  o.resolution = resolution;
  o.num_images = images;
  o.seed = 4;
  Check(generators::WritePathfinderTree(o, JoinPath(d, "curv_contour_length_14")));
  return d;
}

void BM_Pathfinder32Tree(benchmark::State& state) {
  static const std::string dir = PathfinderTree(32, 4000);
  Run(state, "pathfinder", dir);
}

void BM_PathX128Tree(benchmark::State& state) {
  static const std::string dir = PathfinderTree(128, 500);
  Run(state, "pathx", dir);
}

void BM_FashionMnistDebian(benchmark::State& state) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!PathExists(JoinPath(dir, "train-images-idx3-ubyte.gz"))) {
    state.SkipWithError("dataset-fashion-mnist is not installed");
    return;
  }
  Run(state, "fashion_mnist", dir);
}

BENCHMARK(BM_ListOpsTsv)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_TextAclImdb)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_TextTfds)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_RetrievalTsv)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_ImageCifarBinary)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_ImageTfds)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Pathfinder32Tree)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_PathX128Tree)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_FashionMnistDebian)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
}  // namespace lra::tasks

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  lra::RemoveTree(lra::tasks::Root()).IgnoreError();
  return 0;
}

// libFuzzer targets for every parser of a file that a user supplies: the dataset manifest and
// each converter's input format. One binary, the target chosen by LRA_FUZZ_TARGET:
//
//   manifest       <dataset>/manifest.pb (ReadManifest, then VerifyDatasetCached)
//   listops_tsv    listops-1000/basic_train.tsv (encodings lra and s4_eos)
//   aan_tsv        tsv_data/new_aan_pairs.train.tsv (encodings lra and s4_chars)
//   aclimdb        aclImdb/train/pos/<name>: the review's file name and its text
//   cifar_binary   cifar-10-batches-bin/data_batch_1.bin
//   tfds_shard     a TFDS imdb_reviews or cifar10 train shard, or its dataset_info.json
//   pathfinder     metadata/0.npy, or the PNG it names
//   fashion_idx    one of the four Fashion-MNIST IDX files (plain or gzipped)
//
// Each input replaces one file of an otherwise valid source tree, then the converter's plan and
// run go as in `lra prepare`, into a sink that checks every example it gets. The oracle: no
// crash, leak or undefined behaviour (ASan/UBSan), every failure an absl::Status, and every
// example one the dataset writer accepts (label, token ids and length within the manifest's
// ranges). The first input byte picks the variant (encoding, file) where a target has several.
//
// Built by the :fuzz_targets genrule with clang -fsanitize=fuzzer,address,undefined and run by
// fuzz_test.sh. With LRA_FUZZ_WRITE_SEEDS=<dir> it writes the target's valid files as a seed
// corpus and exits.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "datasets/dataset.h"
#include "datasets/record_io.h"
#include "core/base/file_util.h"
#include "tasks/common/png_codec.h"
#include "tasks/common/sink.h"
#include "tasks/common/spec.h"
#include "tasks/common/task.h"
#include "tasks/common/tf_example.pb.h"
#include "tasks/fashion_mnist/fashion_mnist.h"
#include "tasks/image/cifar.h"
#include "tasks/listops/listops.h"
#include "tasks/pathfinder/pathfinder.h"
#include "tasks/retrieval/retrieval.h"
#include "tasks/text/text.h"

namespace lra::tasks {
extern const char kListOpsSpec[];
extern const char kRetrievalSpec[];
extern const char kTextSpec[];
extern const char kImageSpec[];
extern const char kPathfinderSpec[];
extern const char kFashionMnistSpec[];
}  // namespace lra::tasks

namespace {

using namespace lra::tasks;  // NOLINT: a test binary over one namespace
using ::lra::JoinPath;        // core/base/file_util.h
using ::lra::MakeDirs;
using ::lra::RemoveTree;
namespace datasets = lra::datasets;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    fprintf(stderr, "fuzz_targets: property violated: %s\n", what.c_str());
    __builtin_trap();
  }
}

void Write(const std::string& path, absl::string_view bytes) {
  const size_t slash = path.find_last_of('/');
  Check(MakeDirs(path.substr(0, slash)).ok(), "cannot create " + path);
  FILE* f = fopen(path.c_str(), "wb");
  Check(f != nullptr, "cannot write " + path);
  Check(fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size(), "short write " + path);
  fclose(f);
}

// Checks every example against the manifest the writer would get (the plan's vocabulary, the
// task's classes, the effective max length).
class CheckingSink : public ExampleSink {
 public:
  explicit CheckingSink(datasets::Manifest header) : header_(std::move(header)) {}
  absl::Status Add(absl::string_view split, const datasets::Example& example) override {
    Check(!split.empty(), "example without a split");
    absl::Status s = datasets::CheckExample(header_, example, "converter output");
    Check(s.ok(), std::string(s.message()));
    return absl::OkStatus();
  }

 private:
  datasets::Manifest header_;
};

// One task's context, as PrepareTask resolves it for the default options.
struct Context {
  std::unique_ptr<TaskSpec> spec;
  TaskContext context;
};

Context MakeContext(const char* spec_text, const std::string& source,
                    const std::string& encoding = "") {
  Context c;
  absl::StatusOr<TaskSpec> spec = ParseTaskSpec(spec_text, "spec.textproto");
  Check(spec.ok(), "spec does not parse");
  c.spec = std::make_unique<TaskSpec>(*spec);
  c.context.spec = c.spec.get();
  absl::StatusOr<const Encoding*> e = FindEncoding(*c.spec, encoding);
  Check(e.ok(), "unknown encoding " + encoding);
  c.context.encoding = *e;
  c.context.max_length = (*e)->max_length() > 0 ? (*e)->max_length() : c.spec->max_length();
  c.context.source = source;
  if (c.spec->split_conventions_size() > 0) {
    c.context.split_convention = c.spec->split_conventions(0);
  }
  if (c.spec->difficulties_size() > 0) c.context.difficulty = c.spec->difficulties(0).name();
  c.context.seed = 1;
  return c;
}

// Plans and runs a converter into a CheckingSink; errors are fine, crashes and bad examples not.
void PlanAndRun(const Context& c, const std::function<absl::StatusOr<Plan>()>& plan_fn) {
  absl::StatusOr<Plan> plan = plan_fn();
  if (!plan.ok()) {
    Check(!plan.status().message().empty(), "an error without a message");
    return;
  }
  datasets::Manifest header;
  *header.mutable_vocab() = plan->vocab;
  header.set_max_length(c.context.max_length);
  header.set_num_classes(c.spec->num_classes());
  header.set_pair(c.spec->pair());
  Check(plan->vocab.size() > 0 && plan->vocab.pad_id() >= 0 &&
            plan->vocab.pad_id() < plan->vocab.size(),
        "plan vocabulary without a valid pad id");
  CheckingSink sink(header);
  RunStats stats;
  absl::Status s = plan->run(&sink, &stats);
  if (!s.ok()) Check(!s.message().empty(), "an error without a message");
}

std::string g_root;  // a scratch folder for this process

std::string Fresh(const std::string& name) {
  const std::string dir = JoinPath(g_root, name);
  Check(RemoveTree(dir).ok(), "cannot clear " + dir);
  Check(MakeDirs(dir).ok(), "cannot create " + dir);
  return dir;
}

// ------------------------------------------------------------------------------- valid files

std::string ListOpsTsv() {
  return "Source\tTarget\n"
         "( ( ( [MAX 2 ) 9 ) ] )\t9\n"
         "( ( ( ( [MIN 4 ) 7 ) ( ( [SM 1 ) 2 ) ] ) ] )\t3\n"
         "( [MED 3 ) 5 ) 1 ) ]\t3\n";
}

std::string AanTsv() {
  return "1\tp1\tp2\tattention is all you need\tlong range arena benchmark\n"
         "0.0\tp3\tp4\tstate space models\tconvolutions with \xc3\xa9 accents\n";
}

std::string CifarRecord(int label, int seed) {
  std::string r(3073, '\0');
  r[0] = static_cast<char>(label);
  for (int i = 1; i < 3073; ++i) r[i] = static_cast<char>((i * 7 + seed * 31) & 255);
  return r;
}

std::string GrayPng(int side, int seed) {
  Image8 image;
  image.width = image.height = side;
  image.channels = 1;
  for (int k = 0; k < side * side; ++k) image.pixels.push_back((k * 13 + seed) & 255);
  absl::StatusOr<std::string> png = EncodePng(image);
  Check(png.ok(), "EncodePng");
  return *png;
}

std::string RgbPng(int side, int seed) {
  Image8 image;
  image.width = image.height = side;
  image.channels = 3;
  for (int k = 0; k < side * side * 3; ++k) image.pixels.push_back((k * 5 + seed) & 255);
  return *EncodePng(image);
}

std::string TfShard(bool image, int n) {
  std::string bytes;
  for (int i = 0; i < n; ++i) {
    tf::Example e;
    auto& features = *e.mutable_features()->mutable_feature();
    if (image) {
      features["image"].mutable_bytes_list()->add_value(RgbPng(32, i));
    } else {
      features["text"].mutable_bytes_list()->add_value(absl::StrCat("review number ", i, " ok"));
    }
    features["label"].mutable_int64_list()->add_value(i % 2);
    datasets::AppendRecord(e.SerializeAsString(), &bytes);
  }
  return bytes;
}

std::string TfdsInfo(int n) {
  return absl::StrCat(R"({"name": "x", "splits": [{"name": "train", "shardLengths": [")", n,
                      R"("]}, {"name": "test", "shardLengths": [")", n, R"("]}]})");
}

std::string Idx(bool images, int n) {
  std::string out;
  auto be32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 255));
  };
  be32(images ? 2051 : 2049);
  be32(n);
  if (images) {
    be32(28);
    be32(28);
    for (int i = 0; i < n * 784; ++i) out.push_back(static_cast<char>(i & 255));
  } else {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<char>(i % 10));
  }
  return out;
}

// ------------------------------------------------------------------------------- targets

// Each target: the seeds (valid inputs), and what to do with one input.
struct Target {
  const char* name;
  std::function<std::vector<std::string>()> seeds;
  std::function<void(absl::string_view input)> run;
};

// The first byte picks a variant; the rest is the file.
unsigned Variant(absl::string_view* input) {
  if (input->empty()) return 0;
  const unsigned v = static_cast<unsigned char>(input->front());
  input->remove_prefix(1);
  return v;
}

void RunManifest(absl::string_view input) {
  const std::string dir = Fresh("manifest");
  Write(JoinPath(dir, "manifest.pb"), input);
  absl::StatusOr<datasets::Manifest> m = datasets::ReadManifest(dir);
  if (!m.ok()) {
    Check(m.status().code() == absl::StatusCode::kDataLoss, "manifest error is not DataLoss");
    Check(m.status().message().find("manifest.pb") != absl::string_view::npos,
          "manifest error does not name the file");
    return;
  }
  for (const datasets::Split& s : m->splits()) {
    for (const datasets::Shard& sh : s.shards()) {
      Check(!sh.file().empty() && sh.file() != "." && sh.file() != ".." &&
                sh.file().find('/') == std::string::npos,
            "accepted shard name " + sh.file());
    }
  }
  if (m->vocab().size() > 0) {
    Check(m->vocab().pad_id() >= 0 && m->vocab().pad_id() < m->vocab().size(),
          "accepted a pad id outside the vocabulary");
  }
  // No shard files exist: verification must fail cleanly (or pass for an empty dataset).
  absl::Status v = datasets::VerifyDatasetCached(dir);
  Check(v.ok() || !v.message().empty(), "verification error without a message");
}

std::vector<std::string> ManifestSeeds() {
  datasets::Manifest m;
  m.set_task("listops");
  m.mutable_vocab()->set_size(17);
  m.mutable_vocab()->set_eos_id(-1);
  m.set_max_length(2000);
  m.set_num_classes(10);
  m.set_encoding("lra");
  (*m.mutable_provenance()->mutable_options())["request"] = "task=listops max_length=2000";
  datasets::Split* s = m.add_splits();
  s->set_name("train");
  s->set_num_examples(0);
  datasets::Manifest with_shard = m;
  datasets::Split* t = with_shard.mutable_splits(0);
  t->set_num_examples(3);
  t->add_label_counts(1);
  t->add_label_counts(2);
  datasets::Shard* sh = t->add_shards();
  sh->set_file("train-00000.tfrecord");
  sh->set_num_examples(3);
  sh->set_num_bytes(120);
  sh->set_sha256(std::string(64, 'a'));
  return {m.SerializeAsString(), with_shard.SerializeAsString()};
}

void RunListOps(absl::string_view input) {
  const unsigned v = Variant(&input);
  const std::string dir = Fresh("listops");
  Write(JoinPath(dir, "basic_train.tsv"), input);
  Write(JoinPath(dir, "basic_val.tsv"), ListOpsTsv());
  Write(JoinPath(dir, "basic_test.tsv"), ListOpsTsv());
  Context c = MakeContext(kListOpsSpec, dir, v % 2 ? "s4_eos" : "lra");
  PlanAndRun(c, [&] { return PlanListOps(c.context); });
}

void RunAan(absl::string_view input) {
  const unsigned v = Variant(&input);
  const std::string dir = Fresh("aan");
  Write(JoinPath(dir, "new_aan_pairs.train.tsv"), input);
  Write(JoinPath(dir, "new_aan_pairs.eval.tsv"), AanTsv());
  Write(JoinPath(dir, "new_aan_pairs.test.tsv"), AanTsv());
  Context c = MakeContext(kRetrievalSpec, dir, v % 2 ? "s4_chars" : "lra");
  PlanAndRun(c, [&] { return PlanRetrieval(c.context); });
}

// The input: the review's file name, a newline, its text. A name that could not be a file name
// (empty, '.', '..', with '/' or NUL) is replaced by a valid one.
void RunAclImdb(absl::string_view input) {
  const unsigned v = Variant(&input);
  const size_t newline = input.find('\n');
  std::string name(input.substr(0, newline == absl::string_view::npos ? 0 : newline));
  const absl::string_view text =
      newline == absl::string_view::npos ? input : input.substr(newline + 1);
  if (name.empty() || name == "." || name == ".." || name.size() > 200 ||
      name.find_first_of(std::string("/\0", 2)) != std::string::npos) {
    name = "5_8.txt";
  }
  const std::string dir = Fresh("imdb");
  const std::string root = JoinPath(dir, "aclImdb");
  for (const char* split : {"train", "test"}) {
    Write(JoinPath(root, absl::StrCat(split, "/neg/0_1.txt")), "  a dull film  ");
    Write(JoinPath(root, absl::StrCat(split, "/pos/1_9.txt")), "a fine film\n");
  }
  Write(JoinPath(root, "train/pos/" + name), text);
  Context c = MakeContext(kTextSpec, dir, v % 2 ? "s4_chars" : "lra");
  PlanAndRun(c, [&] { return PlanText(c.context); });
}

void RunCifar(absl::string_view input) {
  const std::string dir = Fresh("cifar");
  Write(JoinPath(dir, "data_batch_1.bin"), input);
  for (const char* name : {"data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                           "data_batch_5.bin", "test_batch.bin"}) {
    Write(JoinPath(dir, name), CifarRecord(3, 1) + CifarRecord(9, 2));
  }
  Context c = MakeContext(kImageSpec, dir);
  PlanAndRun(c, [&] { return PlanImageWithBatchSize(c.context, 2); });
}

// Variant bit 0: imdb_reviews (text) or cifar10 (PNG images); bit 1: the input is the train
// shard or dataset_info.json.
void RunTfds(absl::string_view input) {
  const unsigned v = Variant(&input);
  const bool image = v & 1;
  const char* name = image ? "cifar10" : "imdb_reviews";
  const std::string dir = Fresh("tfds");
  const std::string train = JoinPath(dir, absl::StrCat(name, "-train.tfrecord-00000-of-00001"));
  Write(JoinPath(dir, absl::StrCat(name, "-test.tfrecord-00000-of-00001")), TfShard(image, 2));
  if (v & 2) {
    Write(train, TfShard(image, 2));
    Write(JoinPath(dir, "dataset_info.json"), input);
  } else {
    Write(train, input);
    Write(JoinPath(dir, "dataset_info.json"), TfdsInfo(2));
  }
  Context c = MakeContext(image ? kImageSpec : kTextSpec, dir);
  PlanAndRun(c, [&] { return image ? PlanImage(c.context) : PlanText(c.context); });
}

// Variant bit 0: the input is metadata/0.npy (images sample_0..1 exist) or imgs/0/sample_0.png.
void RunPathfinder(absl::string_view input) {
  const unsigned v = Variant(&input);
  const std::string dir = Fresh("pathfinder");
  const std::string tree = JoinPath(dir, "curv_contour_length_14");
  Write(JoinPath(tree, "imgs/0/sample_1.png"), GrayPng(32, 1));
  Write(JoinPath(dir, "outside/secret.png"), GrayPng(32, 2));  // must never be read
  if (v & 1) {
    Write(JoinPath(tree, "imgs/0/sample_0.png"), input);
    Write(JoinPath(tree, "metadata/0.npy"),
          "imgs/0 sample_0.png 0 1 1.0 14\nimgs/0 sample_1.png 1 0 1.0 14\n");
  } else {
    Write(JoinPath(tree, "imgs/0/sample_0.png"), GrayPng(32, 0));
    Write(JoinPath(tree, "metadata/0.npy"), input);
  }
  Context c = MakeContext(kPathfinderSpec, dir);
  absl::StatusOr<std::vector<PathfinderItem>> items = ScanPathfinder(tree);
  if (items.ok()) {
    for (const PathfinderItem& item : *items) {
      const std::string path = "/" + item.image + "/";
      Check(item.image.front() != '/' && path.find("/../") == std::string::npos,
            "accepted an image path that climbs out: " + item.image);
    }
  }
  PlanAndRun(c, [&] { return PlanPathfinder(c.context); });
}

// Variant % 4: which of the four files is the input (stored plain; zlib reads both).
void RunFashion(absl::string_view input) {
  const unsigned v = Variant(&input);
  const std::string dir = Fresh("fashion");
  const char* names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  for (int i = 0; i < 4; ++i) {
    Write(JoinPath(dir, names[i]),
          static_cast<int>(v % 4) == i ? std::string(input) : Idx(i % 2 == 0, 20));
  }
  Context c = MakeContext(kFashionMnistSpec, dir);
  PlanAndRun(c, [&] { return PlanFashionMnist(c.context); });
}

std::vector<Target> Targets() {
  auto with = [](unsigned char variant, const std::string& bytes) {
    return std::string(1, static_cast<char>(variant)) + bytes;
  };
  return {
      {"manifest", ManifestSeeds, RunManifest},
      {"listops_tsv",
       [&] { return std::vector<std::string>{with(0, ListOpsTsv()), with(1, ListOpsTsv())}; },
       RunListOps},
      {"aan_tsv", [&] { return std::vector<std::string>{with(0, AanTsv()), with(1, AanTsv())}; },
       RunAan},
      {"aclimdb",
       [&] {
         return std::vector<std::string>{with(0, "12_7.txt\n<br />Great film. "),
                                         with(1, "3_10.txt\n\xe2\x98\x85 caf\xc3\xa9")};
       },
       RunAclImdb},
      {"cifar_binary",
       [&] { return std::vector<std::string>{CifarRecord(1, 3) + CifarRecord(0, 4)}; }, RunCifar},
      {"tfds_shard",
       [&] {
         return std::vector<std::string>{with(0, TfShard(false, 2)), with(1, TfShard(true, 2)),
                                         with(2, TfdsInfo(2)), with(3, TfdsInfo(2))};
       },
       RunTfds},
      {"pathfinder",
       [&] {
         return std::vector<std::string>{
             with(0, "imgs/0 sample_0.png 0 1 1.0 14\nimgs/0 sample_1.png 1 0\n"),
             with(1, GrayPng(32, 5))};
       },
       RunPathfinder},
      {"fashion_idx",
       [&] {
         return std::vector<std::string>{with(0, Idx(true, 20)), with(1, Idx(false, 20)),
                                         with(2, Idx(true, 20)), with(3, Idx(false, 20))};
       },
       RunFashion},
  };
}

const Target* g_target = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static const std::vector<Target> targets = Targets();
  const char* name = getenv("LRA_FUZZ_TARGET");
  std::vector<std::string> names;
  for (const Target& t : targets) {
    names.push_back(t.name);
    if (name != nullptr && name == std::string(t.name)) g_target = &t;
  }
  if (g_target == nullptr) {
    fprintf(stderr, "set LRA_FUZZ_TARGET to one of:");
    for (const std::string& n : names) fprintf(stderr, " %s", n.c_str());
    fprintf(stderr, "\n");
    exit(2);
  }
  const char* tmp = getenv("TMPDIR");
  g_root = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/lra_fuzz_", g_target->name, "_", getpid());
  if (const char* seeds = getenv("LRA_FUZZ_WRITE_SEEDS")) {
    int i = 0;
    for (const std::string& seed : g_target->seeds()) {
      Write(absl::StrCat(seeds, "/seed", i++), seed);
    }
    exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_target->run(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

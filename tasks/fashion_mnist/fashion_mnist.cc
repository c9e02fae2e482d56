#include "tasks/fashion_mnist/fashion_mnist.h"

#include <zlib.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/base/file_util.h"
#include "tasks/common/split.h"

namespace lra::tasks {
namespace {

constexpr uint32_t kImagesMagic = 2051;  // 0x00000803: ubyte, 3 dimensions
constexpr uint32_t kLabelsMagic = 2049;  // 0x00000801: ubyte, 1 dimension
constexpr int kValPercent = 10;

// Reads exactly n bytes or fails with the offset where the data ran out.
absl::Status ReadExactly(gzFile f, const std::string& path, uint64_t offset, void* out,
                         size_t n) {
  size_t done = 0;
  while (done < n) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    int got = gzread(f, static_cast<char*>(out) + done, chunk);
    if (got < 0) {
      int errnum;
      const char* msg = gzerror(f, &errnum);
      return absl::DataLossError(absl::StrCat(path, ": corrupt gzip data near byte ",
                                              offset + done, ": ", msg));
    }
    if (got == 0) {
      return absl::DataLossError(absl::StrCat(path, ": truncated at byte ", offset + done,
                                              " (needed ", n - done, " more bytes)"));
    }
    done += static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::string FilePath(const std::string& dir, absl::string_view prefix, absl::string_view kind) {
  return JoinPath(dir, absl::StrCat(prefix, "-", kind, "-ubyte.gz"));
}

struct SplitData {
  IdxArray images;
  IdxArray labels;
};

absl::StatusOr<SplitData> ReadPair(const std::string& dir, absl::string_view prefix, int side) {
  SplitData s;
  const std::string images_path = FilePath(dir, prefix, "images-idx3");
  const std::string labels_path = FilePath(dir, prefix, "labels-idx1");
  LRA_ASSIGN_OR_RETURN(s.images, ReadIdxGz(images_path, kImagesMagic));
  LRA_ASSIGN_OR_RETURN(s.labels, ReadIdxGz(labels_path, kLabelsMagic));
  if (s.images.dims.size() != 3 || s.images.dims[1] != static_cast<uint32_t>(side) ||
      s.images.dims[2] != static_cast<uint32_t>(side)) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, ": expected N x ", side, " x ",
                                                   side, " images"));
  }
  if (s.labels.dims.size() != 1 || s.labels.dims[0] != s.images.dims[0]) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels_path, ": ", s.labels.dims.empty() ? 0 : s.labels.dims[0],
                     " labels for ", s.images.dims[0], " images in ", images_path));
  }
  return s;
}

}  // namespace

absl::StatusOr<IdxArray> ReadIdxGz(const std::string& path, uint32_t expected_magic) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    return PathExists(path) ? absl::PermissionDeniedError(absl::StrCat("cannot open ", path))
                            : absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  gzbuffer(f, 1 << 17);
  IdxArray out;
  absl::Status status = [&]() -> absl::Status {
    uint8_t word[4];
    LRA_RETURN_IF_ERROR(ReadExactly(f, path, 0, word, 4));
    const uint32_t magic = BigEndian32(word);
    if (magic != expected_magic) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": bad IDX magic number ", magic, " at byte 0 (expected ", expected_magic,
          expected_magic == kImagesMagic ? ", images" : ", labels",
          "); is this the right file, and is it an unsigned-byte IDX file?"));
    }
    const int rank = magic & 0xff;
    uint64_t total = 1;
    for (int d = 0; d < rank; ++d) {
      LRA_RETURN_IF_ERROR(ReadExactly(f, path, 4 + 4 * d, word, 4));
      out.dims.push_back(BigEndian32(word));
      total *= out.dims.back();
    }
    if (total > (uint64_t{1} << 34)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": implausible IDX size ", total));
    }
    // Grown with the bytes actually read, never to the header's claim at once: a 20-byte file
    // that declares 2^34 payload bytes fails on its length instead of allocating 16 GB first
    // (found by //tasks/fuzz:fuzz_fashion_idx).
    const uint64_t header = 4 + 4 * rank;
    constexpr uint64_t kChunk = uint64_t{1} << 20;
    for (uint64_t done = 0; done < total;) {
      const uint64_t n = std::min(kChunk, total - done);
      out.data.resize(done + n);
      LRA_RETURN_IF_ERROR(ReadExactly(f, path, header + done, out.data.data() + done, n));
      done += n;
    }
    uint8_t extra;
    if (gzread(f, &extra, 1) > 0) {
      return absl::DataLossError(absl::StrCat(path, ": unexpected data after byte ",
                                              header + total, " (the header says ", total,
                                              " payload bytes)"));
    }
    return absl::OkStatus();
  }();
  gzclose(f);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<Plan> PlanFashionMnist(const TaskContext& context) {
  const std::string& dir = context.source;
  Plan plan;
  plan.provenance.set_kind(datasets::Provenance::SYSTEM);
  for (const char* prefix : {"train", "t10k"}) {
    for (const char* kind : {"images-idx3", "labels-idx1"}) {
      const std::string path = FilePath(dir, prefix, kind);
      if (!PathExists(path)) {
        return absl::NotFoundError(absl::StrCat(
            "Fashion-MNIST: missing ", path,
            "; install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or "
            "point --source at a folder with the four *-ubyte.gz files"));
      }
      plan.provenance.add_source_files(path);
    }
  }
  const uint64_t seed = context.seed;
  (*plan.provenance.mutable_options())["split"] =
      absl::StrCat("val = ", kValPercent, "% of train by seeded permutation, seed ", seed,
                   "; train and val in file order; test = t10k");
  plan.provenance.set_seed(seed);
  plan.vocab = VocabularyFromEncoding(*context.encoding);
  const int side = context.spec->image_height();
  const int num_classes = context.spec->num_classes();
  plan.run = [dir, seed, side, num_classes](ExampleSink* sink, RunStats* stats) -> absl::Status {
    const int pixels = side * side;
    auto emit = [&](const SplitData& data, int64_t i, absl::string_view split,
                    absl::string_view prefix) -> absl::Status {
      const int label = data.labels.data[i];
      if (label >= num_classes) {
        return absl::InvalidArgumentError(absl::StrCat(
            FilePath(dir, prefix, "labels-idx1"), ": label ", label, " at byte ", 8 + i,
            " is not in [0, ", num_classes, ")"));
      }
      datasets::Example e;
      e.set_id(absl::StrCat(prefix, ":", i));
      e.set_label(label);
      e.set_length(pixels);
      const uint8_t* p = data.images.data.data() + i * pixels;
      e.mutable_tokens()->Reserve(pixels);
      for (int k = 0; k < pixels; ++k) e.add_tokens(p[k]);
      ++stats->examples;
      return sink->Add(split, e);
    };
    LRA_ASSIGN_OR_RETURN(SplitData train, ReadPair(dir, "train", side));
    const int64_t n = train.images.dims[0];
    const int64_t num_val = TfdsPercentBoundary(n, kValPercent);
    std::vector<int64_t> order = SeededPermutation(n, seed);
    std::vector<bool> is_val(n, false);
    for (int64_t k = 0; k < num_val; ++k) is_val[order[k]] = true;
    for (int64_t i = 0; i < n; ++i) {
      if (!is_val[i]) LRA_RETURN_IF_ERROR(emit(train, i, "train", "train"));
    }
    for (int64_t i = 0; i < n; ++i) {
      if (is_val[i]) LRA_RETURN_IF_ERROR(emit(train, i, "val", "train"));
    }
    LRA_ASSIGN_OR_RETURN(SplitData test, ReadPair(dir, "t10k", side));
    for (int64_t i = 0; i < static_cast<int64_t>(test.images.dims[0]); ++i) {
      LRA_RETURN_IF_ERROR(emit(test, i, "test", "t10k"));
    }
    return absl::OkStatus();
  };
  return plan;
}

}  // namespace lra::tasks

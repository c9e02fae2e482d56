#include "tasks/image/cifar.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/base/file_util.h"
#include "tasks/common/png_codec.h"
#include "tasks/common/split.h"
#include "tasks/common/tfds.h"
#include "tasks/image/grayscale.h"

namespace lra::tasks {
namespace {

constexpr int kPixels = 1024;
constexpr int kRecordBytes = 1 + 3 * kPixels;
constexpr int kNumClasses = 10;

std::vector<std::string> TrainFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (int i = 1; i <= 5; ++i) files.push_back(JoinPath(dir, absl::StrCat("data_batch_", i, ".bin")));
  return files;
}

// Finds the folder holding the .bin files: the source itself or cifar-10-batches-bin/ below it.
std::string BinaryDir(const std::string& source) {
  if (PathExists(JoinPath(source, "test_batch.bin"))) return source;
  const std::string below = JoinPath(source, "cifar-10-batches-bin");
  if (PathExists(JoinPath(below, "test_batch.bin"))) return below;
  return "";
}

// Every batch file holds exactly `records` records; a file cut at a record boundary (or empty)
// would otherwise lose its last images silently.
absl::Status CheckBatchSize(const std::string& path, int64_t size, int64_t records) {
  const int64_t expected = records * kRecordBytes;
  if (size == expected) return absl::OkStatus();
  const std::string fix = " (re-extract cifar-10-binary.tar.gz)";
  if (size % kRecordBytes != 0) {
    const int64_t whole = size / kRecordBytes;
    return absl::DataLossError(absl::StrCat(
        path, ": ", size, " bytes is not a whole number of ", kRecordBytes,
        "-byte records; record ", whole, " at byte offset ", whole * kRecordBytes,
        " is truncated; a CIFAR-10 batch file is ", expected, " bytes", fix));
  }
  return absl::DataLossError(absl::StrCat(
      path, ": ", size, " bytes = ", size / kRecordBytes, " images, but every CIFAR-10 batch "
      "file holds ", records, " (", expected, " bytes)", fix));
}

absl::StatusOr<std::string> ReadBatchFile(const std::string& path, int64_t records) {
  LRA_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  LRA_RETURN_IF_ERROR(CheckBatchSize(path, static_cast<int64_t>(bytes.size()), records));
  return bytes;
}

absl::StatusOr<Plan> PlanBinary(const TaskContext& context, const std::string& dir,
                                int64_t records_per_batch) {
  Plan plan;
  plan.provenance.set_kind(datasets::Provenance::RELEASE);
  std::vector<std::string> train = TrainFiles(dir);
  for (const std::string& f : train) {
    if (!PathExists(f)) {
      return absl::NotFoundError(absl::StrCat("Image: missing ", f,
                                              "; the CIFAR-10 binary release has "
                                              "data_batch_1..5.bin and test_batch.bin"));
    }
    plan.provenance.add_source_files(f);
  }
  const std::string test = JoinPath(dir, "test_batch.bin");
  plan.provenance.add_source_files(test);
  // Sizes first, so a short file fails before anything is written.
  for (const std::string& f : plan.provenance.source_files()) {
    LRA_ASSIGN_OR_RETURN(int64_t size, FileSize(f));
    LRA_RETURN_IF_ERROR(CheckBatchSize(f, size, records_per_batch));
  }
  (*plan.provenance.mutable_options())["source_format"] = "cifar_binary";
  (*plan.provenance.mutable_options())["split"] =
      "train = first 90% of data_batch_1..5 in file order, val = last 10% (not TFDS's order)";
  plan.vocab = VocabularyFromEncoding(*context.encoding);
  plan.run = [train, test, records_per_batch](ExampleSink* sink,
                                              RunStats* stats) -> absl::Status {
    // Split boundary over the whole training stream, as train[:90%] is.
    const int64_t total = records_per_batch * static_cast<int64_t>(train.size());
    const int64_t boundary = TfdsPercentBoundary(total, 90);
    int64_t index = 0;
    datasets::Example e;
    auto convert = [&](const std::string& path, bool is_train) -> absl::Status {
      LRA_ASSIGN_OR_RETURN(std::string bytes, ReadBatchFile(path, records_per_batch));
      const std::string file = Basename(path);
      const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
      for (size_t r = 0; r * kRecordBytes < bytes.size(); ++r) {
        absl::Status s =
            CifarBinaryRecordToExample(data + r * kRecordBytes, absl::StrCat(file, ":", r), &e);
        if (!s.ok()) {
          return absl::DataLossError(absl::StrCat(path, ": record ", r, " at byte offset ",
                                                  r * kRecordBytes, ": ", s.message()));
        }
        const char* split = !is_train ? "test" : index < boundary ? "train" : "val";
        if (is_train) ++index;
        LRA_RETURN_IF_ERROR(sink->Add(split, e));
        ++stats->examples;
      }
      return absl::OkStatus();
    };
    for (const std::string& f : train) LRA_RETURN_IF_ERROR(convert(f, true));
    return convert(test, false);
  };
  return plan;
}

// The TFDS cache: PNG images in TFDS order, so train[:90%] is LRA's exact training set.
absl::StatusOr<Plan> PlanTfdsCifar(const TaskContext& context, const std::string& dir) {
  Plan plan;
  plan.provenance.set_kind(datasets::Provenance::RELEASE);
  plan.provenance.add_source_files(dir);
  (*plan.provenance.mutable_options())["source_format"] = "tfds";
  (*plan.provenance.mutable_options())["split"] = "train[:90%] / train[90%:] / test, TFDS order";
  LRA_ASSIGN_OR_RETURN(TfdsSplit train, TfdsShards(dir, "cifar10", "train"));
  LRA_ASSIGN_OR_RETURN(TfdsSplit test, TfdsShards(dir, "cifar10", "test"));
  plan.vocab = VocabularyFromEncoding(*context.encoding);
  plan.run = [train, test](ExampleSink* sink, RunStats* stats) -> absl::Status {
    // The count dataset_info.json records; ForEachTfExample checks the shards hold it.
    const int64_t boundary = TfdsPercentBoundary(train.num_examples, 90);
    datasets::Example e;
    for (const bool is_train : {true, false}) {
      int64_t index = 0;
      LRA_RETURN_IF_ERROR(ForEachTfExample(
          is_train ? train : test,
          [&](const tf::Example& example, const std::string& where) -> absl::Status {
            LRA_ASSIGN_OR_RETURN(absl::string_view png, BytesFeature(example, "image", where));
            LRA_ASSIGN_OR_RETURN(int64_t label, Int64Feature(example, "label", where));
            if (label < 0 || label >= kNumClasses) {
              return absl::DataLossError(absl::StrCat(where, ": label ", label,
                                                      " is not a CIFAR-10 class (0..9)"));
            }
            LRA_ASSIGN_OR_RETURN(Image8 image, DecodePng(png, where, PngSize{32, 32}));
            if (image.width != 32 || image.height != 32 || image.channels != 3) {
              return absl::DataLossError(absl::StrCat(where, ": expected a 32x32 RGB PNG, got ",
                                                      image.width, "x", image.height, " with ",
                                                      image.channels, " channel(s)"));
            }
            e.Clear();
            const auto& features = example.features().feature();
            auto id = features.find("id");
            e.set_id(id != features.end() && id->second.bytes_list().value_size() == 1
                         ? id->second.bytes_list().value(0)
                         : absl::StrCat(is_train ? "train/" : "test/", index));
            e.set_label(static_cast<int>(label));
            e.set_length(kPixels);
            auto* tokens = e.mutable_tokens();
            tokens->Resize(kPixels, 0);
            const uint8_t* p = image.pixels.data();  // interleaved R, G, B
            for (int k = 0; k < kPixels; ++k) {
              tokens->Set(k, TfRgbToGray(p[3 * k], p[3 * k + 1], p[3 * k + 2]));
            }
            const char* split = !is_train ? "test" : index < boundary ? "train" : "val";
            ++index;
            ++stats->examples;
            return sink->Add(split, e);
          }));
    }
    return absl::OkStatus();
  };
  return plan;
}

}  // namespace

absl::Status CifarBinaryRecordToExample(const uint8_t* record, const std::string& id,
                                        datasets::Example* example) {
  if (record[0] >= kNumClasses) {
    return absl::DataLossError(absl::StrCat("label byte ", int{record[0]},
                                            " is not a CIFAR-10 class (0..9); is this "
                                            "CIFAR-100 or a corrupt file?"));
  }
  example->Clear();
  example->set_id(id);
  example->set_label(record[0]);
  example->set_length(kPixels);
  auto* tokens = example->mutable_tokens();
  tokens->Resize(kPixels, 0);
  const uint8_t* red = record + 1;
  const uint8_t* green = red + kPixels;
  const uint8_t* blue = green + kPixels;
  for (int k = 0; k < kPixels; ++k) tokens->Set(k, TfRgbToGray(red[k], green[k], blue[k]));
  return absl::OkStatus();
}

absl::StatusOr<Plan> PlanImage(const TaskContext& context) {
  return PlanImageWithBatchSize(context, kCifarRecordsPerBatch);
}

absl::StatusOr<Plan> PlanImageWithBatchSize(const TaskContext& context,
                                            int64_t records_per_batch) {
  const std::string binary = BinaryDir(context.source);
  if (!binary.empty()) return PlanBinary(context, binary, records_per_batch);
  const std::string tfds = FindTfdsDir(context.source, "cifar10");
  if (!tfds.empty()) return PlanTfdsCifar(context, tfds);
  return absl::NotFoundError(absl::StrCat(
      "Image: no CIFAR-10 data under ", context.source,
      "; --source must be cifar-10-batches-bin/ (the binary release: data_batch_1..5.bin, "
      "test_batch.bin) or a TensorFlow Datasets data dir holding cifar10/<version>/"));
}

}  // namespace lra::tasks

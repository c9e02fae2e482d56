// "bag": bag-of-tokens baseline. Token embedding -> mean over the unpadded tokens -> MLP head
// (Dense -> ReLU -> Dense). Order-blind by construction, so it shows how much of a task is
// solvable from token counts alone (a useful floor under the LRA table), and it is the worked
// example of models/README.md "Add a model".
#include <memory>

#include "models/common/layers.h"
#include "models/registry.h"

namespace lra::models {
namespace {

class BagModel : public Model {
 public:
  BagModel(const TaskInfo& task, const Options& o, uint64_t seed)
      : task_(task), ps_(seed) {
    const int h = o.Int("d_model");
    encoder_ = Encoder(ps_, "encoder", task, h, /*linear_pixels=*/false);
    if (task.pair) {
      dual_ = DualHead(ps_, "head", h, task.num_classes, DualKind::kNli, o.Int("mlp_dim"),
                       /*gelu=*/false);
    } else {
      head_ = ClassifierHead(ps_, "head", h, task.num_classes, HeadKind::kMlp, o.Int("mlp_dim"));
    }
  }

  Var Forward(const Batch& batch, bool training, Rng& rng) override {
    auto encode = [&](const int32_t* tokens, const int32_t* lengths, int b, int l) {
      return Pool(encoder_.Forward(tokens, b, l), PoolKind::kMean, lengths);
    };
    if (task_.pair) {
      auto [x1, x2] = EncodePair(batch, task_.pad_id, encode);
      return dual_.Forward(x1, x2);
    }
    return head_.Forward(encode(batch.tokens, batch.lengths, batch.batch_size, batch.length));
  }

  std::vector<ParamGroup> ParamGroups() override { return ps_.Groups(); }

 private:
  TaskInfo task_;
  ParamStore ps_;
  Encoder encoder_;
  ClassifierHead head_;
  DualHead dual_;
};

ModelInfo BagInfo() {
  ModelInfo info;
  info.name = "bag";
  info.description =
      "bag-of-tokens baseline: embedding, mean over unpadded tokens, Dense-ReLU-Dense head "
      "(NLI dual head for retrieval)";
  info.options = {
      OptionSpec{"d_model", "64", "embedding width H"}.Min(1),
      OptionSpec{"mlp_dim", "128", "hidden width of the head"}.Min(1),
  };
  info.create = [](const TaskInfo& task, const Options& o,
                   uint64_t seed) -> absl::StatusOr<std::unique_ptr<Model>> {
    if (o.Int("d_model") < 1 || o.Int("mlp_dim") < 1)
      return absl::InvalidArgumentError("bag: d_model and mlp_dim must be >= 1");
    return std::unique_ptr<Model>(new BagModel(task, o, seed));
  };
  // Parameters: embedding V x H, head H x M + M + M x K + K (the NLI dual head reads 4H).
  // Activations: the embedded tokens [B, L, H] and their gradient, per document, and one more
  // [B, L, H] of headroom (the measured peak is the first two).
  info.estimate = [](const TaskInfo& task, const Options& o, int64_t batch, int64_t length) {
    const double h = o.Int("d_model"), m = o.Int("mlp_dim"), k = task.num_classes;
    const double docs = task.pair ? 2 : 1;
    MemoryEstimate e;
    e.parameters = static_cast<double>(task.vocab_size) * h + (task.pair ? 4 : 1) * h * m + m + m * k + k;
    e.activations = docs * 3.0 * double(batch) * double(length) * h;
    return e;
  };
  return info;
}

}  // namespace
}  // namespace lra::models

LRA_REGISTER_MODEL(lra::models::BagInfo());

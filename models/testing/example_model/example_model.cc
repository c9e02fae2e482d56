// "example": a model that exists only for tests, to show (and check) that adding a model is this
// folder plus one line in a model list (models/README.md "Add a model";
// //models/testing:add_a_model_test). Token embedding -> mean over the unpadded tokens -> one
// Linear layer to the classes (for pair tasks, the NLI dual head over both documents).
#include <memory>

#include "models/common/layers.h"
#include "models/registry.h"

namespace lra::models {
namespace {

class ExampleModel : public Model {
 public:
  ExampleModel(const TaskInfo& task, const Options& o, uint64_t seed) : task_(task), ps_(seed) {
    const int h = o.Int("d_model");
    encoder_ = Encoder(ps_, "encoder", task, h, /*linear_pixels=*/false);
    if (task.pair) {
      dual_ = DualHead(ps_, "head", h, task.num_classes, DualKind::kNli, h, /*gelu=*/false);
    } else {
      head_ = ClassifierHead(ps_, "head", h, task.num_classes, HeadKind::kLinear, 0);
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

ModelInfo ExampleInfo() {
  ModelInfo info;
  info.name = "example";
  info.description = "test-only example: embedding, mean over unpadded tokens, one Linear layer";
  info.options = {OptionSpec{"d_model", "16", "embedding width H"}.Min(1)};
  info.create = [](const TaskInfo& task, const Options& o,
                   uint64_t seed) -> absl::StatusOr<std::unique_ptr<Model>> {
    return std::unique_ptr<Model>(new ExampleModel(task, o, seed));
  };
  // Not models/example/configs: the registration says where the configs are.
  info.configs = "models/testing/example_model/configs";
  return info;
}

}  // namespace
}  // namespace lra::models

LRA_REGISTER_MODEL(lra::models::ExampleInfo());

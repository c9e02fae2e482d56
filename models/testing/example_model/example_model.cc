// "example": a model that exists only for tests, to show (and check) that adding a model is this
// folder plus one line in a model list (models/README.md "Add a model";
// //models/testing:add_a_model_test). Token embedding -> mean over the unpadded tokens -> one
// Linear layer to the classes (for pair tasks, over both documents' features side by side).
#include <memory>

#include "core/ops/ops.h"
#include "models/common/layers.h"
#include "models/registry.h"

namespace lra::models {
namespace {

class ExampleModel : public Model {
 public:
  ExampleModel(const TaskInfo& task, const Options& o, uint64_t seed) : task_(task), ps_(seed) {
    const int h = o.Int("d_model");
    encoder_ = Encoder(ps_, "encoder", task, h, /*linear_pixels=*/false);
    // Pair tasks: the two documents' features side by side.
    head_ = LinearLayer(ps_, "head", task.pair ? 2 * h : h, task.num_classes);
  }

  Var Forward(const Batch& batch, bool training, Rng& rng) override {
    const int b = batch.batch_size;
    Var x = Pool(encoder_.Forward(batch.tokens, b, batch.length), PoolKind::kMean, batch.lengths);
    if (task_.pair) {
      x = Concat({x, Pool(encoder_.Forward(batch.tokens2, b, batch.length2), PoolKind::kMean,
                          batch.lengths2)},
                 1);
    }
    return head_.Forward(x);
  }

  std::vector<ParamGroup> ParamGroups() override { return ps_.Groups(); }

 private:
  TaskInfo task_;
  ParamStore ps_;
  Encoder encoder_;
  LinearLayer head_;
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

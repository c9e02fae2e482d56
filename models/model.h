// The model interface every plugin implements, and what the harness hands a model.
//
//   lra::models::TaskInfo task{.name = "listops", .vocab_size = 18, .num_classes = 10, ...};
//   LRA_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
//                        CreateModel("s4d", task, {{"d_model", "64"}}, /*seed=*/1));
//   Var logits = model->Forward(batch, /*training=*/true, rng);   // [B, num_classes]
//   Var loss = CrossEntropy(logits, labels);
//   Backward(loss);                       // then the optimizer over model->ParamGroups()
//
// Shapes used throughout models/: B = batch, L = padded length, H = model width (d_model),
// N = SSM state size, K = classes.
#ifndef LRA_MODELS_MODEL_H_
#define LRA_MODELS_MODEL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/optim/adam.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "models/options.h"

namespace lra {
class Rng;  // core/rng.h: the dropout stream a model draws its masks from.

namespace models {

// What a model knows about its task (the harness fills it from the task spec / manifest).
struct TaskInfo {
  std::string name;      // "listops", "text", "retrieval", "image", "pathfinder", "pathx",
                         // "fashion_mnist"
  int vocab_size = 0;    // token ids are in [0, vocab_size)
  int pad_id = 0;
  int num_classes = 0;
  int max_length = 0;
  bool pair = false;     // Retrieval: two documents per example
  bool pixels = false;   // image tasks: token id = intensity 0..255 (a linear encoder may be used)
  std::string pooling;   // the task's default pooling: "cls", "mean" or "first"
  // The selected encoding's `mask_pad_tokens` (tasks/task_spec.proto): a token equal to pad_id
  // is padding wherever it stands, not only past the length. LRA's attention mask is
  // `inputs > 0` (google-research/long-range-arena@cd31e5c:lra_benchmarks/models/transformer/
  // transformer.py line 148), so in its `lra` pixel encodings black pixels (token 0) are masked
  // keys; the `nomask` encodings (S4) leave it false. Models without a key mask ignore it.
  bool mask_pad_tokens = false;
};

// One padded batch (B = batch, L = padded length), borrowed from the harness for the call.
struct Batch {
  int batch_size = 0, length = 0;
  const int32_t* tokens = nullptr;   // [B, L], padded with pad_id
  const int32_t* lengths = nullptr;  // [B] unpadded lengths (nullptr: every row is full)
  int length2 = 0;                   // pair tasks: second document
  const int32_t* tokens2 = nullptr;
  const int32_t* lengths2 = nullptr;
};

// An optimizer parameter group: unset lr / weight_decay mean the run's global values. The
// schedule multiplies every group's lr, as S4's one scheduler over the optimizer does
// (state-spaces/s4@e757cef:train.py configure_optimizers; a torch LambdaLR scales every
// param group).
struct ParamGroup {
  std::string name;  // "default", "no_decay", "ssm", ...
  std::vector<Var> params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

class RecurrentModel;

class Model {
 public:
  virtual ~Model() = default;
  // Logits [B, num_classes]. `training` turns dropout and batch statistics on; `rng` is the
  // dropout stream (not touched when training is false or every dropout rate is 0).
  virtual Var Forward(const Batch& batch, bool training, Rng& rng) = 0;
  // Every trainable parameter exactly once, partitioned into groups.
  virtual std::vector<ParamGroup> ParamGroups() = 0;
  // Non-trainable state to checkpoint (BatchNorm running statistics), by unique name.
  virtual std::vector<std::pair<std::string, Tensor*>> Buffers() { return {}; }
  // Streaming inference for causal models (S4 recurrent mode); nullptr when unsupported. The
  // returned object is owned by the model and reads its current parameters at Reset().
  virtual RecurrentModel* Recurrent() { return nullptr; }
};

// Token-by-token inference over `num_streams` independent streams (one token per stream per
// call). Step writes, per stream, the logits the whole-sequence Forward would give for the
// prefix seen so far when pooling is "mean" over that prefix, i.e. the running mean of the
// per-token features through the head: out[s * num_classes + k].
class RecurrentModel {
 public:
  virtual ~RecurrentModel() = default;
  // Discretizes once from the current parameters and zeroes the state.
  virtual absl::Status Reset(int num_streams) = 0;
  // tokens: [num_streams]; logits: [num_streams, num_classes].
  virtual void Step(const int32_t* tokens, float* logits) = 0;
  // Per-token features of the last Step before pooling: [num_streams, H] (for tests).
  virtual const float* LastFeatures() const = 0;
  virtual int feature_dim() const = 0;
  // Bytes one stream's state holds after `tokens` Steps, counted from the model's shapes: what
  // the layers carry from one token to the next (an SSM's state and conv window, an RNN's h/c,
  // a Transformer's key/value cache), not the parameters or the O(H) running-mean accumulator
  // every model keeps alike. Constant in `tokens` for a recurrence. `lra bench --mode=stream`
  // reports it.
  virtual int64_t StateBytes(int64_t tokens) const = 0;
};

// What one training step of a model holds, counted analytically in float32 scalars before the
// model is built (doubles, so a huge config cannot overflow the count). A conservative count:
// the harness refuses a config whose estimate does not fit in the machine's memory, so an
// estimate should err high, within a small factor of the measured peak
// (//harness:memory_check_test holds each model to that).
struct MemoryEstimate {
  double parameters = 0;   // trainable scalars (each also has a gradient and two Adam moments)
  double activations = 0;  // what the forward pass keeps for backward, with its gradients
};

// Bytes of one training step: 4 bytes a scalar; a parameter counts 4 times (value, gradient,
// Adam's first and second moments).
double TrainingBytes(const MemoryEstimate& estimate);

struct ModelInfo {
  std::string name, description;
  std::vector<OptionSpec> options;
  std::function<absl::StatusOr<std::unique_ptr<Model>>(const TaskInfo&, const Options&,
                                                       uint64_t seed)>
      create;
  // The memory of one training step on `batch` examples of `length` tokens (per document of a
  // pair). Optional: a model without it is built without a memory check.
  std::function<MemoryEstimate(const TaskInfo&, const Options&, int64_t batch, int64_t length)>
      estimate;
  // The folder of the model's config files, relative to the repository root (harness/config.h
  // reads <configs>/<tier>.textproto and <configs>/<task>.<tier>.textproto). Empty means
  // models/<name>/configs; a library that registers several models gives each its own folder.
  std::string configs;
  // Options that turn the model's configs into its streaming form (Recurrent() non-null), e.g.
  // {"bidirectional=false"}; `lra bench --mode=stream` applies them over the model's Text
  // config. Empty: the model has no streaming mode.
  std::vector<std::string> streaming_options;
};

// Total number of trainable scalars (a complex parameter counts 2).
int64_t CountParameters(Model& model);

// The optimizer's groups (core/optim/adam.h) for a model's groups: a group's unset lr / weight
// decay take the run's `lr` / `weight_decay`.
std::vector<lra::ParamGroup> OptimizerGroups(const std::vector<ParamGroup>& groups, double lr,
                                             double weight_decay);

}  // namespace models
}  // namespace lra

#endif  // LRA_MODELS_MODEL_H_

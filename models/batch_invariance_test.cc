// Batch invariance: for every registered model and every task whose examples have variable
// lengths, an example's logits are the same (to fp32 rounding) whether it is batched alone or
// beside a much longer example, in evaluation mode. Padding must not reach an example's real
// positions: S4 zeroes each layer's input past the length (models/s4/s4_model.cc cites
// state-spaces/s4), the LRA Transformer masks padded keys.
//
// Cases are built at run time (after every plugin has registered), one gtest per
//   (model from the registry) x (task from the task specs with variable lengths) x
//   (the model's defaults, and the model options of its resolved config at each tier it has)
// so a new model, task or config is covered without editing this file. The task's vocabulary,
// pad id, classes, pair flag, pooling and pad-token masking come from its spec and the encoding
// the config names (tasks/specs.h). Two things are stand-ins, to keep the test small:
//   * lengths: the example has 23 tokens (Retrieval: documents of 23 and 41), its neighbour 240
//     (Retrieval: 240 and 200), and TaskInfo::max_length is kMaxLength = 256, not the task's
//     2,000-4,096 (a model's position table / DPLR kernel length follow max_length);
//   * an encoding whose vocabulary is built from the data (vocab_size 0 in its spec) gets
//     kDataVocab = 100 ids.
// Tokens are drawn uniformly from the vocabulary without the pad id.
//
// Tolerance. Alone, the example runs at padded length L = 23; beside the neighbour at L = 240.
// Only rounding differs: FFT sizes (2L), the S4D kernel's power tables (block size ~sqrt(L)),
// attention's key loops and GEMM blocking over B*L rows. Per layer, the FFT convolution's
// normwise relative error is <= 3 log2(2L) u (forward FFT, product, inverse FFT; Higham,
// "Accuracy and Stability of Numerical Algorithms", 2nd ed., section 24.1), the S4D kernel's
// <= 2(2M + 2) u (models/s4/ssm_kernel_s4d.cc), and a GEMM or norm over H features <= H u. With
// u = 2^-24, L <= 512, M <= 32, H <= 512 and at most 8 layers, the relative change of the
// logits is bounded by about 8 (3 * 9 + 132 + 512) u = 3.2e-4 times (1 + max |logit|), so the
// test allows kRelTol = 1e-3 (3x for gains through later layers). A pad position that leaks
// into a real one changes the logits far more: with S4's input mask removed, the S4/S4D
// configs (all bidirectional) moved by 6.7e-3 .. 0.60 relative. Measured with the mask:
// <= 2.1e-7 (S4/S4D), 0 (bag, Transformer).
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/random.h"
#include "core/tape.h"
#include "gtest/gtest.h"
// Test-only: the config resolution and the task specs (models/ code never depends on harness/ or
// tasks/; only this check does, as configs_test does).
#include "harness/config.h"
#include "models/registry.h"
#include "models/testing/spec_task.h"
#include "tasks/specs.h"

namespace lra::models {
namespace {

constexpr int kMaxLength = 256;
constexpr int kDataVocab = 100;
constexpr double kRelTol = 1e-3;

struct Case {
  std::string name;     // gtest name: <model>_<task>_<source>
  std::string model, task, source;  // source: "defaults" or the config (model x task x tier)
  std::map<std::string, std::string> options;
  std::string encoding;  // "" = the task's default
  std::string error;     // a case that could not be set up fails with this message
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (const std::string& task : tasks::ListTasks()) {
    absl::StatusOr<const tasks::TaskSpec*> spec = tasks::GetTaskSpec(task);
    if (!spec.ok()) {
      cases.push_back({"spec_" + task, "", task, "", {}, "", spec.status().ToString()});
      continue;
    }
    if ((*spec)->image_height() > 0) continue;  // every example fills the image: fixed length
    for (const ModelInfo* info : AllModels()) {
      cases.push_back({absl::StrCat(info->name, "_", task, "_defaults"), info->name, task,
                       "defaults", {}, "", ""});
      // The model's resolved config of this task at each tier it has (harness/config.h).
      const std::string dir = ConfigsDir(*info);
      for (const std::string& tier : harness::ConfigTiers(dir)) {
        Case c{absl::StrCat(info->name, "_", task, "_", tier), info->name, task,
               absl::StrCat(info->name, " x ", task, " x ", tier, " (", dir, ")"), {}, "", ""};
        absl::StatusOr<harness::RunConfig> config =
            harness::ResolveRunConfig(task, info->name, tier, harness::RunConfig());
        absl::StatusOr<std::map<std::string, std::string>> options =
            config.ok() ? harness::ModelOptionMap(*config) : config.status();
        if (!options.ok()) {
          c.error = options.status().ToString();
        } else {
          c.encoding = config->encoding();
          c.options = *options;
        }
        cases.push_back(std::move(c));
      }
    }
  }
  return cases;
}

struct Example {
  std::vector<int32_t> doc1, doc2;  // doc2 empty unless the task is a pair task
};

Example MakeExample(const TaskInfo& task, int len1, int len2, std::mt19937& g) {
  auto doc = [&](int n) {
    std::vector<int32_t> d(n);
    for (int32_t& t : d) {
      do t = static_cast<int32_t>(g() % task.vocab_size);
      while (t == task.pad_id);
    }
    return d;
  };
  Example e;
  e.doc1 = doc(len1);
  if (task.pair) e.doc2 = doc(len2);
  return e;
}

// Logits [B, K] of `examples` batched together, each document padded with pad_id to the longest.
std::vector<float> Logits(Model& model, const TaskInfo& task, const std::vector<Example>& examples) {
  const int b = static_cast<int>(examples.size());
  int l1 = 0, l2 = 0;
  for (const Example& e : examples) {
    l1 = std::max(l1, static_cast<int>(e.doc1.size()));
    l2 = std::max(l2, static_cast<int>(e.doc2.size()));
  }
  std::vector<int32_t> tok1(static_cast<size_t>(b) * l1, task.pad_id),
      tok2(static_cast<size_t>(b) * l2, task.pad_id), len1(b), len2(b);
  for (int i = 0; i < b; ++i) {
    std::copy(examples[i].doc1.begin(), examples[i].doc1.end(), tok1.begin() + i * l1);
    std::copy(examples[i].doc2.begin(), examples[i].doc2.end(), tok2.begin() + i * l2);
    len1[i] = static_cast<int>(examples[i].doc1.size());
    len2[i] = static_cast<int>(examples[i].doc2.size());
  }
  Batch batch{b, l1, tok1.data(), len1.data()};
  if (task.pair) {
    batch.length2 = l2;
    batch.tokens2 = tok2.data();
    batch.lengths2 = len2.data();
  }
  Rng rng(1);
  NoGrad no_grad;
  Var out = model.Forward(batch, /*training=*/false, rng);
  return std::vector<float>(out.value().data<float>(), out.value().data<float>() + out.numel());
}

class BatchInvarianceTest : public ::testing::Test {
 public:
  explicit BatchInvarianceTest(Case c) : c_(std::move(c)) {}

  void TestBody() override {
    ASSERT_TRUE(c_.error.empty()) << c_.error;
    SCOPED_TRACE(c_.source);
    absl::StatusOr<TaskInfo> task_info =
        testing::TaskInfoFromSpec(c_.task, c_.encoding, kMaxLength, kDataVocab);
    ASSERT_TRUE(task_info.ok()) << task_info.status();
    const TaskInfo& task = *task_info;
    absl::StatusOr<std::unique_ptr<Model>> model = CreateModel(c_.model, task, c_.options, 1);
    if (!model.ok() && c_.source == "defaults") {
      // A model whose bare defaults do not fit a task (the Transformer's pool defaults to the
      // task's `cls` pooling while cls=false) runs that task only through its configs, which
      // are cases of their own.
      GTEST_SKIP() << c_.model << "'s default options do not build for " << c_.task << " ("
                   << model.status().message() << "); its configs for " << c_.task
                   << " are tested";
    }
    ASSERT_TRUE(model.ok()) << model.status();

    std::mt19937 g(7);
    const Example shrt = MakeExample(task, 23, 41, g), lng = MakeExample(task, 240, 200, g);
    const std::vector<float> alone = Logits(**model, task, {shrt});
    const std::vector<float> first = Logits(**model, task, {shrt, lng});
    const std::vector<float> second = Logits(**model, task, {lng, shrt});
    const size_t k = alone.size();
    ASSERT_EQ(first.size(), 2 * k);
    ASSERT_EQ(second.size(), 2 * k);
    double scale = 0, err = 0;
    for (size_t j = 0; j < k; ++j) {
      scale = std::max(scale, std::abs(double{alone[j]}));
      err = std::max({err, std::abs(double{first[j]} - alone[j]),
                      std::abs(double{second[k + j]} - alone[j])});
    }
    RecordProperty("relative_error", absl::StrCat(err / (1 + scale)));
    EXPECT_LE(err, kRelTol * (1 + scale))
        << c_.model << " on " << c_.task << ": logits alone vs beside a longer example differ by "
        << err << " (max |logit| " << scale << ")";
  }

 private:
  Case c_;
};

}  // namespace
}  // namespace lra::models

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Registered here, after every plugin's static registration has run.
  for (const lra::models::Case& c : lra::models::Cases()) {
    ::testing::RegisterTest("BatchInvariance", c.name.c_str(), nullptr, nullptr, __FILE__,
                            __LINE__, [c]() -> ::testing::Test* {
                              return new lra::models::BatchInvarianceTest(c);
                            });
  }
  return RUN_ALL_TESTS();
}

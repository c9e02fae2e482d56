// libFuzzer target for the config path a user's file goes through: any text, parsed as a
// RunConfig and as a Suite textproto (core/base/textproto.h, what ResolveRunConfig and LoadSuite
// call), then range-checked (ValidateRunConfig) with its model options split (ModelOptionMap),
// and its first line applied as a --set override (ApplyOverride). Each step must return a
// Status; a parse error must name the input and a line; a crash, leak, hang or huge allocation
// is a finding.
//
// Built and run by config_fuzzer_test.sh (the :config_fuzzer test) with clang
// -fsanitize=fuzzer,address,undefined. With LRA_FUZZ_WRITE_SEEDS=<dir> set, it writes a seed
// corpus (the repository's tier configs and suites are added by the script) and exits.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "core/base/textproto.h"
#include "harness/config.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "config_fuzzer: property violated: %s\n", what);
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seeds = getenv("LRA_FUZZ_WRITE_SEEDS")) {
    const char* texts[] = {
        "train.lr=0.001\nmodel_option: \"d_model=64\"\ntrain { batch_size: 8 steps: 10 }\n",
        "max_length=-5\nmax_length: -5 train { log_every: -1 warmup_steps: -100 }\n",
        "model_option=n_layers=2\nmodel_option: \"n_layers\" train { lr: nan eps: inf }\n",
        "name: \"s\" run { task: \"listops\" model: \"s4d\" seeds: [1, 2] overrides { train { "
        "steps: 5 } } } prepare { task: \"text\" generate: true size: 100 }\n",
    };
    int i = 0;
    for (const char* t : texts) {
      const std::string path = std::string(seeds) + "/seed" + std::to_string(i++);
      FILE* f = fopen(path.c_str(), "wb");
      if (f == nullptr) return 1;
      fputs(t, f);
      fclose(f);
    }
    exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  lra::harness::RunConfig config;
  const absl::Status parsed = lra::ParseTextProto(text, "fuzz.textproto", &config);
  if (!parsed.ok()) {
    Check(absl::StartsWith(parsed.message(), "fuzz.textproto"), "parse error names the input");
  } else {
    (void)lra::harness::ValidateRunConfig(config);
    (void)lra::harness::ModelOptionMap(config);
    const size_t newline = text.find('\n');
    (void)lra::harness::ApplyOverride(text.substr(0, newline), &config);
    (void)lra::harness::ValidateRunConfig(config);
  }
  lra::harness::Suite suite;
  const absl::Status suite_parsed = lra::ParseTextProto(text, "suite.textproto", &suite);
  if (!suite_parsed.ok()) {
    Check(absl::StartsWith(suite_parsed.message(), "suite.textproto"),
          "suite parse error names the input");
  } else {
    for (const auto& run : suite.run()) (void)lra::harness::ValidateRunConfig(run.overrides());
  }
  return 0;
}

// Every flag of `lra`, declared once; the help text is the reference (`lra --help`).
#ifndef LRA_HARNESS_FLAGS_H_
#define LRA_HARNESS_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"

// Where things go.
ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, runs_dir);
ABSL_DECLARE_FLAG(std::vector<std::string>, runs_dirs);
ABSL_DECLARE_FLAG(std::string, results_dir);
ABSL_DECLARE_FLAG(int32_t, threads);
ABSL_DECLARE_FLAG(std::string, matmul_precision);

// prepare
ABSL_DECLARE_FLAG(std::string, task);
ABSL_DECLARE_FLAG(std::string, source);
ABSL_DECLARE_FLAG(bool, generate);
ABSL_DECLARE_FLAG(int64_t, size);
ABSL_DECLARE_FLAG(bool, overwrite);
ABSL_DECLARE_FLAG(std::string, encoding);
ABSL_DECLARE_FLAG(int32_t, max_length);
ABSL_DECLARE_FLAG(std::string, split);
ABSL_DECLARE_FLAG(std::string, difficulty);
ABSL_DECLARE_FLAG(std::string, keep_source);

// train / eval / suite
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, tier);
ABSL_DECLARE_FLAG(std::vector<std::string>, set);
ABSL_DECLARE_FLAG(std::string, dataset);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::string, run_name);
ABSL_DECLARE_FLAG(bool, resume);
ABSL_DECLARE_FLAG(int64_t, stop_after_step);
ABSL_DECLARE_FLAG(std::string, config);
ABSL_DECLARE_FLAG(bool, continue);
ABSL_DECLARE_FLAG(std::string, plan);
ABSL_DECLARE_FLAG(int32_t, plan_threads);
ABSL_DECLARE_FLAG(int32_t, plan_processes);
ABSL_DECLARE_FLAG(int32_t, plan_max_parallel);
ABSL_DECLARE_FLAG(std::string, run);
ABSL_DECLARE_FLAG(std::string, checkpoint);
ABSL_DECLARE_FLAG(std::string, suite);
ABSL_DECLARE_FLAG(std::vector<std::string>, only);

// export
ABSL_DECLARE_FLAG(std::string, format);
ABSL_DECLARE_FLAG(std::string, out);

// table / bench
ABSL_DECLARE_FLAG(std::vector<std::string>, models);
ABSL_DECLARE_FLAG(std::vector<std::string>, lengths);
ABSL_DECLARE_FLAG(int32_t, batch_size);
ABSL_DECLARE_FLAG(int32_t, bench_steps);
ABSL_DECLARE_FLAG(std::string, mode);
ABSL_DECLARE_FLAG(std::vector<std::string>, streams);
ABSL_DECLARE_FLAG(int32_t, stream_window);
ABSL_DECLARE_FLAG(std::vector<std::string>, model_options);

#endif  // LRA_HARNESS_FLAGS_H_

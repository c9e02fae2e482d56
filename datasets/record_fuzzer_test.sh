#!/bin/bash
# Builds datasets/record_fuzzer.cc with the reader sources under clang
# -fsanitize=fuzzer,address,undefined and runs it for a bounded time on a seed corpus
# (tools/libfuzzer.sh). Fails if clang is missing, the build fails, or the fuzzer finds a crash,
# leak, timeout or property violation.
set -euo pipefail
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
source tools/libfuzzer.sh
fuzz_setup record_fuzzer
fuzz_compile -O1 datasets/record_fuzzer.cc datasets/record_io.cc core/base/crc32c.cc \
  core/base/file_util.cc -- -DLRA_HAVE_ISAL
# shellcheck disable=SC2046
fuzz_link -lisal $(pkg-config --libs absl_statusor absl_status absl_strings)
fuzz_run -rss_limit_mb=2048 -use_value_profile=1 -max_len=4096

#!/bin/bash
# Builds tasks/common/png_fuzzer.cc with the PNG codec (tasks/common/png_codec.cc) under clang
# -fsanitize=fuzzer,address,undefined and runs it for a bounded time on a seed corpus
# (tools/libfuzzer.sh). Fails if clang is missing, the build fails, or the fuzzer finds a crash,
# leak, timeout, a single allocation past 300 MB (a huge declared image decoded) or a property
# violation.
set -euo pipefail
source tools/libfuzzer.sh
fuzz_setup png_fuzzer
fuzz_compile -O1 tasks/common/png_fuzzer.cc tasks/common/png_codec.cc
# shellcheck disable=SC2046
fuzz_link $(pkg-config --libs libpng absl_statusor absl_status absl_strings)
fuzz_run -rss_limit_mb=512 -malloc_limit_mb=300

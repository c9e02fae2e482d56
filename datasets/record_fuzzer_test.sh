#!/bin/bash
# Builds datasets/record_fuzzer.cc with the reader sources under clang
# -fsanitize=fuzzer,address,undefined and runs it for a bounded time on a seed corpus
# (tools/fuzz_lib.sh). Fails if clang is missing, the build fails, or the fuzzer finds a crash,
# leak, timeout or property violation.
source tools/fuzz_lib.sh
bin="$fuzz_work/record_fuzzer"
# shellcheck disable=SC2046
fuzz_build "$bin" -DLRA_HAVE_ISAL \
  datasets/record_fuzzer.cc datasets/record_io.cc datasets/crc32c.cc \
  -lisal $(pkg-config --libs absl_statusor absl_status absl_strings)
fuzz_run "$bin" 4096

#!/bin/bash
# Runs one target of the fuzz_targets binary (LRA_FUZZ_TARGET=$1) for FUZZ_SECONDS (default 5)
# on its seed corpus. Fails if the binary could not be built with clang, or the fuzzer finds a
# crash, leak, timeout, out-of-memory or property violation. Crash inputs land in
# $TEST_UNDECLARED_OUTPUTS_DIR (reproduce: LRA_FUZZ_TARGET=<target> fuzz_targets <file>).
set -euo pipefail
target="$1"
bin="$2"
FUZZ_SECONDS="${FUZZ_SECONDS:-5}"
work="${TEST_TMPDIR:-$(mktemp -d)}/$target"
mkdir -p "$work/seeds" "$work/corpus"
export TMPDIR="$work"
export LRA_FUZZ_TARGET="$target"
LRA_FUZZ_WRITE_SEEDS="$work/seeds" "$bin"
artifacts="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}/"
"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -max_len=16384 -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$artifacts" \
  "$work/corpus" "$work/seeds"
echo "fuzz $target: no failures in ${FUZZ_SECONDS}s"

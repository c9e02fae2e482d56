# Shared by the libFuzzer test scripts (datasets/record_fuzzer_test.sh,
# core/checkpoint_fuzzer_test.sh); source it, then call fuzz_build and fuzz_run.
#
# Bazel's toolchain here is gcc, which has no libFuzzer, so each target is built with Debian's
# clang under -fsanitize=fuzzer,address,undefined and run for $FUZZ_SECONDS (default 20) on a
# seed corpus the target writes itself (LRA_FUZZ_WRITE_SEEDS=<dir>). A crash, leak, timeout or
# property violation fails the test; crash inputs land in $TEST_UNDECLARED_OUTPUTS_DIR.
set -euo pipefail
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
if ! command -v clang++ >/dev/null; then
  echo "clang++ not found: install clang and libclang-rt-14-dev (see tools/setup.sh)" >&2
  exit 1
fi
fuzz_work="${TEST_TMPDIR:-$(mktemp -d)}"
export TMPDIR="$fuzz_work"

# fuzz_build <binary> <clang++ arguments: sources, -I, -D, libraries>
fuzz_build() {
  local bin="$1"; shift
  clang++ -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I. "$@" -o "$bin"
}

# fuzz_run <binary> <max input bytes>
fuzz_run() {
  local bin="$1" max_len="$2" name
  name=$(basename "$bin")
  rm -rf "$fuzz_work/seeds" "$fuzz_work/corpus"
  mkdir -p "$fuzz_work/seeds" "$fuzz_work/corpus"
  LRA_FUZZ_WRITE_SEEDS="$fuzz_work/seeds" "$bin"
  "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -use_value_profile=1 -print_final_stats=1 \
    -artifact_prefix="${TEST_UNDECLARED_OUTPUTS_DIR:-$fuzz_work}/" \
    "$fuzz_work/corpus" "$fuzz_work/seeds"
  echo "$name: no failures in ${FUZZ_SECONDS}s"
}

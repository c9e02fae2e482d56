#!/bin/bash
# Builds tasks/common/png_fuzzer.cc with both PNG readers (tasks/common/png.cc and
# datasets/generators/png_io.cc) under clang -fsanitize=fuzzer,address,undefined (Bazel's
# toolchain here is gcc, which has no libFuzzer) and runs it for a bounded time on a seed corpus.
# Fails if clang is missing, the build fails, or the fuzzer finds a crash, leak, timeout, an
# allocation past 512 MB (a huge declared image decoded) or a property violation. Crash inputs
# land in $TEST_UNDECLARED_OUTPUTS_DIR.
set -euo pipefail
FUZZ_SECONDS="${FUZZ_SECONDS:-6}"

if ! command -v clang++ >/dev/null; then
  echo "clang++ not found: install clang and libclang-rt-14-dev (see tools/setup.sh)" >&2
  exit 1
fi
work="${TEST_TMPDIR:-$(mktemp -d)}"
export TMPDIR="$work"
bin="$work/png_fuzzer"

flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
       -fno-sanitize-recover=undefined -I.)
pids=()
for src in tasks/common/png_fuzzer.cc tasks/common/png.cc datasets/generators/png_io.cc \
           datasets/generators/atomic_file.cc; do
  clang++ "${flags[@]}" -c "$src" -o "$work/$(basename "$src" .cc).o" & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
# shellcheck disable=SC2046
clang++ -fsanitize=fuzzer,address,undefined "$work"/*.o -o "$bin" \
  $(pkg-config --libs libpng absl_statusor absl_status absl_strings)

mkdir -p "$work/seeds" "$work/corpus"
LRA_FUZZ_WRITE_SEEDS="$work/seeds" "$bin"
artifacts="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}/"
"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=512 -malloc_limit_mb=300 \
  -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts" "$work/corpus" "$work/seeds"
echo "png_fuzzer: no failures in ${FUZZ_SECONDS}s"

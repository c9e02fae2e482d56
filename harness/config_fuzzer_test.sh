#!/bin/bash
# Builds harness/config_fuzzer.cc with the config sources (and protoc's code for
# harness/config.proto) under clang -fsanitize=fuzzer,address,undefined (Bazel's toolchain here is
# gcc, which has no libFuzzer) and runs it for a bounded time on a seed corpus that includes the
# repository's tier configs and suites. Fails if clang is missing, the build fails, or the
# fuzzer finds a crash, leak, timeout or property violation. Crash inputs land in
# $TEST_UNDECLARED_OUTPUTS_DIR.
set -euo pipefail
FUZZ_SECONDS="${FUZZ_SECONDS:-6}"

if ! command -v clang++ >/dev/null; then
  echo "clang++ not found: install clang and libclang-rt-14-dev (see tools/setup.sh)" >&2
  exit 1
fi
work="${TEST_TMPDIR:-$(mktemp -d)}"
export TMPDIR="$work"
bin="$work/config_fuzzer"
mkdir -p "$work/gen/harness"
protoc --cpp_out="$work/gen" harness/config.proto

# Debian's libprotobuf is not instrumented: ASan's container-overflow check would misfire on
# strings and vectors that cross into it.
export ASAN_OPTIONS="detect_container_overflow=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
flags=(-std=c++17 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
       -fno-sanitize-recover=undefined -I. -I"$work/gen")
# One compiler per file, in parallel; protoc's generated code at -O0 (compiled, not fuzzed for
# speed), the code under test at -O1.
pids=()
clang++ "${flags[@]}" -O0 -c "$work/gen/harness/config.pb.cc" -o "$work/config.pb.o" & pids+=($!)
for src in harness/config_fuzzer.cc harness/config.cc harness/paths.cc core/base/textproto.cc; do
  clang++ "${flags[@]}" -O1 -c "$src" -o "$work/$(basename "$src" .cc).o" & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
# shellcheck disable=SC2046
clang++ -fsanitize=fuzzer,address,undefined "$work"/*.o -o "$bin" \
  $(pkg-config --libs protobuf absl_statusor absl_status absl_strings absl_str_format)

mkdir -p "$work/seeds" "$work/corpus"
LRA_FUZZ_WRITE_SEEDS="$work/seeds" "$bin"
for f in harness/configs/*.textproto harness/suites/*.textproto; do
  cp "$f" "$work/seeds/$(dirname "$f" | tr / _)_$(basename "$f")"
done
artifacts="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}/"
"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$artifacts" "$work/corpus" "$work/seeds"
echo "config_fuzzer: no failures in ${FUZZ_SECONDS}s"

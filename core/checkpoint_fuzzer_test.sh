#!/bin/bash
# Builds core/checkpoint_fuzzer.cc with the checkpoint reader (core/checkpoint_format.cc and the
# protoc-generated core/checkpoint.pb.cc) under clang -fsanitize=fuzzer,address,undefined
# (Bazel's toolchain here is gcc, which has no libFuzzer) and runs it for a bounded time on a
# seed corpus. Fails if clang is missing, the build fails, or the fuzzer finds a crash, leak,
# timeout or property violation. Crash inputs land in $TEST_UNDECLARED_OUTPUTS_DIR.
set -euo pipefail
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"

if ! command -v clang++ >/dev/null; then
  echo "clang++ not found: install clang and libclang-rt-14-dev (see tools/setup.sh)" >&2
  exit 1
fi
work="${TEST_TMPDIR:-$(mktemp -d)}"
export TMPDIR="$work"
bin="$work/checkpoint_fuzzer"
mkdir -p "$work/gen"
protoc --proto_path=. --cpp_out="$work/gen" core/checkpoint.proto

# shellcheck disable=SC2046
clang++ -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -fno-sanitize=vptr -I. -I"$work/gen" \
  core/checkpoint_fuzzer.cc core/checkpoint_format.cc "$work/gen/core/checkpoint.pb.cc" \
  -o "$bin" -lisal $(pkg-config --libs protobuf absl_statusor absl_status absl_strings)

mkdir -p "$work/seeds" "$work/corpus"
LRA_FUZZ_WRITE_SEEDS="$work/seeds" "$bin"
artifacts="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}/"
"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$artifacts" \
  "$work/corpus" "$work/seeds"
echo "checkpoint_fuzzer: no failures in ${FUZZ_SECONDS}s"

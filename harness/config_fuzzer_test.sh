#!/bin/bash
# Builds harness/config_fuzzer.cc with the config sources (and protoc's code for
# harness/config.proto) under clang -fsanitize=fuzzer,address,undefined and runs it for a
# bounded time on a seed corpus that includes the repository's tier configs and suites
# (tools/libfuzzer.sh). Fails if clang is missing, the build fails, or the fuzzer finds a crash,
# leak, timeout or property violation.
set -euo pipefail
source tools/libfuzzer.sh
fuzz_setup config_fuzzer
mkdir -p "$work/gen"
protoc --cpp_out="$work/gen" harness/config.proto
# protoc's generated code at -O0 (compiled, not the code under test); the rest at -O1.
fuzz_compile -O0 "$work/gen/harness/config.pb.cc" -- -I"$work/gen"
fuzz_compile -O1 harness/config_fuzzer.cc harness/config.cc harness/paths.cc \
  core/base/textproto.cc -- -I"$work/gen"
# shellcheck disable=SC2046
fuzz_link $(pkg-config --libs protobuf absl_statusor absl_status absl_strings absl_str_format)
for f in harness/tiers/*.textproto harness/suites/*.textproto; do
  cp "$f" "$work/seeds/$(dirname "$f" | tr / _)_$(basename "$f")"
done
# Debian's libprotobuf is not instrumented: ASan's container-overflow check would misfire on
# strings and vectors that cross into it.
export ASAN_OPTIONS="detect_container_overflow=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fuzz_run -rss_limit_mb=2048

#!/bin/bash
# Builds core/checkpoint_fuzzer.cc with the checkpoint reader (core/checkpoint_format.cc, its
# CRC core/base/crc32c.cc and the protoc-generated core/checkpoint.pb.cc) under clang
# -fsanitize=fuzzer,address,undefined and runs it for a bounded time on a seed corpus
# (tools/libfuzzer.sh). Fails if clang is missing, the build fails, or the fuzzer finds a crash,
# leak, timeout or property violation.
set -euo pipefail
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
source tools/libfuzzer.sh
fuzz_setup checkpoint_fuzzer
mkdir -p "$work/gen"
protoc --proto_path=. --cpp_out="$work/gen" core/checkpoint.proto
# UBSan's vptr check is off: Debian's libprotobuf is built without it.
fuzz_compile -O1 core/checkpoint_fuzzer.cc core/checkpoint_format.cc core/base/crc32c.cc \
  "$work/gen/core/checkpoint.pb.cc" -- -fno-sanitize=vptr -DLRA_HAVE_ISAL -I"$work/gen"
# shellcheck disable=SC2046
fuzz_link -fno-sanitize=vptr -lisal $(pkg-config --libs protobuf absl_statusor absl_status absl_strings)
fuzz_run -rss_limit_mb=2048 -use_value_profile=1 -max_len=8192

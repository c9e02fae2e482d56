#!/bin/bash
# Builds core/checkpoint_fuzzer.cc with the checkpoint reader (core/checkpoint_format.cc and the
# protoc-generated core/checkpoint.pb.cc) under clang -fsanitize=fuzzer,address,undefined and
# runs it for a bounded time on a seed corpus (tools/fuzz_lib.sh). Fails if clang is missing,
# the build fails, or the fuzzer finds a crash, leak, timeout or property violation.
source tools/fuzz_lib.sh
bin="$fuzz_work/checkpoint_fuzzer"
mkdir -p "$fuzz_work/gen"
protoc --proto_path=. --cpp_out="$fuzz_work/gen" core/checkpoint.proto
# UBSan's vptr check is off: Debian's libprotobuf is built without it.
# shellcheck disable=SC2046
fuzz_build "$bin" -fno-sanitize=vptr -I"$fuzz_work/gen" \
  core/checkpoint_fuzzer.cc core/checkpoint_format.cc "$fuzz_work/gen/core/checkpoint.pb.cc" \
  -lisal $(pkg-config --libs protobuf absl_statusor absl_status absl_strings)
fuzz_run "$bin" 8192

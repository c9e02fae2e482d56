#!/bin/bash
# Builds the fuzz_targets binary with Debian's clang under -fsanitize=fuzzer,address,undefined
# (Bazel's toolchain here is gcc, which has no libFuzzer). Called by the :fuzz_targets genrule,
# so the build is cached like any other action:
#   build_fuzzer.sh <output binary> <gendir> <sources and headers...>
# Compiles every .cc argument, two at a time, and links them. Without clang++ the output is a
# script that fails with the fix, so `bazel build //...` still works on a machine without clang.
set -euo pipefail
out="$1"
gendir="$2"
shift 2
if ! command -v clang++ >/dev/null; then
  printf '#!/bin/sh\necho "clang++ not found: install clang and libclang-rt-14-dev (see tools/setup.sh)" >&2\nexit 1\n' >"$out"
  chmod +x "$out"
  exit 0
fi
objdir="$(mktemp -d)"
trap 'rm -rf "$objdir"' EXIT
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
       -fno-sanitize-recover=undefined -Wno-unknown-attributes -DLRA_HAVE_ISAL -I. -I"$gendir")
read -r -a cflags <<<"$(pkg-config --cflags protobuf libpng zlib)"
status=0
pids=()
n=0
for src in "$@"; do
  case "$src" in *.cc) ;; *) continue ;; esac
  clang++ "${flags[@]}" "${cflags[@]}" -c "$src" -o "$objdir/$n.o" &
  pids+=($!)
  n=$((n + 1))
  if [ "${#pids[@]}" -ge 2 ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
[ "$status" -eq 0 ] || exit 1
# shellcheck disable=SC2046
clang++ -fsanitize=fuzzer,address,undefined "$objdir"/*.o -o "$out" \
  $(pkg-config --libs protobuf absl_statusor absl_status absl_strings absl_str_format \
    absl_flat_hash_map absl_flat_hash_set absl_hash libpng zlib) -lisal -lpthread

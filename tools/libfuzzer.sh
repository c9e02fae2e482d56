# The steps shared by every libFuzzer sh_test (sourced, not run): Bazel's toolchain here is gcc,
# which has no libFuzzer, so each test compiles its target with Debian's clang under
# -fsanitize=fuzzer,address,undefined and runs it for a bounded time on a seed corpus that the
# target writes itself (LRA_FUZZ_WRITE_SEEDS=<dir>). Callers: datasets/record_fuzzer_test.sh,
# core/checkpoint_fuzzer_test.sh, tasks/common/png_fuzzer_test.sh, harness/config_fuzzer_test.sh.
#
#   source tools/libfuzzer.sh
#   fuzz_setup my_fuzzer                   # checks clang, sets $work, $bin, $TMPDIR, $FUZZ_FLAGS
#   fuzz_compile -O1 a.cc b.cc ... [-- extra clang flags]   # one clang per file, in parallel
#   fuzz_link $(pkg-config --libs ...)     # links $work/obj/*.o into $bin
#   fuzz_run -max_len=8192 ...             # seeds, then the fuzzer; later flags override earlier
#
# fuzz_run fails on a crash, leak, timeout or property violation; crash inputs land in
# $TEST_UNDECLARED_OUTPUTS_DIR. FUZZ_SECONDS bounds the run (default 6; set it before
# fuzz_setup for a longer default).
set -euo pipefail

fuzz_setup() {
  FUZZ_SECONDS="${FUZZ_SECONDS:-6}"
  if ! command -v clang++ >/dev/null; then
    echo "clang++ not found: install clang and libclang-rt-14-dev (see tools/setup.sh)" >&2
    exit 1
  fi
  work="${TEST_TMPDIR:-$(mktemp -d)}"
  export TMPDIR="$work"
  bin="$work/$1"
  FUZZ_NAME="$1"
  FUZZ_FLAGS=(-std=c++17 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
              -fno-sanitize-recover=undefined -I.)
  rm -rf "$work/obj" "$work/seeds" "$work/corpus"
  mkdir -p "$work/obj" "$work/seeds" "$work/corpus"
}

# fuzz_compile <optimization flag> <sources...> [-- <extra clang flags>]
# Objects are named after the source's basename, so two sources must not share one.
fuzz_compile() {
  local opt="$1" pids=() srcs=() extra=() pid
  shift
  while [[ $# -gt 0 && "$1" != "--" ]]; do srcs+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift && extra=("$@")
  for src in "${srcs[@]}"; do
    clang++ "${FUZZ_FLAGS[@]}" "${extra[@]}" "$opt" -c "$src" \
      -o "$work/obj/$(basename "$src" .cc).o" & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}

fuzz_link() {
  clang++ -fsanitize=fuzzer,address,undefined "$work"/obj/*.o -o "$bin" "$@"
}

# fuzz_run [libFuzzer flags]: the defaults below come first, so the caller's flags win.
fuzz_run() {
  LRA_FUZZ_WRITE_SEEDS="$work/seeds" "$bin"
  "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}/" "$@" "$work/corpus" "$work/seeds"
  echo "$FUZZ_NAME: no failures in ${FUZZ_SECONDS}s"
}

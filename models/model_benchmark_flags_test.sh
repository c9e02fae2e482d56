#!/usr/bin/env bash
# model_benchmark's own flags: a bad value or an unknown flag is one error naming it, exit 1
# (not a run with the defaults); good flags list the benchmarks (--benchmark_list_tests, so no
# benchmark runs here).
set -uo pipefail
bin="$1"
fail=0
expect_error() {  # expect_error PATTERN ARGS...
  local pattern="$1"
  shift
  local out rc
  out="$("$bin" "$@" --benchmark_list_tests=true 2>&1)"
  rc=$?
  if [[ $rc -ne 1 ]] || ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL: model_benchmark $* -> rc $rc, output: $(head -3 <<<"$out")"
    fail=1
  fi
}
expect_error "unrecognized command-line flag: --bogus" --bogus
expect_error "want --matmul_precision=fp32 or --matmul_precision=bf16" --matmul_precision=fp64
expect_error "--batch=3x: want a positive integer" --batch=3x
expect_error "--threads=0: want a positive integer" --threads=0
expect_error "--steps=99999999999: want a positive integer" --steps=99999999999
expect_error "want --attention=dense or --attention=blocked" --attention=sparse
out="$("$bin" --matmul_precision=fp32 --batch=4 --threads=1 --attention=dense \
  --benchmark_list_tests=true --benchmark_filter='^BM_S4dTrain/1024/' 2>&1)" ||
  { echo "FAIL: good flags: $out"; fail=1; }
grep -q "BM_S4dTrain/1024" <<<"$out" || { echo "FAIL: good flags listed: $out"; fail=1; }
exit $fail

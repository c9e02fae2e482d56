#!/usr/bin/env bash
# fft_wisdom_tool's arguments: --help prints the usage and exits 0; a candidates count that is
# not an integer in [1, 100], or extra arguments, get one error naming the problem and exit 2
# (before any planning, so this test does not time FFTs).
set -uo pipefail
tool="$1"
fail=0
expect() {  # expect RC PATTERN ARGS...
  local want="$1" pattern="$2"
  shift 2
  local out rc
  out="$("$tool" "$@" 2>&1)"
  rc=$?
  if [[ $rc -ne $want ]] || ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL: fft_wisdom_tool $* -> rc $rc (want $want), output: $out"
    fail=1
  fi
}
expect 0 "usage: fft_wisdom_tool" --help
for bad in abc 0 101 -3 2x ""; do
  expect 2 "candidates must be an integer in \[1, 100\], not '$bad'" "$bad"
done
expect 2 "usage: fft_wisdom_tool" 3 4
exit $fail

#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test. This is the README's test command
# and exactly what CI runs (.ci/run). Extra arguments go to `bazel test`.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || exit 1

log=$(mktemp)
bazel test --test_summary=short "$@" //... 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -cE '^//.* PASSED in' "$log")
failed=$(grep -cE '^//.* (FAILED|TIMEOUT|FAILED TO BUILD|NO STATUS|INCOMPLETE)( in|$)' "$log")
rm -f "$log"
if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1; fi  # a build error fails before any test runs
echo "${passed} passed, ${failed} failed"
exit $rc

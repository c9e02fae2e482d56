#!/usr/bin/env bash
# Hostile flags and config values through the real `lra` binary (issue 11 items 5 and 8): each
# is one clear error naming the flag or field and its allowed range, exit code 2, and nothing is
# left on disk (no run folder).
set -euo pipefail
lra="$TEST_SRCDIR/lra/harness/lra"
out="$TEST_TMPDIR/limits"
mkdir -p "$out"

# expect_error <grep pattern> <lra arguments...>
expect_error() {
  local pattern="$1"
  shift
  local rc=0
  "$lra" "$@" --runs_dir="$out/runs" --data_dir="$out/data" 2>"$out/err" >/dev/null || rc=$?
  if [[ $rc -ne 2 ]]; then
    echo "lra $*: exit code $rc, expected 2"; cat "$out/err"; exit 1
  fi
  grep -qF -- "$pattern" "$out/err" || { echo "lra $*: unclear error:"; cat "$out/err"; exit 1; }
  if [[ -e "$out/runs" ]]; then echo "lra $*: left $out/runs behind"; exit 1; fi
}

train=(train --task=listops --model=s4d --tier=smoke)
expect_error "--threads=100000 is out of range: use 1 to" --threads=100000 "${train[@]}"
expect_error "--threads=-1 is out of range" --threads=-1 "${train[@]}"
expect_error "max_length = -5 is out of range; allowed: [0, inf)" "${train[@]}" --set=max_length=-5
expect_error "train.log_every = -1 is out of range" "${train[@]}" --set=train.log_every=-1
expect_error "train.warmup_steps = -100 is out of range" "${train[@]}" \
  --set=train.warmup_steps=-100
expect_error "train.eval_examples = -5 is out of range; allowed: [0, inf) (0 = the whole split)" \
  "${train[@]}" --set=train.eval_examples=-5
# The documented default and the lower end still work.
"$lra" --threads=0 models >/dev/null
"$lra" --threads=1 models >/dev/null
echo "limits: every hostile value refused"

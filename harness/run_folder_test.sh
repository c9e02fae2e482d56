#!/usr/bin/env bash
# Run folders and signals through the real `lra` binary, as separate processes: the exit codes
# of `lra --help` (3 DIVERGED, 4 CUT_SHORT, 130 interrupted, 2 usage), a second `lra train` on a
# folder another one holds (refused, told the holder's pid), Ctrl-C during training (checkpoint,
# then --resume finishes), --resume of a missing run (creates nothing), and Ctrl-C during
# `lra prepare` (stops, removes its temporary folders; a second Ctrl-C stops at once).
set -euo pipefail
lra="$TEST_SRCDIR/lra/harness/lra"
out="$TEST_TMPDIR/run_folder"
rm -rf "$out"
mkdir -p "$out"
common=(--threads=1 --data_dir="$out/data" --runs_dir="$out/runs")
fail() { echo "FAIL: $*"; [[ -f "$out/err" ]] && cat "$out/err"; exit 1; }

# Runs lra with the given arguments and checks its exit code and a line of its stderr.
expect() {
  local code="$1" want="$2"; shift 2
  local rc=0
  "$lra" "$@" >"$out/stdout" 2>"$out/err" || rc=$?
  [[ $rc -eq $code ]] || fail "lra $* exited $rc, expected $code"
  grep -qF -- "$want" "$out/err" || fail "lra $*: stderr lacks '$want'"
}

# Waits (up to 60 s) until file $1 contains $2.
wait_for() {
  for _ in $(seq 600); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$1 never contained '$2'"
}

"$lra" prepare "${common[@]}" --task=listops --generate --size=400 2>/dev/null
train=(train "${common[@]}" --task=listops --model=bag --tier=smoke)

# Exit codes of finished runs.
expect 0 "COMPLETED" "${train[@]}" --run_name=ok
expect 3 "run DIVERGED" "${train[@]}" --run_name=diverged --set=train.lr=1e4
expect 4 "run CUT_SHORT" "${train[@]}" --run_name=cut --set=train.max_minutes=1e-9
expect 2 "Drop --resume" "${train[@]}" --run_name=missing --resume
[[ ! -e "$out/runs/missing" ]] || fail "--resume of a missing run created its folder"

# Two processes on one run folder; then Ctrl-C; then --resume.
long=("${train[@]}" --run_name=long --set=train.steps=2000000,train.eval_every=1000000)
"$lra" "${long[@]}" >/dev/null 2>"$out/long.err" &
pid=$!
wait_for "$out/runs/long/lock" "command: lra train"
wait_for "$out/long.err" "listops bag"
expect 1 "pid: $pid, host: " "${long[@]}"
grep -qF "started: 20" "$out/err" || fail "the holder's start time is not named"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 130 ]] || { cat "$out/long.err"; fail "interrupted train exited $rc, expected 130"; }
grep -qF "run INTERRUPTED" "$out/long.err" || fail "no INTERRUPTED message"
[[ -f "$out/runs/long/last.ckpt" ]] || fail "no last.ckpt after Ctrl-C"
expect 2 "train.steps: 2000000 -> 20" "${train[@]}" --run_name=long --resume
# The same config resumes (train.max_minutes may change: a safety net, here to end the run).
expect 4 "run CUT_SHORT" "${train[@]}" --run_name=long --resume \
  --set=train.steps=2000000,train.eval_every=1000000,train.max_minutes=0.001

# Waits (up to 60 s) until the generator has started writing images into its scratch folder.
wait_for_images() {
  for _ in $(seq 600); do
    [[ -n "$(find "$out/data" -path '*source.tmp*' -name '*.png' -print -quit 2>/dev/null)" ]] &&
      return 0
    sleep 0.1
  done
  fail "prepare never started generating"
}

# Ctrl-C during prepare: a clean stop, no temporary folder left, no dataset.
prep=(prepare "${common[@]}" --task=pathx --generate --size=4000)
"$lra" "${prep[@]}" >/dev/null 2>"$out/prep.err" &
pid=$!
wait_for_images
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 130 ]] || { cat "$out/prep.err"; fail "interrupted prepare exited $rc, expected 130"; }
grep -qF "temporary files were removed" "$out/prep.err" || { cat "$out/prep.err"; fail "no clean-stop message"; }
left=$(find "$out/data" -maxdepth 1 -name 'pathx*')
[[ -d "$out/data" ]] || fail "no data folder"
[[ -z "$left" ]] || fail "prepare left $left behind"

# A second Ctrl-C stops at once.
"$lra" "${prep[@]}" >/dev/null 2>"$out/prep2.err" &
pid=$!
wait_for_images
kill -INT "$pid"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 130 ]] || fail "twice-interrupted prepare exited $rc, expected 130"
echo "run_folder_test: all passed"

#!/usr/bin/env bash
# Data-parallel training through the real binary under Open MPI (1 thread per process, loopback,
# oversubscribed as CI's 2 cores need): `mpirun -np 2 lra train` equals one process accumulating
# the same 2 micro-batches (train.grad_accum=2) bit for bit, checkpoints and metrics, with
# dropout and BatchNorm buffers in play, and differs from the unsplit step; a run stopped
# mid-way and resumed with 2 processes, or as 1 process with grad_accum=2, ends equal to the
# uninterrupted run; a resume that would change the micro-batch count is refused; 3 processes
# with an odd batch work; another command under mpirun is refused.
set -euo pipefail
lra="$TEST_SRCDIR/lra/harness/lra"
out="$TEST_TMPDIR/data_parallel"
rm -rf "$out"
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TMPDIR="$TEST_TMPDIR"
mpirun=(mpirun --oversubscribe --bind-to none --mca btl self,vader)
fail() { echo "FAIL: $*"; [[ -f "$out/err" ]] && tail -20 "$out/err"; exit 1; }
common=(--threads=1 --data_dir="$out/data" --runs_dir="$out/runs")
set_=train.steps=8,train.eval_every=4,train.checkpoint_every=1,train.batch_size=8
set_+=,model_option=norm=batch,model_option=dropout=0.1
train=(train "${common[@]}" --task=listops --model=s4d --tier=smoke)

"$lra" prepare "${common[@]}" --task=listops --encoding=s4_eos --generate --size=400 2>/dev/null

# Metrics without the wall-clock fields.
metrics() { sed -E 's/"(wall_seconds|tokens_per_second)":[0-9.e+-]*,?//g' "$out/runs/$1/metrics.jsonl"; }
same() {  # run $1 and run $2 end with the same parameters, optimizer, buffers and metrics
  for f in last.ckpt best.ckpt; do
    cmp -s "$out/runs/$1/$f" "$out/runs/$2/$f" || fail "$1/$f differs from $2/$f"
  done
  diff <(metrics "$1") <(metrics "$2") >/dev/null || fail "$1/metrics.jsonl differs from $2's"
}
run() { "$@" >>"$out/err" 2>&1 || fail "$* exited $?"; }

run "$lra" "${train[@]}" --run_name=accum2 --set=$set_,train.grad_accum=2
run "${mpirun[@]}" -np 2 "$lra" "${train[@]}" --run_name=np2 --set=$set_
same accum2 np2
run "$lra" "${train[@]}" --run_name=whole --set=$set_
cmp -s "$out/runs/whole/last.ckpt" "$out/runs/np2/last.ckpt" &&
  fail "2 micro-batches gave the bits of the unsplit step: the test would not see a wrong order"
grep -q '"processes": 2' "$out/runs/np2/result.json" || fail "result.json lacks processes: 2"
grep -q '"microBatches": 2\|"micro_batches": 2' "$out/runs/np2/result.json" ||
  fail "result.json lacks micro_batches: 2"

# Stopped at step 3 by 2 processes, resumed by 2 processes; and by 1 process with grad_accum=2.
for resume in np2 accum2; do
  name=stopped_$resume
  rc=0
  "${mpirun[@]}" -np 2 "$lra" "${train[@]}" --run_name=$name --set=$set_ --stop_after_step=3 \
    >>"$out/err" 2>&1 || rc=$?
  [[ $rc -ne 0 ]] || fail "a run stopped by --stop_after_step exited 0"
  grep -q 'stopped at step 3' "$out/runs/$name/result.json" || fail "$name did not stop at step 3"
  if [[ $resume == np2 ]]; then
    run "${mpirun[@]}" -np 2 "$lra" "${train[@]}" --run_name=$name --set=$set_ --resume
  else
    # Refused first: 1 process x grad_accum 1 would change the micro-batch count.
    rc=0
    "$lra" "${train[@]}" --run_name=$name --set=$set_ --resume >"$out/refused" 2>&1 || rc=$?
    [[ $rc -ne 0 ]] && grep -q 'trained with 2 micro-batches per step' "$out/refused" ||
      { cat "$out/refused"; fail "a resume with 1 micro-batch was not refused"; }
    run "$lra" "${train[@]}" --run_name=$name --set=$set_,train.grad_accum=2 --resume
  fi
  same np2 $name
done

# Three processes, an uneven split (8 rows: 3, 3, 2), equal to 3 accumulated micro-batches.
run "${mpirun[@]}" -np 3 "$lra" "${train[@]}" --run_name=np3 --set=$set_
run "$lra" "${train[@]}" --run_name=accum3 --set=$set_,train.grad_accum=3
same np3 accum3

# Only `lra train` splits its work over processes.
rc=0
"${mpirun[@]}" -np 2 "$lra" tasks >"$out/refused" 2>&1 || rc=$?
[[ $rc -ne 0 ]] && grep -q 'only `lra train`' "$out/refused" || { cat "$out/refused"; fail "lra tasks under mpirun -np 2 was not refused"; }
echo "PASS"

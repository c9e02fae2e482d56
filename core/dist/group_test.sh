#!/usr/bin/env bash
# Runs group_test_bin as a group of one, then under Open MPI with 2 and 3 ranks (1 thread each,
# oversubscribed on small machines), then checks that a failing rank ends the job promptly.
set -uo pipefail
bin="$(dirname "$0")/group_test_bin"
[[ -x "$bin" ]] || bin="core/dist/group_test_bin"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
export TMPDIR="${TEST_TMPDIR:-/tmp}"
mpirun=(mpirun --oversubscribe --bind-to none --mca btl self,vader)
fail=0

"$bin" || fail=1
# Every rank would share these two gtest files; the single-process run above used them.
unset TEST_PREMATURE_EXIT_FILE XML_OUTPUT_FILE
for np in 2 3 4; do
  echo "== mpirun -np $np"
  "${mpirun[@]}" -np "$np" "$bin" --gtest_brief=1 || { echo "FAIL: -np $np"; fail=1; }
done

for mode in abort exit; do
  echo "== a rank that fails ($mode)"
  start=$SECONDS
  out=$(LRA_GROUP_TEST_FAIL=$mode timeout 50 "${mpirun[@]}" -x LRA_GROUP_TEST_FAIL -np 2 "$bin" \
        --gtest_filter='GroupFailureTest.*' 2>&1)
  rc=$?
  echo "$out" | tail -5
  if [[ $rc -eq 0 ]]; then echo "FAIL ($mode): the job exited 0"; fail=1; fi
  if [[ $rc -eq 124 ]]; then echo "FAIL ($mode): the job hung"; fail=1; fi
  if (( SECONDS - start > 40 )); then echo "FAIL ($mode): took $((SECONDS - start)) s"; fail=1; fi
  if [[ $mode == abort ]] && ! grep -q "rank 1 of 2: DATA_LOSS: shard 3 is corrupt" <<<"$out"; then
    echo "FAIL (abort): the failing rank's message is missing"; fail=1
  fi
done
exit $fail

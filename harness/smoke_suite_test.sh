#!/usr/bin/env bash
# The smoke suite end to end through the real `lra` binary, as a user runs it: prepare every
# task (generated, synthetic and Debian's Fashion-MNIST), train both models on each with the
# smoke configs, write the tables; then run it again and compare tables and checkpoints byte for
# byte. Fails if any step fails, a table lacks our rows, or the second run differs.
set -euo pipefail
lra="$TEST_SRCDIR/lra/harness/lra"
out="$TEST_TMPDIR/smoke"
mkdir -p "$out"

# A bad process-wide flag is one clear error before any work, and a non-zero exit.
if "$lra" --matmul_precision=bf17 tasks 2>"$out/err"; then
  echo "--matmul_precision=bf17 was accepted"; exit 1
fi
grep -q "must be fp32 or bf16, not 'bf17'" "$out/err" || { echo "unclear error:"; cat "$out/err"; exit 1; }

"$lra" suite --suite=smoke --threads=2 --data_dir="$out/data" --runs_dir="$out/runs" \
    --results_dir="$out/results"
table="$out/results/lra_table.md"
test -s "$table" || { echo "no $table"; exit 1; }
for model in s4d transformer "majority class"; do
  grep -q "$model" "$table" || { echo "$table has no row for $model"; cat "$table"; exit 1; }
done
runs=$(find "$out/runs" -name result.json | wc -l)
[[ $runs -ge 12 ]] || { echo "expected at least 12 runs, found $runs"; exit 1; }
cat "$table"

# Reproducible: the same suite, seed and thread count again (on the prepared data) gives the
# same tables and checkpoints, byte for byte. Budgets are steps; wall time stays out of both.
if grep -rq '"CUT_SHORT"' "$out/runs"; then
  echo "a smoke run was cut short by its time safety net; this machine is too loaded"; exit 1
fi
"$lra" suite --suite=smoke --threads=2 --data_dir="$out/data" --runs_dir="$out/runs2" \
    --results_dir="$out/results2"
differ=0
for f in "$out"/results/lra_table*; do
  cmp -s "$f" "$out/results2/$(basename "$f")" || { echo "table differs: $(basename "$f")"; differ=1; }
done
checkpoints=0
while IFS= read -r -d '' f; do
  rel=${f#"$out/runs/"}
  cmp -s "$f" "$out/runs2/$rel" || { echo "checkpoint differs: $rel"; differ=1; }
  checkpoints=$((checkpoints + 1))
done < <(find "$out/runs" -name '*.ckpt' -print0)
[[ $checkpoints -ge 24 ]] || { echo "expected at least 24 checkpoints, found $checkpoints"; exit 1; }
[[ $differ -eq 0 ]] || { diff "$out/results/lra_table_last.md" "$out/results2/lra_table_last.md"; exit 1; }
echo "second run: tables and $checkpoints checkpoints identical"

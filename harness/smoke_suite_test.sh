#!/usr/bin/env bash
# The smoke suite end to end through the real `lra` binary, as a user runs it: prepare every
# task (generated, synthetic and Debian's Fashion-MNIST), train both models on each with the
# smoke configs, write the tables. Fails if any step fails or a table lacks our rows.
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

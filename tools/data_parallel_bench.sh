#!/usr/bin/env bash
# Data parallelism on one machine: `mpirun -np 2 lra train --threads=1` against one process with
# --threads=2, for S4D and the Transformer (H=128, 4 layers, batch 8) on Text at L=1K and 4K.
# The Transformer uses blocked attention at 4K (O(L) memory). Prints, per case, training tokens/s
# (result.json: train tokens over the run's wall time, start-up included) and, for the 2-process
# runs, seconds in collectives (waiting for the slower process included) and bytes rank 0 sent,
# per step.
#   tools/data_parallel_bench.sh [STEPS]      default 20 steps per run
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-20}"
bazel build -c opt //harness:lra >/dev/null 2>&1
lra="$PWD/bazel-bin/harness/lra"
work=$(mktemp -d /tmp/lra-dp-bench.XXXXXX)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$lra" prepare --threads=2 --data_dir="$work/data" --task=text --generate --size=600 2>/dev/null
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r.get(sys.argv[2], 0))" "$@"; }
printf "| model | L | 1 process x 2 threads | 2 processes x 1 thread | ratio | comm s/step | MB sent/step |\n"
printf "|---|---|---|---|---|---|---|\n"
for model in s4d transformer; do
  for length in 1024 4096; do
    set_="max_length=$length,train.steps=$steps,train.batch_size=8,train.eval_every=100000"
    set_+=",train.eval_examples=8,model_option=d_model=128,model_option=n_layers=4"
    if [[ $model == transformer && $length -gt 2048 ]]; then set_+=",model_option=attention=blocked"; fi
    args=(train --task=text --model="$model" --tier=small --data_dir="$work/data"
          --runs_dir="$work/runs" --set="$set_")
    "$lra" "${args[@]}" --threads=2 --run_name="$model-$length-1x2" >/dev/null 2>&1
    mpirun --oversubscribe --bind-to none -np 2 "$lra" "${args[@]}" --threads=1 \
      --run_name="$model-$length-2x1" >/dev/null 2>&1
    one="$work/runs/$model-$length-1x2/result.json"
    two="$work/runs/$model-$length-2x1/result.json"
    t1=$(field "$one" tokens_per_second)
    t2=$(field "$two" tokens_per_second)
    comm=$(field "$two" communication_seconds_per_step)
    bytes=$(field "$two" bytes_sent_per_step)
    python3 -c "import sys; t1,t2,c,b=map(float,sys.argv[1:]); print(f'| $model | $length | {t1:,.0f} tok/s | {t2:,.0f} tok/s | {t2/t1:.2f} | {c:.3f} | {b/1e6:.2f} |')" "$t1" "$t2" "$comm" "$bytes"
  done
done
rm -rf "$work"

#!/usr/bin/env bash
# `lra bench --mode=stream` (and the training bench's --model_options) through the real binary: tiny contexts at the smoke tier write one
# stream-*.json per point and stream_table.{md,csv,json} + stream.svg; bad flag values are one
# clear error each (exit code 2) and write no table; `lra --help` documents every flag.
set -euo pipefail
lra="$TEST_SRCDIR/lra/harness/lra"
out="$TEST_TMPDIR/stream"
mkdir -p "$out"

"$lra" bench --mode=stream --tier=smoke --models=s4d,mamba,lstm,transformer --lengths=16,32 \
  --streams=1,2 --stream_window=8 --threads=1 --results_dir="$out/results" 2>"$out/log"
for f in stream_table.md stream_table.csv stream_table.json stream.svg; do
  [[ -s "$out/results/$f" ]] || { echo "no $f"; cat "$out/log"; exit 1; }
done
n=$(ls "$out/results/bench"/stream-*.json | wc -l)
[[ $n -eq 16 ]] || { echo "expected 16 result files (4 models x 2 streams x 2 contexts), got $n"; exit 1; }
md="$out/results/stream_table.md"
for row in "| transformer | " "| s4d | " "| mamba | " "| lstm | " "## 1 stream" "## 2 streams" \
    "- transformer: causal=true, cls=false, pool=mean"; do
  grep -qF -- "$row" "$md" || { echo "stream_table.md lacks '$row'"; cat "$md"; exit 1; }
done
grep -qF "stream transformer, 2 streams, context 32" "$out/log" || { echo "no progress on stderr"; cat "$out/log"; exit 1; }
# The training bench's table is not touched by --mode=stream.
[[ ! -e "$out/results/bench_table.md" ]] || { echo "--mode=stream wrote bench_table.md"; exit 1; }

# expect_error <grep pattern> <lra bench arguments...>
expect_error() {
  local pattern="$1"
  shift
  local rc=0
  rm -rf "$out/bad"
  "$lra" bench --tier=smoke --threads=1 --results_dir="$out/bad" "$@" 2>"$out/err" >/dev/null || rc=$?
  if [[ $rc -ne 2 ]]; then
    echo "lra bench $*: exit code $rc, expected 2"; cat "$out/err"; exit 1
  fi
  grep -qF -- "$pattern" "$out/err" || { echo "lra bench $*: unclear error:"; cat "$out/err"; exit 1; }
  if [[ -e "$out/bad/stream_table.md" ]]; then echo "lra bench $*: wrote a table"; exit 1; fi
}
stream=(--mode=stream --lengths=16,32 --stream_window=8)
expect_error "--mode: 'fast' is not a bench mode; use train or stream" --mode=fast
expect_error "--streams: '0' is not a positive integer" "${stream[@]}" --streams=0
expect_error "--streams: 5000 is out of range; use 1 to 4096" "${stream[@]}" --streams=5000
expect_error "--lengths: 'x' is not a positive integer" --mode=stream --lengths=x
expect_error "--stream_window=64: the window is centred on each length, so it needs 32 tokens" \
  --mode=stream --lengths=16,32 --stream_window=64
expect_error "the windows around lengths 16 and 20 overlap; use --stream_window=4 or less" \
  --mode=stream --lengths=16,20 --stream_window=8
expect_error "--stream_window=0 is out of range" "${stream[@]}" --stream_window=0
expect_error "--model_options: 'd_model' is not <model>.<option>=<value>" "${stream[@]}" \
  --model_options=d_model
expect_error "names model 'gru', which is not measured (s4d)" "${stream[@]}" --models=s4d \
  --model_options=gru.d_model=8
expect_error "--models: " "${stream[@]}" --models=nosuchmodel
expect_error "model local has no streaming mode" "${stream[@]}" --models=local
expect_error "model s4d with options [bidirectional=false, norm=layer, pool=mean, nosuch=1]" \
  "${stream[@]}" --models=s4d --model_options=s4d.nosuch=1
expect_error "--model_options: 'gru.d_model=8' names model 'gru', which is not measured (s4d)" \
  --models=s4d --lengths=16 --model_options=gru.d_model=8
expect_error "model s4d with --model_options [nosuch=1]" --models=s4d --lengths=16 \
  --batch_size=2 --bench_steps=1 --model_options=s4d.nosuch=1

# The training bench applies --model_options over each model's Text config and says so.
train=(bench --tier=smoke --models=s4d,lstm --lengths=16 --batch_size=2 --bench_steps=1 --threads=1)
"$lra" "${train[@]}" --results_dir="$out/plain" 2>"$out/log"
"$lra" "${train[@]}" --model_options='*.d_model=24,lstm.n_layers=2' --results_dir="$out/sized" \
  2>"$out/log"
params() { grep -o '"parameters": *"*[0-9]*' "$1" | grep -o '[0-9]*$'; }
for m in s4d lstm; do
  a=$(params "$out/plain/bench/bench-$m-text-L16-B2.json")
  b=$(params "$out/sized/bench/bench-$m-text-L16-B2.json")
  [[ -n "$a" && -n "$b" && "$a" != "$b" ]] ||
    { echo "$m: --model_options did not change the model ($a vs $b parameters)"; exit 1; }
done
for line in "- s4d: over its Text config, --model_options d_model=24" \
    "- lstm: over its Text config, --model_options d_model=24, n_layers=2"; do
  grep -qF -- "$line" "$out/sized/bench_table.md" ||
    { echo "bench_table.md lacks '$line'"; cat "$out/sized/bench_table.md"; exit 1; }
done

help=$("$lra" --help 2>&1 || true)
for flag in --mode --streams --stream_window --model_options --lengths --models --tier; do
  grep -qF -- "$flag" <<<"$help" || { echo "lra --help does not document $flag"; exit 1; }
done
echo "stream bench: table written, every bad value refused"

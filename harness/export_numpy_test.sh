#!/usr/bin/env bash
# `lra export` through the real binary, read back with plain numpy.load (Debian's python3-numpy,
# installed by tools/setup.sh): a tiny S4D run with BatchNorm is trained, exported, and every
# array is compared with the checkpoint by harness/export_check.py; numpy also reads an archive
# with every ZIP64 record forced. Then each user error must be one clear message and a
# non-zero exit.
set -euo pipefail
lra="$TEST_SRCDIR/lra/harness/lra"
check="$TEST_SRCDIR/lra/harness/export_check.py"
zip64_writer="$TEST_SRCDIR/lra/core/base/npz_write_example"
out="$TEST_TMPDIR/export"
rm -rf "$out"
mkdir -p "$out"
python=/usr/bin/python3
if ! "$python" -c "import numpy" 2>/dev/null; then
  echo "numpy is missing: install python3-numpy (tools/setup.sh lists it)"; exit 1
fi
common=(--threads=2 --data_dir="$out/data" --runs_dir="$out/runs")

"$lra" prepare "${common[@]}" --task=listops --generate --size=300 --encoding=s4_eos
"$lra" train "${common[@]}" --task=listops --model=s4d --tier=smoke --run_name=tiny \
    --set=max_length=64,train.batch_size=8,train.steps=6,train.eval_every=3,train.eval_examples=16,model_option=d_model=8,model_option=n_layers=2,model_option=d_state=4,model_option=norm=batch,model_option=bidirectional=true
run="$out/runs/tiny"

# Default place: <run>/best.npz, the path on stdout.
path=$("$lra" export "${common[@]}" --run=tiny)
[[ "$path" == "$run/best.npz" ]] || { echo "export wrote '$path', expected $run/best.npz"; exit 1; }
"$lra" export "${common[@]}" --run="$run" --checkpoint=last --format=npz --out="$out/last.npz" >/dev/null
"$zip64_writer" "$out/zip64.npz"
"$python" "$check" "$run/best.npz" "$run/best.ckpt" "$out/zip64.npz"
"$python" "$check" "$out/last.npz" "$run/last.ckpt"

# Each error: non-zero exit, one line that names the problem, nothing written.
expect_error() {
  local want="$1"; shift
  if "$lra" export "${common[@]}" "$@" >"$out/stdout" 2>"$out/err"; then
    echo "lra export $* succeeded"; exit 1
  fi
  grep -qF -- "$want" "$out/err" || { echo "lra export $*: unclear error:"; cat "$out/err"; exit 1; }
  [[ $(wc -l <"$out/err") -eq 1 ]] || { echo "lra export $*: more than one line:"; cat "$out/err"; exit 1; }
  [[ ! -e "$out/never.npz" ]] || { echo "lra export $* wrote $out/never.npz"; exit 1; }
}
expect_error "--run=no-such-run: no such run folder" --run=no-such-run --out="$out/never.npz"
cp -r "$run" "$out/runs/partial"
rm "$out/runs/partial/best.ckpt" "$out/runs/partial/best.npz"
expect_error "has no best.ckpt (it has last.ckpt; use --checkpoint=last)" --run=partial --out="$out/never.npz"
expect_error "--format must be npz" --run=tiny --format=onnx --out="$out/never.npz"
expect_error "cannot write the export to '/proc/lra-export/w.npz'" --run=tiny --out=/proc/lra-export/w.npz
echo "export: OK"

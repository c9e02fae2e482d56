#!/usr/bin/env bash
# Training speed as a ratio to the PyTorch yardstick, measured in one run on this machine:
# the 2-thread FMA peak first, then lra and PyTorch interleaved (lra, torch, lra, torch, ...) so
# that the machine's drift hits both, and one table with the ratios and the fraction of the
# peak (README.md "Measured performance" says what it prints).
#
#   tools/speed_check.sh                 # S4D 1K/2K/4K and Transformer 1K/2K (batch 8), 4K (batch 2)
#   PASSES=1 MIN_TIME=2 tools/speed_check.sh      # shorter
#   ONLY=s4d tools/speed_check.sh                 # one model (s4d or transformer)
#   SCALING=1 tools/speed_check.sh                # also lra at 1 thread: the 2-thread speedup
#   LRA_ARGS=--matmul_precision=bf16 tools/speed_check.sh   # model_benchmark flags for lra's runs
#
# Needs python3 with torch and an optimised BLAS (Debian: apt-get install -y python3-torch
# libopenblas0-openmp; it refuses to compare against the reference BLAS) and the PyTorch yardstick
# (TORCH_BENCH=DIR, the folder holding its bench.py and s4d_ref.py). PyTorch runs with
# the malloc settings its README recommends (freed memory stays mapped: its fastest setting)
# and libgomp's default wait policy (threads spin a while before sleeping): with
# OMP_WAIT_POLICY=passive its S4D ran 11.2k-15.0k tokens/s against 13.8k-16.6k by default (L=1K,
# three runs of each, alternated, on the quiet development VM; its Transformer the same either way).
# lra runs with OMP_WAIT_POLICY=passive, which measured the same as the default for it (S4D
# 57.5k/62.7k passive, 58.5k/51.1k default). The peak is the best of 3 repetitions.
# Run it on a quiet machine; the load average before and after is printed with the table.
set -euo pipefail
cd "$(dirname "$0")/.."

passes="${PASSES:-2}"
min_time="${MIN_TIME:-3}"
only="${ONLY:-}"
read -r -a lra_args <<<"${LRA_ARGS:-}"
scaling="${SCALING:-0}"
torch_dir="${TORCH_BENCH:-}"

if [[ ! -f "$torch_dir/bench.py" ]]; then
  echo "speed_check: no PyTorch yardstick at '$torch_dir': set TORCH_BENCH=DIR, the folder holding its bench.py" >&2
  exit 2
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "speed_check: /usr/bin/python3 cannot import torch; install it (Debian: apt-get install -y python3-torch)" >&2
  exit 2
fi

bazel build --config=native //models:model_benchmark //core:core_benchmark >/dev/null 2>&1 ||
  { echo "speed_check: building //models:model_benchmark //core:core_benchmark failed" >&2; exit 1; }
bin="$(bazel info --config=native bazel-bin 2>/dev/null)"
# Bad LRA_ARGS fail here, once, rather than in every cell of the table.
if ! err="$("$bin/models/model_benchmark" "${lra_args[@]}" --benchmark_list_tests=true \
  2>&1 >/dev/null)"; then
  echo "speed_check: model_benchmark refuses LRA_ARGS='${LRA_ARGS:-}': $err" >&2
  exit 2
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
results="$out/results.jsonl"
: >"$results"

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "load before: $(load)" >&2
echo "{\"kind\": \"load_before\", \"value\": \"$(load)\"}" >>"$results"

# The 2-thread fp32 FMA peak (core/core_benchmark.cc BM_FmaPeak).
OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive "$bin/core/core_benchmark" \
  --benchmark_filter='^BM_FmaPeak/' --benchmark_min_time=1 --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=false --benchmark_format=json \
  >"$out/peak.json" 2>/dev/null || true
/usr/bin/python3 - "$out/peak.json" >>"$results" <<'EOF'
import json, sys
try:
    runs = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("run_type") == "iteration"]
    print(json.dumps({"kind": "peak", "gflops": max(b["GFLOPs"] for b in runs)}))
except Exception:
    print(json.dumps({"kind": "peak", "gflops": 0}))
EOF

# PyTorch's matrix products go through the system BLAS (libblas.so.3). Debian's python3-torch
# is satisfied by the reference libblas3, an unblocked scalar BLAS that runs at a few GFLOP/s and
# makes PyTorch several times slower than it is: a ratio against it would flatter lra. Measure a
# 2048^3 product on 2 threads and refuse below 20% of the FMA peak (a tuned BLAS reaches more than
# half of it; the reference one about 2%).
OMP_NUM_THREADS=2 /usr/bin/python3 - >>"$results" <<'EOF'
import json, time
import torch
torch.set_num_threads(2)
a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
a @ b
best = 0.0
for _ in range(3):
    t = time.perf_counter()
    for _ in range(4):
        a @ b
    best = max(best, 4 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9)
print(json.dumps({"kind": "torch_gemm", "gflops": best}))
EOF
read -r peak torch_gemm < <(/usr/bin/python3 - "$results" <<'EOF'
import json, sys
rows = {r["kind"]: r for r in map(json.loads, open(sys.argv[1]))}
print(rows["peak"]["gflops"], rows["torch_gemm"]["gflops"])
EOF
)
echo "FMA peak ${peak%.*} GFLOP/s; PyTorch's 2048^3 matrix product ${torch_gemm%.*} GFLOP/s" >&2
if /usr/bin/python3 -c "import sys; sys.exit(0 if $peak > 0 and $torch_gemm < 0.2 * $peak else 1)"; then
  echo "speed_check: PyTorch multiplies matrices at ${torch_gemm%.*} GFLOP/s, under 20% of this" \
    "machine's FMA peak (${peak%.*}): its BLAS is the unoptimised reference one. Install OpenBLAS" \
    "(Debian: apt-get install -y libopenblas0-openmp) and run again." >&2
  exit 2
fi

# lra MODEL L B THREADS PASS: one model_benchmark run of BM_<Model>Train/L.
lra() {
  local model="$1" l="$2" b="$3" threads="$4" pass="$5" name
  name=$([[ "$model" == s4d ]] && echo BM_S4dTrain || echo BM_TransformerTrain)
  echo "lra $model L=$l B=$b threads=$threads pass $pass" >&2
  OMP_WAIT_POLICY=passive OMP_NUM_THREADS="$threads" "$bin/models/model_benchmark" \
    "${lra_args[@]}" --batch="$b" --threads="$threads" --benchmark_filter="^$name/$l/" \
    --benchmark_min_time="$min_time" --benchmark_format=json >"$out/lra.json" 2>/dev/null ||
    { echo "speed_check: model_benchmark $name/$l failed" >&2; return 0; }
  /usr/bin/python3 - "$out/lra.json" "$model" "$l" "$b" "$threads" "$pass" <<'EOF' | tee -a "$results" >&2
import json, sys
b = json.load(open(sys.argv[1]))["benchmarks"][0]
model, l, bs, threads, p = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
print(json.dumps({"kind": "lra", "model": model, "L": l, "B": bs, "threads": threads, "pass": p,
                  "tokens_per_s": b["tokens/s"], "gflops": b["GFLOP/s"]}))
EOF
}

# torch MODEL L B PASS: one PyTorch training measurement (bench.py worker, 2 threads).
torch_run() {
  local model="$1" l="$2" b="$3" pass="$4" line
  echo "torch $model L=$l B=$b pass $pass" >&2
  line="$(cd "$torch_dir" && MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \
    MALLOC_TOP_PAD_=1073741824 OMP_NUM_THREADS=2 /usr/bin/python3 bench.py worker "$model" train \
    "$l" "$b" 2>/dev/null | tail -1)" || line=""
  /usr/bin/python3 - "$line" "$model" "$l" "$b" "$pass" <<'EOF' | tee -a "$results" >&2
import json, sys
model, l, bs, p = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
try:
    tps = json.loads(sys.argv[1])["tokens_per_s"]
except Exception:
    tps = None  # out of memory or failed
print(json.dumps({"kind": "torch", "model": model, "L": l, "B": bs, "pass": p, "tokens_per_s": tps}))
EOF
}

configs=()
[[ -z "$only" || "$only" == s4d ]] && configs+=("s4d 1024 8" "s4d 2048 8" "s4d 4096 8")
[[ -z "$only" || "$only" == transformer ]] &&
  configs+=("transformer 1024 8" "transformer 2048 8" "transformer 4096 2")

for ((p = 1; p <= passes; ++p)); do
  for c in "${configs[@]}"; do
    read -r model l b <<<"$c"
    lra "$model" "$l" "$b" 2 "$p"
    torch_run "$model" "$l" "$b" "$p"
    if [[ "$scaling" == 1 ]]; then lra "$model" "$l" "$b" 1 "$p"; fi
  done
done
echo "{\"kind\": \"load_after\", \"value\": \"$(load)\"}" >>"$results"

LRA_ARGS="${LRA_ARGS:-}" /usr/bin/python3 - "$results" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peak = next((r["gflops"] for r in rows if r["kind"] == "peak"), 0)
load = {r["kind"]: r["value"] for r in rows if r["kind"].startswith("load")}
def k(v):
    return "-" if v is None else f"{v / 1e3:.1f}k"
def span(xs, fmt):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    lo, hi = min(xs), max(xs)
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}-{fmt(hi)}"
print(f"FMA peak (2 threads, same run): {peak:.0f} GFLOP/s" if peak else
      "FMA peak: not measured (no AVX-512F)")
gemm = next((r["gflops"] for r in rows if r["kind"] == "torch_gemm"), 0)
print(f"PyTorch's BLAS (2048^3 product, 2 threads): {gemm:.0f} GFLOP/s")
print(f"load average before: {load.get('load_before', '?')}, after: {load.get('load_after', '?')}")
if os.environ["LRA_ARGS"]:
    print(f"lra's runs with: {os.environ['LRA_ARGS']}")
print()
print("| model | L | B | lra tokens/s | PyTorch tokens/s | lra / PyTorch | lra GFLOP/s | % of peak | 2T / 1T |")
print("|---|---|---|---|---|---|---|---|---|")
keys = []
for r in rows:
    if r["kind"] in ("lra", "torch") and (r["model"], r["L"], r["B"]) not in keys:
        keys.append((r["model"], r["L"], r["B"]))
for model, l, b in keys:
    lr = [r for r in rows if r["kind"] == "lra" and r.get("threads") == 2 and (r["model"], r["L"], r["B"]) == (model, l, b)]
    l1 = [r for r in rows if r["kind"] == "lra" and r.get("threads") == 1 and (r["model"], r["L"], r["B"]) == (model, l, b)]
    tr = [r for r in rows if r["kind"] == "torch" and (r["model"], r["L"], r["B"]) == (model, l, b)]
    # Ratios of the same pass (measured next to each other).
    ratios = []
    for a in lr:
        t = next((t for t in tr if t["pass"] == a["pass"]), None)
        if t and t["tokens_per_s"]:
            ratios.append(a["tokens_per_s"] / t["tokens_per_s"])
    scal = []
    for a in lr:
        o = next((o for o in l1 if o["pass"] == a["pass"]), None)
        if o:
            scal.append(a["tokens_per_s"] / o["tokens_per_s"])
    lra_s = " / ".join(k(a["tokens_per_s"]) for a in lr) or "-"
    tor_s = " / ".join(k(t["tokens_per_s"]) if t["tokens_per_s"] else "failed (memory?)" for t in tr) or "-"
    gf = [a["gflops"] for a in lr]
    pct = [100 * g / peak for g in gf] if peak else []
    print(f"| {model} | {l // 1024}K | {b} | {lra_s} | {tor_s} | {span(ratios, lambda x: f'{x:.1f}x')} | "
          f"{span(gf, lambda x: f'{x:.0f}')} | {span(pct, lambda x: f'{x:.0f}%')} | "
          f"{span(scal, lambda x: f'{x:.2f}x')} |")
EOF

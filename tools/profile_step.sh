#!/usr/bin/env bash
# Where the time of a training step goes: samples a model_benchmark training benchmark with
# `perf record` (the timed steps only: the benchmark switches sampling on after its warm-up step
# and off after its last timed step through perf's control fifo, so model creation, FFTW
# planning, the first touch of the buffer pool and teardown are left out) and sums the samples
# into kernel groups and overhead groups.
#
#   tools/profile_step.sh BM_TransformerTrain/1024 [seconds]
#   tools/profile_step.sh BM_S4dTrain/2048
#   BENCH_ARGS="--steps=2" FLOOR=1 tools/profile_step.sh BM_PaperTextTrain/local/4096
#
# BM_PaperTextTrain/<model>/<L> is any registered model at its LRA Text paper config (the
# configuration of `lra bench --tier=paper`; models/model_benchmark.cc). BENCH_ARGS passes
# model_benchmark's own flags (--batch=N, --steps=N, --threads=N). FLOOR=1 (PaperText only) then
# runs BM_PaperTextFloor/<model>/<L>, the same model with its attention replaced by q + k + v,
# without perf, and prints the attention's share of the step (1 - floor / train, in wall time
# and in CPU time) and of the peak memory (the difference of the two runs' pool peaks and peak
# RSS). "kernel: attention" counts the attention kernels' own functions only; GEMMs that an
# attention makes (Linformer's length projections, Performer's features, a block's products on
# oneDNN) are in the GEMM group, so the floor is the measure of the whole attention.
#
# "Overhead" is what is not arithmetic of the model: allocation, copies and fills, the tape's
# bookkeeping, OpenMP scheduling and the operating system (page faults, scheduler, hypervisor).
# Run it on a quiet machine: samples of other processes are not counted, but a loaded machine
# inflates the OS and OpenMP shares (and the wall-time shares; the CPU-time share of FLOOR=1
# holds better). Needs `perf` (Debian: linux-perf) 5.10 or newer (--control) and
# kernel.perf_event_paranoid <= 2.
set -euo pipefail
cd "$(dirname "$0")/.."

filter="${1:?usage: [BENCH_ARGS=...] [FLOOR=1] tools/profile_step.sh BM_<Model>Train/<L> [seconds]}"
seconds="${2:-20}"
read -r -a bench_args <<<"${BENCH_ARGS:-}"
if [[ -n "${FLOOR:-}" && "$filter" != BM_PaperTextTrain/* ]]; then
  echo "profile_step: FLOOR=1 needs a BM_PaperTextTrain/<model>/<L> benchmark, not $filter" >&2
  exit 1
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# PROFILE_KEEP=DIR keeps perf.data there for `perf report -i DIR/perf.data`.

bazel build --config=native //models:model_benchmark >/dev/null 2>&1 ||
  { echo "profile_step: building //models:model_benchmark failed" >&2; exit 1; }
bin="$(bazel info --config=native bazel-bin 2>/dev/null)/models/model_benchmark"

# Sampling starts off (-D -1); the benchmark's timed loop turns it on and off (LRA_PERF_CTL).
mkfifo "$out/ctl" "$out/ack"
OMP_WAIT_POLICY=passive LRA_PERF_CTL="$out/ctl" LRA_PERF_ACK="$out/ack" \
  perf record -q -F 999 -D -1 --control "fifo:$out/ctl,$out/ack" -o "$out/perf.data" -- \
  "$bin" "${bench_args[@]}" --benchmark_filter="^${filter}/" --benchmark_min_time="$seconds" \
  >"$out/bench.txt" 2>&1
grep -E "^BM_" "$out/bench.txt" || { cat "$out/bench.txt" >&2; exit 1; }
if [[ -n "${PROFILE_KEEP:-}" ]]; then mkdir -p "$PROFILE_KEEP" && cp "$out/perf.data" "$PROFILE_KEEP/"; fi

# Shares from the sample counts (-n), not the rounded percentages: a long tail of 0.01% rows
# summed to over 100%.
perf report -i "$out/perf.data" -n --no-children --sort dso,sym --stdio -g none --percent-limit 0 \
  2>/dev/null | grep -E '^ +[0-9.]+%' | awk '
{ rows[NR] = $0; samples += $2 }
END { for (r = 1; r <= NR; ++r) print samples, rows[r] }' | awk '
{
  pct = 100 * $3 / $1; dso = $4; sym = "";
  for (i = 6; i <= NF; ++i) sym = sym " " $i;
  # Classify by the function itself, not by the types in its signature: the name of an op lambda
  # mentions lra::Var and lra::Shape, but it is arithmetic.
  # A ParallelFor body is named by its template argument, the function whose lambda it runs.
  head = sym; sub(/^ /, "", head); sub(/^lra::ParallelFor</, "", head);
  sub(/\(anonymous namespace\)::/, "", head); sub(/[<(].*/, "", head);
  g = "other";
  if (dso ~ /^\[JIT\]/ || dso ~ /libdnnl/ || head ~ /sgemm/)      g = "kernel: GEMM (oneDNN)";
  else if (dso ~ /libfftw3f/ || head ~ /^lra::kernels::Lane/)      g = "kernel: FFT (LaneFft, FFTW)";
  # core/kernels is the FFT convolution and the attention kernels (with their file-local helpers).
  else if ((head ~ /^lra::kernels::/ && head !~ /^lra::kernels::(Fft|RealFft|Gather|Scatter|HasAvx|Lane|PrepareInput|SumColumns|ZeroPads|ScaleLanes|Complex)/) ||
           head ~ /^lra::(Local|Linear|Performer|Linformer|Sinkhorn|BlockSparse|Lsh|Synthesizer)Attention/)
                                                                    g = "kernel: attention";
  else if (head ~ /^lra::kernels::/ || head ~ /^lra::s4::/)         g = "kernel: FFT conv glue, SSM kernels";
  else if (dso ~ /kernel/ || dso ~ /^\[k/)                         g = "overhead: OS (faults, scheduling, VM)";
  else if (dso ~ /libgomp/)                                         g = "overhead: OpenMP";
  else if (head ~ /malloc|free|^operator new|^operator delete|BufferPool|^_int_/) g = "overhead: allocation";
  else if (head ~ /memcpy|memmove|memset/)                          g = "overhead: copies and fills";
  else if (head ~ /^lra::Var::|^lra::Backward|^lra::MakeOp|^lra::internal::|^lra::Tensor::|^lra::Shape::|^std::|_Sp_counted/) g = "overhead: tape and tensor bookkeeping";
  else if (head ~ /^lra::|vmath|expf|erff|tanhf|logf|sincos|Eigen/) g = "kernel: elementwise, norms, losses";
  share[g] += pct; total += pct;
  if (pct + 0 > top[g] + 0) { top[g] = pct; topsym[g] = substr(sym, 2, 90); }
}
END {
  for (g in share) {
    if (g ~ /^kernel/) kernel += share[g];
    if (g ~ /^overhead/) over += share[g];
    printf "%6.1f%%  %-40s (largest: %.1f%% %s)\n", share[g], g, top[g], topsym[g] | "sort -rn";
  }
  close("sort -rn");
  printf "%6.1f%%  all kernels\n%6.1f%%  all overhead\n", kernel, over;
}'

[[ -n "${FLOOR:-}" ]] || exit 0
# The same model with attention ~free, in its own process (peak RSS is per process).
floor="${filter/BM_PaperTextTrain/BM_PaperTextFloor}"
OMP_WAIT_POLICY=passive "$bin" "${bench_args[@]}" --benchmark_filter="^${floor}/" \
  --benchmark_min_time="$seconds" >"$out/floor.txt" 2>&1
grep -E "^BM_" "$out/floor.txt" || { cat "$out/floor.txt" >&2; exit 1; }
# Real time per step (column 2, ms), then the counters by name (Google Benchmark prints them
# with SI suffixes: 11.1297k).
awk '
function counter(line, name,   i, n, f, v, u) {
  n = split(line, f, /[ \t]+/);
  for (i = 1; i <= n; ++i) {
    if (index(f[i], name "=") != 1) continue;
    v = substr(f[i], length(name) + 2); u = substr(v, length(v));
    return (u == "k" ? 1e3 : u == "M" ? 1e6 : u == "G" ? 1e9 : 1) * (v + 0);
  }
  return -1;
}
function read(line, w) {
  w["wall"] = $2; w["cpu"] = counter(line, "cpu_ms/step"); w["peak"] = counter(line, "peak_pool_MB");
  w["rss"] = counter(line, "maxrss_MB"); w["state"] = counter(line, "state_MB");
  w["saved"] = counter(line, "saved_MB");
}
/^BM_PaperTextTrain/ { read($0, t) }
/^BM_PaperTextFloor/ { read($0, f) }
END {
  printf "attention share of the step: %.1f%% of CPU time (floor %.0f / train %.0f ms), %.1f%% of wall time (%.0f / %.0f ms)\n",
         100 * (1 - f["cpu"] / t["cpu"]), f["cpu"], t["cpu"], 100 * (1 - f["wall"] / t["wall"]), f["wall"], t["wall"];
  printf "memory, MB (train / floor / attention = difference):\n";
  printf "  parameters, gradients, Adam moments  %7.0f %7.0f %+7.0f\n", t["state"], f["state"], t["state"] - f["state"];
  printf "  kept by the forward for backward     %7.0f %7.0f %+7.0f\n", t["saved"], f["saved"], t["saved"] - f["saved"];
  printf "  backward workspace (peak - both)     %7.0f %7.0f %+7.0f\n", t["peak"] - t["state"] - t["saved"],
         f["peak"] - f["state"] - f["saved"], (t["peak"] - t["state"] - t["saved"]) - (f["peak"] - f["state"] - f["saved"]);
  printf "  buffer pool peak                     %7.0f %7.0f %+7.0f\n", t["peak"], f["peak"], t["peak"] - f["peak"];
  printf "  process peak RSS                     %7.0f %7.0f %+7.0f\n", t["rss"], f["rss"], t["rss"] - f["rss"];
}' "$out/bench.txt" "$out/floor.txt"

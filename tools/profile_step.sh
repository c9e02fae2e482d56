#!/usr/bin/env bash
# Where the time of a training step goes: samples a model_benchmark training benchmark with
# `perf record` (after the warm-up, so model creation, FFTW planning and the first touch of
# the buffer pool are left out) and sums the samples into kernel groups and overhead groups.
#
#   tools/profile_step.sh BM_TransformerTrain/1024 [seconds]
#   tools/profile_step.sh BM_S4dTrain/2048
#
# "Overhead" is what is not arithmetic of the model: allocation, copies and fills, the tape's
# bookkeeping, OpenMP scheduling and the operating system (page faults, scheduler, hypervisor).
# Run it on a quiet machine: samples of other processes are not counted, but a loaded machine
# inflates the OS and OpenMP shares. Needs `perf` (Debian: linux-perf) and
# kernel.perf_event_paranoid <= 2.
set -euo pipefail
cd "$(dirname "$0")/.."

filter="${1:?usage: tools/profile_step.sh BM_<Model>Train/<L> [seconds]}"
seconds="${2:-20}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# PROFILE_KEEP=DIR keeps perf.data there for `perf report -i DIR/perf.data`.

bazel build --config=native //models:model_benchmark >/dev/null 2>&1 ||
  { echo "profile_step: building //models:model_benchmark failed" >&2; exit 1; }
bin="$(bazel info --config=native bazel-bin 2>/dev/null)/models/model_benchmark"

# Warm-up (model, plans, primitives, pool) happens before the timed loop; skip the first 25%.
delay_ms=$((seconds * 250))
OMP_WAIT_POLICY=passive perf record -q -F 999 -D "$delay_ms" -o "$out/perf.data" -- \
  "$bin" --benchmark_filter="^${filter}/" --benchmark_min_time="$seconds" >"$out/bench.txt" 2>&1
grep -E "^BM_" "$out/bench.txt" || { cat "$out/bench.txt" >&2; exit 1; }
if [[ -n "${PROFILE_KEEP:-}" ]]; then mkdir -p "$PROFILE_KEEP" && cp "$out/perf.data" "$PROFILE_KEEP/"; fi

perf report -i "$out/perf.data" --no-children --sort dso,sym --stdio -g none --percent-limit 0 \
  2>/dev/null | grep -E '^ +[0-9.]+%' | awk '
{
  pct = $1; sub("%", "", pct); dso = $2; sym = "";
  for (i = 4; i <= NF; ++i) sym = sym " " $i;
  # Classify by the function itself, not by the types in its signature: the name of an op lambda
  # mentions lra::Var and lra::Shape, but it is arithmetic.
  head = sym; sub(/^ /, "", head); sub(/[<(].*/, "", head);
  g = "other";
  if (dso ~ /^\[JIT\]/ || dso ~ /libdnnl/ || head ~ /sgemm/)      g = "kernel: GEMM (oneDNN)";
  else if (dso ~ /libfftw3f/)                                       g = "kernel: FFT (FFTW)";
  else if (head ~ /^lra::kernels::Attention/)                       g = "kernel: attention";
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

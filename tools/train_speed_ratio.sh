#!/usr/bin/env bash
# Training throughput of S4D, Mamba and LSTM side by side (//models:model_benchmark: forward +
# loss + backward + AdamW, batch 8, H=128, 4 layers, 2 threads), and the ratios that issue 14
# sets as targets: Mamba >= 0.5 x S4D's tokens/s at L = 1K-4K, LSTM within 3x of S4D's.
#
#   tools/train_speed_ratio.sh [rounds] [seconds]      (defaults: 3 rounds, 3 s per benchmark)
#
# The three models run interleaved (S4D, Mamba, LSTM, S4D, Mamba, LSTM, ...; one process per
# benchmark), so a change in the machine's load reaches all three alike; each line gives the
# load average at the time. Per length it prints the median tokens/s over the rounds, the
# ratios of the medians, and the median CPU ms per step of all threads (cpu_ms/step; with
# OMP_WAIT_POLICY=passive idle threads sleep, so this counts work, not waiting, and holds up
# better than wall time on a loaded machine). Run it on a quiet machine for figures to quote.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-3}"
seconds="${2:-3}"
bazel build --config=native //models:model_benchmark >/dev/null 2>&1 ||
  { echo "train_speed_ratio: building //models:model_benchmark failed" >&2; exit 1; }
bin="$(bazel info --config=native bazel-bin 2>/dev/null)/models/model_benchmark"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

for r in $(seq "$rounds"); do
  for l in 1024 2048 4096; do
    for m in S4d Mamba Lstm; do
      load="$(cut -d' ' -f1 /proc/loadavg)"
      line="$(OMP_WAIT_POLICY=passive "$bin" --benchmark_filter="^BM_${m}Train/${l}/" \
        --benchmark_min_time="$seconds" 2>&1 | grep -E '^BM_')" ||
        { echo "train_speed_ratio: BM_${m}Train/${l} failed" >&2; exit 1; }
      tok="$(sed -E 's/.*tokens\/s=([0-9.]+)([kM]?)\/s.*/\1 \2/' <<<"$line" |
        awk '{print $1 * ($2 == "k" ? 1e3 : ($2 == "M" ? 1e6 : 1))}')"
      cpu="$(sed -E 's/.*cpu_ms\/step=([0-9.]+)([kM]?) .*/\1 \2/' <<<"$line" |
        awk '{print $1 * ($2 == "k" ? 1e3 : 1)}')"
      printf 'round %s  L %5s  %-5s  %9.0f tokens/s  %7.1f cpu_ms/step  load %s\n' \
        "$r" "$l" "$m" "$tok" "$cpu" "$load" | tee -a "$out"
    done
  done
done

echo
awk '
function median(s,   a, n, i, j, t) {
  n = split(s, a, " ");
  for (i = 1; i <= n; ++i) for (j = i + 1; j <= n; ++j) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t; }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2;
}
{ tok[$4, $5] = tok[$4, $5] " " $6; cpu[$4, $5] = cpu[$4, $5] " " $8; lens[$4] = 1; }
END {
  printf "%6s %10s %10s %10s %14s %14s   cpu_ms/step S4D / Mamba / LSTM\n", "L", "S4D", "Mamba",
         "LSTM", "Mamba : S4D", "LSTM : S4D";
  for (l = 1024; l <= 4096; l *= 2) {
    s = median(tok[l, "S4d"]); m = median(tok[l, "Mamba"]); t = median(tok[l, "Lstm"]);
    printf "%6d %10.0f %10.0f %10.0f %14.2f %14.2f   %.0f / %.0f / %.0f\n", l, s, m, t, m / s,
           t / s, median(cpu[l, "S4d"]), median(cpu[l, "Mamba"]), median(cpu[l, "Lstm"]);
  }
}' "$out"

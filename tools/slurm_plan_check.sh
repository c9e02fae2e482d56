#!/usr/bin/env bash
# Runs a suite's plan (`lra suite --plan`) through a real Slurm job array on this machine and
# checks that the table made from its runs equals the table `lra suite` makes by itself.
# A single-node cluster is started for the check (munged, slurmctld and slurmd on localhost,
# their state in a temporary folder) and stopped at the end. Installs slurm-wlm and munge when
# missing (as root). Not part of tools/test.sh: it takes minutes.
#
#   tools/slurm_plan_check.sh [SUITE [ONLY]]     default: smoke listops; ONLY=all: every task
set -euo pipefail
cd "$(dirname "$0")/.."
suite="${1:-smoke}"
only="${2:-listops}"
only_flag=(--only="$only")
[[ $only == all ]] && only_flag=()

need=()
for p in slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [[ ${#need[@]} -gt 0 ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "install as root: apt-get install -y ${need[*]}" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
tools/setup.sh
bazel build //harness:lra
lra="$PWD/bazel-bin/harness/lra"

work=$(mktemp -d /tmp/lra-slurm.XXXXXX)
host=$(hostname -s)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p "$work/state" "$work/spool"
cat >"$work/slurm.conf" <<CONF
ClusterName=lra-check
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"

started_munge=0
if ! pgrep -x munged >/dev/null; then
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged
  started_munge=1
fi
stop_cluster() {
  for f in slurmd slurmctld; do [[ -f "$work/$f.pid" ]] && kill "$(cat "$work/$f.pid")" 2>/dev/null || true; done
  [[ $started_munge -eq 1 ]] && pkill -x munged || true
}
trap stop_cluster EXIT
slurmctld
slurmd
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo

echo "== plan of suite $suite (only $only), run as a Slurm job array"
common=(--threads=1 --data_dir="$work/data")
"$lra" suite --suite="$suite" "${only_flag[@]}" "${common[@]}" --runs_dir="$work/runs" \
  --results_dir="$work/plan_results" --plan="$work/plan" --plan_threads=1
sh "$work/plan/prepare.sh"
# An element whose task has no data here (CIFAR-10 without its release files) fails with "no
# prepared data"; `lra suite` skips the same runs, so the tables still compare.
submit() {
  sbatch --wait "$work/plan/slurm.sbatch" || true
  local missing failed
  missing=$(grep -l "no prepared data" "$work"/plan/logs/*.log 2>/dev/null | wc -l)
  failed=$(grep -L " after [0-9]* steps\|done before, kept\|no prepared data" "$work"/plan/logs/*.log | wc -l)
  echo "array elements without data here: $missing; other failures: $failed"
  [[ $failed -eq 0 ]] || { grep -L " after [0-9]* steps\|done before, kept\|no prepared data" "$work"/plan/logs/*.log; exit 1; }
}
submit
# Resubmitted, every element finds its run finished and does nothing.
rm -f "$work"/plan/logs/*.log
submit
grep -h "done before, kept" "$work"/plan/logs/*.log | wc -l | xargs echo "kept on resubmission:"
"$lra" table --runs_dirs="$work/runs" --results_dir="$work/plan_results"

echo "== the same suite by lra suite"
"$lra" suite --suite="$suite" "${only_flag[@]}" "${common[@]}" --runs_dir="$work/direct_runs" \
  --results_dir="$work/direct_results"

if diff "$work/plan_results/lra_table.md" "$work/direct_results/lra_table.md"; then
  echo "PASS: the Slurm plan's table equals lra suite's ($work/plan_results/lra_table.md)"
else
  echo "FAIL: the tables differ (above)"; exit 1
fi

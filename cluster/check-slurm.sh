#!/usr/bin/env bash
# bench full on a real SLURM scheduler (nox -s slurm; .ci/run). Uses the cluster that answers
# (sinfo), else starts a one-node cluster on this machine from Debian's slurm-wlm and munge
# (root; its own configuration in a temporary folder, SLURM_CONF pointing at it, nothing in
# /etc/slurm), then:
#   1. bench full --launcher slurm at budget smoke (the resources asked for on the command
#      line), and checks that every run finished, the report was written, and each meta.json
#      holds its SLURM job id, array index, node and the resources asked for;
#   2. a second grid of longer runs submitted with --no-wait, one job cancelled mid-run
#      (scancel) once it has a checkpoint, bench full --status, then the same bench full
#      again, which resumes that run from its checkpoint (summary.resumed_from, and the
#      resuming job in meta.json's resumes);
#   3. with --container IMAGE: the smoke suite again, each job's bench run inside the image
#      (podman), and each meta.json holding the image's identity;
# and stops the daemons it started. Prints each step's time.
#
# options:
#   --backends B         backends for the smoke grid (default: torch)
#   --container IMAGE    also step 3, with this image (e.g. lr-policy-bench:torch, built by
#                        docker/build.sh or docker/check-images.sh --keep)
#   --engine "CMD"       the container engine with its global flags (default: podman --runtime runc)
#   --keep               keep the results folder (printed) and leave a started cluster running
# environment: BENCH (the bench command; default: on PATH), PARTITION (with a cluster that
#   answers: the partition to use; default: its default partition)
set -euo pipefail
cd "$(dirname "$0")/.."
backends=torch container="" engine="podman --runtime runc" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --backends) backends="$2"; shift 2 ;;
    --container) container="$2"; shift 2 ;;
    --engine) engine="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-slurm: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
say() { echo "check-slurm: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
now() { date +%s; }
bench_cmd="${BENCH:-bench}"
command -v "$bench_cmd" >/dev/null || die "no bench (pip install -e '.[torch,cluster]'; or BENCH=/path/to/bench)"
py="$(dirname "$(command -v "$bench_cmd")")/python"
[ -x "$py" ] || py=python3
work="$(mktemp -d /tmp/bench-slurm.XXXXXX)"
chmod 755 "$work"
started=()
cleanup() {
  if [ "$keep" = 0 ]; then
    for pidfile in "${started[@]}"; do
      [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    rm -rf "$work"
  else
    say "kept: $work (results in $work/a, $work/b${container:+, $work/c}); cluster config: ${SLURM_CONF:-the system one}"
  fi
}
trap cleanup EXIT

# --- the cluster ---------------------------------------------------------------------------------
t0=$(now)
if timeout 10 sinfo -h >/dev/null 2>&1; then
  partition="${PARTITION:-$(sinfo -h -o '%P' | sed -n 's/\*$//p' | head -1)}"
  say "a cluster answers (sinfo); partition $partition"
else
  [ "$(id -u)" = 0 ] || die "no cluster answers and starting one needs root"
  for tool in slurmctld slurmd munged; do
    command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin"
    command -v "$tool" >/dev/null || die "$tool missing: apt-get install -y slurm-wlm munge"
  done
  conf="$work/etc"; mkdir -p "$conf" "$work/spool/ctld" "$work/spool/d" "$work/run"
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem_kb="$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
  mem=$((mem_kb / 1024 * 9 / 10))
  cat > "$conf/slurm.conf" <<EOF
# written by cluster/check-slurm.sh: a one-node cluster for the check
ClusterName=bench-check
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=6917
SlurmdPort=6918
AuthType=auth/munge
StateSaveLocation=$work/spool/ctld
SlurmdSpoolDir=$work/spool/d
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=10
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  # this SLURM has no cgroup "disabled" plugin; v1 is never loaded with proctrack/linuxproc
  echo "CgroupPlugin=cgroup/v1" > "$conf/cgroup.conf"
  export SLURM_CONF="$conf/slurm.conf"
  if ! pgrep -x munged >/dev/null; then
    if [ ! -s /etc/munge/munge.key ]; then
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
      chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- munged --pid-file "/run/munge/munged.pid" || die "munged did not start"
    started+=("/run/munge/munged.pid")
  fi
  slurmctld -f "$SLURM_CONF" || die "slurmctld did not start ($work/slurmctld.log)"
  started+=("$work/run/slurmctld.pid")
  slurmd -f "$SLURM_CONF" || die "slurmd did not start ($work/slurmd.log)"
  started+=("$work/run/slurmd.pid")
  for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -q idle; then break; fi
    sleep 1
  done
  sinfo -h -o '%T' | grep -q idle || { tail -5 "$work/slurmctld.log" "$work/slurmd.log" >&2; die "the node did not come up idle"; }
  partition=debug
  say "one-node cluster up in $(( $(now) - t0 ))s: $host, $cpus CPUs, ${mem} MB, partition debug (SLURM_CONF=$SLURM_CONF)"
fi
cpus_per_job="$(nproc)"  # one job at a time on this node: two would share its cores

# --- 1. the smoke grid through sbatch --------------------------------------------------------------
t1=$(now)
"$bench_cmd" full --suite fashion-mnist --budget smoke --backends "$backends" --out "$work/a" \
  --launcher slurm --partition "$partition" --cpus-per-job "$cpus_per_job" --mem 4G --time 30 \
  --array-parallelism 4 --slurm-option comment=bench-check 2>&1 | tee "$work/a.log" | { grep -v '^\[' >&2 || true; } \
  || die "bench full --launcher slurm failed (see above)"
"$py" - "$work/a" <<'EOF' || die "step 1's results"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
log = json.loads(next(out.glob("full-*-smoke.json")).read_text())
assert not log["failed"], f"failed runs: {log['failed']}"
assert (out / "report.md").is_file(), "no report.md"
runs = [p for p in out.iterdir() if (p / "summary.json").is_file()]
assert len(runs) == len(log["ran"]) > 0, (len(runs), len(log["ran"]))
for r in runs:
    s = json.loads((r / "summary.json").read_text())
    assert s["status"] in ("completed", "diverged"), (r.name, s["status"])
    job = json.loads((r / "meta.json").read_text()).get("slurm") or {}
    for key in ("job_id", "array_job_id", "array_task_id", "node", "partition"):
        assert job.get(key) not in (None, ""), f"{r.name}: meta.json slurm.{key} missing: {job}"
    asked = job.get("asked") or {}
    assert asked.get("mem") == "4G" and asked.get("time") == "30" and asked.get("options") == {"comment": "bench-check"}, asked
print(f"{len(runs)} runs, each with its SLURM job in meta.json, e.g. {job}")
EOF
say "step 1: smoke grid through SLURM passed in $(( $(now) - t1 ))s"

# --- 2. cancel a job mid-run; the same command resumes it ---------------------------------------------
t2=$(now)
cat > "$work/long.yaml" <<'EOF'
name: slurm-check
description: two longer runs for the cancel-and-resume check (cluster/check-slurm.sh)
default_budget: smoke
base:
  network: {name: simple_cnn}
  dataset: {name: fashion_mnist, train_size: 2000, test_size: 1000, eval_size: 500}
  optimizer: {name: sgd, momentum_form: caffe}
  batch_size: 128
  eval_every: 100
  checkpoint_every: 20
cells:
  - name: slurm-long-constant
    policy: {name: constant, lr: 0.05, momentum: 0.9}
  - name: slurm-long-onecycle
    policy: {name: one-cycle, min_lr: 0.005, max_lr: 0.05}
budgets:
  smoke: {seeds: 1, set: ["budget={steps: 600}"]}
EOF
long=("$bench_cmd" full --suite "$work/long.yaml" --budget smoke --backends "$(echo "$backends" | cut -d, -f1)"
      --out "$work/b" --launcher slurm --partition "$partition" --cpus-per-job "$cpus_per_job" --time 30)
"${long[@]}" --no-wait 2>&1 | tee "$work/b-submit.log" >&2
job_of() { "$py" -c "import json,sys; r=json.load(open('$work/b/slurm-jobs.json'))['runs']; print(sorted(r.items())[0][1] + ' ' + sorted(r.items())[0][0])"; }
read -r job run <<< "$(job_of)"
say "cancelling job $job ($run) once it has a checkpoint"
for _ in $(seq 600); do
  [ -f "$work/b/$run/checkpoint.json" ] && break
  sleep 0.5
done
[ -f "$work/b/$run/checkpoint.json" ] || die "$run wrote no checkpoint within 5 minutes"
scancel "$job" || true  # it may have ended on its own meanwhile (checked below)
for _ in $(seq 120); do
  queued="$(squeue -h -r -j "${job%%_*}" -o '%i' 2>/dev/null || true)"
  grep -qx "$job" <<< "$queued" || break
  sleep 1
done
"$bench_cmd" full --status "$work/b" >&2
[ ! -f "$work/b/$run/summary.json" ] || grep -q '"interrupted"' "$work/b/$run/summary.json" \
  || die "$run finished before it was cancelled (status: $(cat "$work/b/$run/summary.json"))"
"${long[@]}" 2>&1 | tee "$work/b.log" | { grep -v '^\[' >&2 || true; } \
  || die "the same bench full again did not finish the grid (see above)"
"$bench_cmd" full --status "$work/b" >&2
"$py" - "$work/b/$run" "$job" <<'EOF' || die "step 2: the cancelled run did not resume"
import json, sys
from pathlib import Path
run, cancelled = Path(sys.argv[1]), sys.argv[2]
s = json.loads((run / "summary.json").read_text())
assert s["status"] == "completed", s["status"]
assert s["resumed_from"] is not None, "summary.resumed_from is null: the run started over"
meta = json.loads((run / "meta.json").read_text())
assert meta["slurm"]["job_id"] and meta["resumes"], meta.get("resumes")
again = meta["resumes"][-1]["slurm"]
# a submission of one run is a plain job, of several an array (ARRAY_TASK, as squeue prints it)
def job_name(rec):
    return f"{rec['array_job_id']}_{rec['array_task_id']}" if "array_job_id" in rec else rec["job_id"]
assert again and job_name(again) != cancelled, again
print(f"{run.name}: cancelled (job {cancelled}) after update {s['resumed_from']}, resumed by job "
      f"{job_name(again)}, completed")
EOF
say "step 2: cancel and resume passed in $(( $(now) - t2 ))s"

# --- 3. inside the image ---------------------------------------------------------------------------
if [ -n "$container" ]; then
  t3=$(now)
  "$bench_cmd" full --suite fashion-mnist --budget smoke --backends "$backends" --out "$work/c" \
    --launcher slurm --partition "$partition" --cpus-per-job "$cpus_per_job" --time 30 \
    --container "$container" --container-engine "$engine" \
    --container-flags "--ulimit nofile=4096:4096 --ulimit nproc=4096:4096" 2>&1 | tee "$work/c.log" \
    | { grep -v '^\[' >&2 || true; } || die "bench full --container $container failed"
  "$py" - "$work/c" "$container" <<'EOF' || die "step 3's results"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
log = json.loads(next(out.glob("full-*-smoke.json")).read_text())
assert not log["failed"] and log["ran"], log["failed"]
for r in (p for p in out.iterdir() if (p / "meta.json").is_file()):
    meta = json.loads((r / "meta.json").read_text())
    assert (meta.get("image") or {}).get("commit"), f"{r.name}: no image identity in meta.json"
    assert (meta.get("slurm") or {}).get("job_id"), f"{r.name}: no SLURM job in meta.json"
print(f"{len(log['ran'])} runs inside {sys.argv[2]}, image {meta['image']}")
EOF
  say "step 3: the smoke grid inside $container through SLURM passed in $(( $(now) - t3 ))s"
fi
say "passed in $(( $(now) - t0 ))s"

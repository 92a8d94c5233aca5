#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the CI integration test.
#
#   tests/slurm/run_slurm_test.sh RUNDIR [snakemake arguments...]
#
# Starts munged, slurmctld and slurmd from Debian's packages (installed by .ci/run; this script
# installs nothing), runs the tiny config through `snakemake --executor slurm` with the SLURM
# profile in RUNDIR (which must hold or link config/, tests/, resources/ and profiles/), and stops
# every daemon it started, by its pid file, whatever happens. Needs root (slurmd runs jobs as their
# user; SlurmUser=root). No systemd: the daemons are started directly. Known to work with
# SLURM 22.05.8 (Debian 12) and snakemake-executor-plugin-slurm 2.8.0.
#
# Pitfalls this avoids (docs/cluster.md): without accounting (no slurmdbd) the plugin's default
# status command `sacct` fails silently and the run hangs, so the status command is `squeue`
# (MinJobAge stays at its default 300 s, which squeue needs); SIGTERM does not stop a hung
# snakemake, so it runs under `timeout -s INT`; the first status poll would wait 40 s without
# --slurm-init-seconds-before-status-checks.
#
# Environment: RESID_ATLAS_SLURM_TIMEOUT (seconds for the snakemake run, default 900),
# RESID_ATLAS_SLURM_STATE (state/log folder, default a new temporary folder; kept for inspection
# when the run fails).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RUNDIR="$(cd "${1:?usage: run_slurm_test.sh RUNDIR [snakemake args...]}" && pwd)"
shift
SNAKEMAKE="${SNAKEMAKE:-snakemake}"
TIMEOUT="${RESID_ATLAS_SLURM_TIMEOUT:-900}"

for tool in munged slurmctld slurmd sbatch squeue scontrol runuser flock timeout; do
    command -v "$tool" >/dev/null || { echo "run_slurm_test: '$tool' not found; install slurmctld slurmd slurm-client munge (.ci/run does)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run_slurm_test: needs root (it starts slurmd, which runs jobs as their user)" >&2; exit 2; }

# One test cluster per machine at a time: a second run waits here for the first to finish.
exec 9>/tmp/resid-atlas-slurm.lock
flock 9
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    echo "run_slurm_test: a slurmctld/slurmd not started by this script is running; stop it first" >&2
    exit 2
fi

STATE="${RESID_ATLAS_SLURM_STATE:-$(mktemp -d /tmp/resid-atlas-slurm.XXXXXX)}"
mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/munge"
chmod 755 "$STATE"  # munged (as the munge user) must reach its folder inside
chown munge:munge "$STATE/munge"
chmod 755 "$STATE/munge"  # munged requires a world-searchable socket folder
# The config goes where every SLURM command looks by default: the executor plugin strips
# SLURM_* variables (SLURM_CONF included) from the job steps it starts inside a job.
export SLURM_CONF=/etc/slurm/slurm.conf
MARK="# written by resid-atlas tests/slurm/run_slurm_test.sh"
if [ -e "$SLURM_CONF" ] && ! head -n 1 "$SLURM_CONF" | grep -qxF "$MARK"; then
    echo "run_slurm_test: $SLURM_CONF exists and is not ours; this test needs a machine without a SLURM set-up" >&2
    exit 2
fi
MUNGE_SOCKET="$STATE/munge/munge.socket.2"
PIDS=("$STATE/slurmd.pid" "$STATE/slurmctld.pid" "$STATE/munge/munged.pid")

stop_daemons() {
    # slurmd first (it may be running job steps), then the controller, then munge.
    for pidfile in "${PIDS[@]}"; do
        [ -s "$pidfile" ] || continue
        pid="$(cat "$pidfile")"
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -f "$SLURM_CONF"
}
on_exit() {
    status=$?
    [ "$status" -eq 0 ] || cp "$SLURM_CONF" "$STATE/" 2>/dev/null || true
    stop_daemons
    if [ "$status" -ne 0 ]; then
        echo "run_slurm_test: failed ($status); daemon logs and slurm.conf in $STATE:" >&2
        tail -n 20 "$STATE"/*.log "$STATE"/munge/*.log >&2 || true
    elif [ -z "${RESID_ATLAS_SLURM_STATE:-}" ]; then
        rm -rf "$STATE"
    fi
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# munge: the key comes with the package; its own socket and pid file in $STATE.
runuser -u munge -- munged --socket="$MUNGE_SOCKET" --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed"

# The node's CPUs and memory as slurmd sees them (its NodeName line, without UpTime).
NODE="$(slurmd -C | head -n 1)"
NODENAME="$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$NODE")"
CPUS="$(sed -E 's/.* CPUs=([0-9]+).*/\1/' <<<"$NODE")"
MEMORY="$(sed -E 's/.* RealMemory=([0-9]+).*/\1/' <<<"$NODE")"
mkdir -p "$(dirname "$SLURM_CONF")"
cat >"$SLURM_CONF" <<EOF
$MARK
ClusterName=resid-atlas-test
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$NODENAME Default=YES MaxTime=INFINITE State=UP
EOF
sed -i 's/ UpTime=[^ ]*//' "$SLURM_CONF"

slurmctld -i
slurmd
# Up when the node is idle (a few seconds).
for _ in $(seq 60); do
    sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle && break
    sleep 0.5
done
sinfo -h -N -o '%N %T %c %m' | grep -q idle || { echo "run_slurm_test: the node did not come up" >&2; sinfo -N >&2 || true; exit 1; }
echo "run_slurm_test: cluster up: $(sinfo -h -N -o '%N %T cpus=%c mem=%mMB')" >&2

cd "$RUNDIR"
timeout -s INT -k 30 "$TIMEOUT" "$SNAKEMAKE" -s "$ROOT/Snakefile" \
    --configfile config/tiny.yaml \
    --workflow-profile "$ROOT/profiles/slurm" \
    --jobs "$CPUS" \
    --cores "$CPUS" \
    --max-threads "$CPUS" \
    --resources mem_mb="$MEMORY" \
    --slurm-status-command squeue \
    --slurm-init-seconds-before-status-checks 2 \
    --latency-wait 5 \
    "$@"

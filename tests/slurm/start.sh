#!/usr/bin/env bash
# A single-node SLURM cluster with accounting (sacct) on this machine, from Debian's packages:
# munge, MariaDB, slurmdbd, slurmctld and slurmd, started directly because a container has no
# systemd. For tests/slurm/run_demo.sh. Run as root; on a cluster that already answers it changes
# nothing. Writes /etc/slurm/slurm.conf and slurmdbd.conf (where Debian's Slurm commands look, so
# they need no SLURM_CONF); logs go to /var/log/slurm/. The partition is named "local".
set -euo pipefail

die() { echo "tests/slurm/start.sh: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (it installs packages and starts daemons); uid is $EUID"
command -v apt-get >/dev/null || die "needs apt-get (Debian 12's slurmctld, slurmd, slurmdbd)"

packages=(munge mariadb-server slurmdbd slurmctld slurmd)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        || die "apt-get could not install ${missing[*]}"
fi

host=$(hostname -s)
getent hosts "$host" >/dev/null || die "hostname '$host' does not resolve; slurmd must reach it"
node=$(slurmd -C | head -n 1)   # NodeName=<host> CPUs=... RealMemory=...: the real hardware
[[ $node == NodeName=* ]] || die "slurmd -C printed '$node', expected 'NodeName=... CPUs=...'"

# Rewrite a config only when its text changes; then the daemons reading it must restart.
changed=0
write() {
    local file=$1 mode=$2 text
    text=$(cat)
    if [[ ! -f $file ]] || [[ $(cat "$file") != "$text" ]]; then
        install -m "$mode" /dev/null "$file"
        printf '%s\n' "$text" >"$file"
        changed=1
    fi
}

install -d /etc/slurm /var/log/slurm /var/spool/slurmctld /var/spool/slurmd
# Keep the database password of an earlier run: MariaDB already knows it.
password=$(sed -n 's/^StoragePass=//p' /etc/slurm/slurmdbd.conf 2>/dev/null || true)
[[ -n $password ]] || password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

write /etc/slurm/slurm.conf 644 <<EOF
ClusterName=inpaint
SlurmctldHost=$host
# Root runs every daemon: a throwaway test cluster, no slurm-user file ownership to get right.
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# Containers rarely delegate cgroups: track processes through /proc, bind no CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
# CPUs and memory are both consumed, so jobs' cpus_per_task and mem_mb are really scheduled.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
# Keep the comment the executor plugin gives each job (its rule and wildcards) for sacct.
AccountingStoreFlags=job_comment
# A node that was down (daemons restarted) comes back by itself once it registers.
ReturnToService=2
MpiDefault=none
$node State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

write /etc/slurm/slurmdbd.conf 600 <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$password
EOF

running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Poll until a command succeeds, or stop naming the log that says why not.
wait_for() {
    local what=$1 seconds=$2 log=$3
    shift 3
    for ((i = 0; i < seconds; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "--- last lines of $log:" >&2
    tail -n 20 "$log" >&2 || true
    die "$what did not come up within ${seconds}s (see $log)"
}

# Daemons started with an older config would keep it: stop them all, to start afresh below.
slurm_running() {
    running /run/slurmd.pid || running /run/slurmctld.pid || running /run/slurmdbd.pid
}
if ((changed)) && slurm_running; then
    echo "config changed: restarting the daemons"
    bash "$(dirname "$0")/stop.sh" || die "could not stop the daemons to restart them"
fi

if ! running /run/munge/munged.pid; then
    echo "starting munged"
    install -d -o munge -g munge -m 755 /run/munge
    runuser -u munge -- /usr/sbin/munged || die "munged did not start (see /var/log/munge/)"
fi
wait_for munge 20 /var/log/munge/munged.log sh -c "munge -n | unmunge"

if ! mariadb-admin ping >/dev/null 2>&1; then
    echo "starting mariadb"
    /etc/init.d/mariadb start || die "mariadb did not start (see /var/log/mysql/ or syslog)"
fi
# root reaches MariaDB through its unix socket; slurmdbd logs in as 'slurm' with the password.
mariadb <<EOF || die "could not create MariaDB user 'slurm' and database slurm_acct_db"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF

if ! running /run/slurmdbd.pid; then
    echo "starting slurmdbd"
    slurmdbd || die "slurmdbd did not start (see /var/log/slurm/slurmdbd.log)"
fi
wait_for slurmdbd 60 /var/log/slurm/slurmdbd.log sacctmgr -n list cluster
# Register the cluster before slurmctld first connects, so its jobs are recorded from the start.
if [[ -z $(sacctmgr -n -P list cluster inpaint format=cluster) ]]; then
    sacctmgr -i add cluster inpaint >/dev/null || die "sacctmgr could not add cluster 'inpaint'"
fi

if ! running /run/slurmctld.pid; then
    echo "starting slurmctld"
    slurmctld || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
fi
wait_for slurmctld 60 /var/log/slurm/slurmctld.log scontrol ping

if ! running /run/slurmd.pid; then
    echo "starting slurmd"
    slurmd || die "slurmd did not start (see /var/log/slurm/slurmd.log)"
fi
# idle, or busy with jobs when this runs again on a cluster in use.
wait_for "node $host idle" 90 /var/log/slurm/slurmd.log \
    sh -c "sinfo -h -n '$host' -o %T | grep -Eqx 'idle|mixed|allocated'"
wait_for sacct 30 /var/log/slurm/slurmdbd.log sacct -n -X
# An account for the jobs, as clusters require one (the test profile names it: slurm_account).
if [[ -z $(sacctmgr -n -P list association account=inpaint user="$(id -un)" format=user) ]]; then
    sacctmgr -i add account inpaint cluster=inpaint >/dev/null \
        && sacctmgr -i add user "$(id -un)" account=inpaint >/dev/null \
        || die "sacctmgr could not add account 'inpaint' for user $(id -un)"
fi
echo "SLURM is up: $(sinfo -h -o '%P %D node(s) %T, %c CPUs, %m MB')"

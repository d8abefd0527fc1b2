#!/usr/bin/env bash
# Stops what tests/slurm/start.sh started, by the process ids in its pid files: slurmd,
# slurmctld, slurmdbd, MariaDB and munged. Configs, job accounting and logs stay for the next start.
set -euo pipefail

[[ $EUID -eq 0 ]] || { echo "tests/slurm/stop.sh: must run as root" >&2; exit 1; }

stop() {
    local name=$1 pidfile=$2 pid
    [[ -f $pidfile ]] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null || return 0
    echo "stopping $name ($pid)"
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
    echo "tests/slurm/stop.sh: $name ($pid) still runs after 30 s" >&2
    return 1
}

stop slurmd /run/slurmd.pid
stop slurmctld /run/slurmctld.pid
stop slurmdbd /run/slurmdbd.pid
if mariadb-admin ping >/dev/null 2>&1; then /etc/init.d/mariadb stop; fi
stop munged /run/munge/munged.pid

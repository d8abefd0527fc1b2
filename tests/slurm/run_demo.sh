#!/usr/bin/env bash
# The reduced demo (experiment slurm_demo of tests/slurm/config.yaml) through
# --profile configs/profiles/slurm on the cluster of tests/slurm/start.sh, then its jobs as sacct
# recorded them: every job Snakemake planned must have COMPLETED, and the report must exist.
# Usage: tests/slurm/run_demo.sh [CHECKOUT]   (default: the repository holding this script)
# It builds in CHECKOUT's results/, and its 20-step pconv replaces the demo's there (the demo
# retrains it next time), so prefer a fresh clone. Needs the project's venv active (snakemake).
set -euo pipefail

die() { echo "tests/slurm/run_demo.sh: $*" >&2; exit 1; }

repo=${1:-$(dirname "$0")/../..}
[[ -f $repo/Snakefile && -f $repo/tests/slurm/config.yaml ]] \
    || die "'$repo' is not a checkout of this workflow with tests/slurm/ (expected its root)"
cd "$repo"
command -v snakemake >/dev/null || die "snakemake is not on PATH: activate the project's venv"
sinfo -h >/dev/null 2>&1 || die "no SLURM cluster answers sinfo: run tests/slurm/start.sh first"
pip install --quiet --disable-pip-version-check --no-deps -r configs/profiles/slurm/requirements.txt

report=reports/slurm_demo.html
# After the target, as --configfile takes every word after it.
args=(--profile configs/profiles/slurm --profile tests/slurm/profile
      --configfile tests/slurm/config.yaml)

# Jobs per rule that the run must complete: the first "job count" table of Snakemake's plan.
plan=$(snakemake "$report" --dry-run --quiet rules "${args[@]}" \
    | awk '/^job +count/ && !seen {on = seen = 1; next}
           $1 == "total" {on = 0}
           on && $2 ~ /^[0-9]+$/')
[[ -n $plan ]] || die "nothing to run: $report is up to date in $(pwd); use a fresh clone"
echo "planned jobs:"; echo "$plan"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$SECONDS
status=0
snakemake "$report" "${args[@]}" 2>&1 | tee "$log" || status=$?
echo "snakemake took $((SECONDS - started)) s, exit status $status"

# The plugin names every job of one run after the run's id and puts its rule in the comment.
run_id=$(sed -n 's/.*SLURM run ID: \([0-9a-f-]*\).*/\1/p' "$log" | head -n 1)
[[ -n $run_id ]] || die "snakemake printed no 'SLURM run ID': did it use the slurm executor?"
echo "sacct, SLURM run $run_id:"
sacct -X --name "$run_id" --format JobID,Comment%62,Account,State,Elapsed,AllocCPUS,ReqMem,Timelimit

# Completed jobs per rule, from comments "rule_<name>" or "rule_<name>_wildcards_<values>".
completed=$(sacct -X -n -P --name "$run_id" --format Comment,State \
    | awk -F'|' '$2 == "COMPLETED" {sub(/^rule_/, "", $1); sub(/_wildcards_.*/, "", $1); n[$1]++}
                 END {for (r in n) print r, n[r]}')
failed=0
while read -r rule count; do
    got=$(awk -v r="$rule" '$1 == r {print $2}' <<<"$completed")
    if [[ ${got:-0} -ne $count ]]; then
        echo "rule $rule: ${got:-0} of $count jobs COMPLETED in sacct" >&2
        failed=1
    fi
done <<<"$plan"
((status == 0)) || die "snakemake failed (exit status $status); see its output above"
((failed == 0)) || die "not every planned job COMPLETED in sacct (above)"
[[ -s $report ]] || die "$report was not built"
echo "OK: every planned job COMPLETED in sacct; $(pwd)/$report ($(stat -c %s "$report") bytes)"

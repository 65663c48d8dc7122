#!/usr/bin/env bash
# Quick start: install mscabm (finding a Python >= 3.12), run the main shipped scenario
# (imq_mouse: the imiquimod-like psoriasiform induction in mouse skin, 21 days) and write its
# self-contained HTML report beside the run file (runs/<name>.h5 -> runs/<name>.html).
# Extra arguments go to `mscabm run`, e.g. `scripts/quickstart.sh --days 5` or `-o my_run.h5`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

# The run file: the one given with -o/--output, else a new name under runs/ (never an old file).
run_file=""
previous=""
for arg in "$@"; do
    case "$previous" in -o|--output) run_file="$arg" ;; esac
    case "$arg" in --output=*) run_file="${arg#--output=}" ;; esac
    previous="$arg"
done
if [ -z "$run_file" ]; then
    mkdir -p runs
    run_file="runs/imq_mouse_$(date -u +%Y%m%dT%H%M%SZ).h5"
    set -- "$@" -o "$run_file"
fi
mscabm run scenarios/imq_mouse.yaml "$@"
report_file="${run_file%.h5}.html"
mscabm report "$run_file" -o "$report_file"
echo "report: $report_file (open it in a browser; it works offline)"

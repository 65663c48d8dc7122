#!/usr/bin/env bash
# Quick start: install mscabm (finding a Python >= 3.12) and run the main shipped scenario
# (imq_mouse: the imiquimod-like psoriasiform induction in mouse skin, 21 days).
# Extra arguments go to `mscabm run`, e.g. `scripts/quickstart.sh --days 5`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
mscabm run scenarios/imq_mouse.yaml "$@"

#!/usr/bin/env bash
# Quick start: install mscabm (finding a Python >= 3.12) and run the main shipped scenario.
# Extra arguments go to `mscabm run`, e.g. `scripts/quickstart.sh --days 5`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
mscabm run scenarios/psoriatic_drive_human.yaml "$@"

#!/usr/bin/env bash
# Install mscabm with its test dependencies (finding a Python >= 3.12) and run the whole suite:
# ruff, then pytest. Under CI=true a missing dependency fails the suite instead of skipping.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/browser.sh"
cd "$REPO"
ruff check .
# Test files are spread over one worker per core (pytest-xdist), each file on one worker so
# its module fixtures are made once; MSCABM_TEST_WORKERS=0 runs everything in this process.
# The 15 slowest tests are listed at the end: CI must stay under 20 minutes.
python -m pytest -n "${MSCABM_TEST_WORKERS:-auto}" --dist loadfile --durations=15 "$@"

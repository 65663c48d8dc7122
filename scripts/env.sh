#!/usr/bin/env bash
# Find a Python >= 3.12, create .venv beside the repository and install mscabm into it.
# Sourced by scripts/quickstart.sh and scripts/test.sh; safe to run again (it only reinstalls
# when pyproject.toml, setup.py or cext/ changed since the last install).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MSCABM_VENV:-$REPO/.venv}"
EXTRAS="${MSCABM_EXTRAS:-test,viz,sweep}"  # viz: Dash, Plotly, kaleido; sweep: Dask, SALib, pyarrow

find_python() {
    local candidates=()
    [ -n "${MSCABM_PYTHON:-}" ] && candidates+=("$MSCABM_PYTHON")
    candidates+=(python3.12 python3.13 python3)
    if command -v pyenv >/dev/null 2>&1; then
        while read -r v; do
            case "$v" in 3.1[2-9]*) candidates+=("$(pyenv root)/versions/$v/bin/python3");; esac
        done < <(pyenv versions --bare 2>/dev/null | sort -V)
    fi
    for root in "$HOME/.pyenv/versions" /root/.pyenv/versions /usr/local/bin /usr/bin; do
        for p in "$root"/3.12*/bin/python3 "$root"/3.1[3-9]*/bin/python3 "$root"/python3.12 "$root"/python3.1[3-9]; do
            [ -x "$p" ] && candidates+=("$p")
        done
    done
    for c in "${candidates[@]}"; do
        local exe
        exe="$(command -v "$c" 2>/dev/null || true)"
        [ -z "$exe" ] && [ -x "$c" ] && exe="$c"
        [ -z "$exe" ] && continue
        # pyenv shims answer for versions that are not selected: ask the interpreter itself.
        if "$exe" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
            echo "$exe"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PY="$(find_python)" || {
        echo "mscabm needs Python >= 3.12 (Mesa 3.5 requires it) and none was found." >&2
        echo "Install one (e.g. 'pyenv install 3.12') or set MSCABM_PYTHON=/path/to/python3.12." >&2
        exit 2
    }
    echo "mscabm: creating $VENV with $("$PY" --version 2>&1) ($PY)"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

STAMP="$VENV/.mscabm-install-stamp"
NEWEST="$(find "$REPO/pyproject.toml" "$REPO/setup.py" "$REPO/cext" -newer "$STAMP" 2>/dev/null | head -n 1 || true)"
if [ ! -f "$STAMP" ] || [ -n "$NEWEST" ] || ! "$VENV/bin/python" -c 'import mscabm._rng' >/dev/null 2>&1; then
    echo "mscabm: installing the package and its dependencies ([$EXTRAS]) into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade --editable "$REPO[$EXTRAS]"
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
